"""Input pipeline benchmark: records each host reads per step and host 0's examples/s, at 1, 2, 4,
8 simulated hosts, for this checkout's pipeline against earlier ones from the git history.

  python -m tools.bench_input [--hosts 1,2,4,8] [--revs 7efdd21] [--batch 64] [--steps 30]
      [--warmup 5] [--examples 1000] [--side 32] [--pp_res 16] [--num_parallel 4] [--json]

Writes a jsonl source of --examples images in a temporary folder, every image a BMP file of the
same size, then for each host count (repeat one for several trials, e.g. --hosts 1,1,1) runs
host 0 of that many (`process_index=0, process_count=n`) once per pipeline, alternated (each rev
of --revs, then this checkout), each in a fresh process: after --warmup steps it counts the bytes
the process reads from files (`rchar` of /proc/self/io) over --steps steps; bytes / image size =
records read (the jsonl lines are parsed before; a pipeline with a shuffle buffer gets one global
batch, so it reads as it goes). This checkout's pipeline also reports its own counter
(`Iterator.records_read`). Examples/s: host 0's local batches over the same steps (pp: decode,
resize to --pp_res antialiased, value range; `num_parallel` --num_parallel); "x" columns are this
checkout's examples/s over each rev's in the same trial, the ratio to trust on a loaded machine.
A rev's pipeline runs as it was: its `big_paligemma` package (`git archive`) is first on the path.
Default rev: 7efdd21, the last tf.data pipeline (every host reads the whole global stream).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

BEFORE_REV = "7efdd21"  # the last commit with the tf.data whole-stream pipeline
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_source(root: str, n: int, side: int = 32) -> tuple[str, int]:
  """n BMP images of side x side pixels and a jsonl naming them -> (jsonl path, bytes an image)."""
  rng = np.random.default_rng(0)
  os.makedirs(os.path.join(root, "images"), exist_ok=True)
  with open(os.path.join(root, "data.jsonl"), "w") as f:
    for i in range(n):
      pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
      Image.fromarray(pixels).save(os.path.join(root, "images", f"{i}.bmp"))
      row = {"image": f"images/{i}.bmp", "prefix": "p", "suffix": "s", "id": i}
      f.write(json.dumps(row) + "\n")
  return os.path.join(root, "data.jsonl"), os.path.getsize(os.path.join(root, "images", "0.bmp"))


def _read_bytes() -> int:
  with open("/proc/self/io") as f:
    return int(next(line for line in f if line.startswith("rchar")).split()[1])


def measure(path: str, image_bytes: int, hosts: int, batch: int, steps: int, warmup: int,
            pp_res: int = 16, num_parallel: int = 4) -> dict:
  """Host 0 of `hosts` with the importable pipeline: records read per step (from bytes read),
  examples/s and, where the pipeline has one, its own counter."""
  import inspect  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from big_paligemma.data import input_pipeline as ip  # pylint: disable=import-outside-toplevel

  def pp(ex):
    image = tf.io.decode_image(ex["image"], channels=3, expand_animations=False)
    image = tf.image.resize(image, [pp_res, pp_res], antialias=True)
    return {"image": image / 127.5 - 1.0, "id": ex["id"]}

  kwargs = {}
  if "shuffle_buffer" in inspect.signature(ip.make_train_iterator).parameters:
    kwargs["shuffle_buffer"] = batch  # reads as it goes (a buffer smaller than an epoch)
  it = ip.make_train_iterator({"jsonl": path}, pp, global_batch_size=batch, seed=0,
                              process_index=0, process_count=hosts, num_parallel=num_parallel,
                              **kwargs)
  for _ in range(warmup):
    next(it)
  start, counted, clock = _read_bytes(), getattr(it, "records_read", None), time.perf_counter()
  for _ in range(steps):
    next(it)
  seconds = time.perf_counter() - clock
  result = {"hosts": hosts, "local_batch": batch // hosts,
            "records_per_step": (_read_bytes() - start) / image_bytes / steps,
            "examples_per_s": steps * (batch // hosts) / seconds}
  if counted is not None:
    result["counted_per_step"] = (it.records_read - counted) / steps
  if hasattr(it, "close"):
    it.close()
  return result


def _tree(rev: str, root: str) -> str:
  """A folder holding `rev`'s big_paligemma package (git archive)."""
  out = os.path.join(root, f"rev_{rev}")
  os.makedirs(out)
  archive = subprocess.run(["git", "-C", _REPO, "archive", rev, "big_paligemma"], check=True,
                           capture_output=True).stdout
  subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
  return out


def _run_one(tree: str, path: str, image_bytes: int, hosts: int, args) -> dict:
  """`measure` in a fresh process whose `big_paligemma` is the one in `tree`."""
  flags = [f"--one={hosts},{path},{image_bytes}", f"--batch={args.batch}", f"--steps={args.steps}",
           f"--warmup={args.warmup}", f"--pp_res={args.pp_res}",
           f"--num_parallel={args.num_parallel}"]
  env = {**os.environ, "PYTHONPATH": tree}
  command = [sys.executable, "-P", os.path.abspath(__file__), *flags]  # -P: no tools/ on the path
  out = subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True,
                       text=True).stdout
  return {**json.loads(out.strip().splitlines()[-1]), "load": os.getloadavg()[0]}


def _table(trials: list[dict], revs: list[str]) -> list[str]:
  head = ["hosts", "local batch"] + [f"records/step {r}" for r in revs] + [
      "records/step now", "now, counter"] + [f"ex/s {r}" for r in revs] + ["ex/s now"] + [
          f"now x {r}" for r in revs] + ["load"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for t in trials:
    now = t["now"]
    cells = [now["hosts"], now["local_batch"]] + [f"{t[r]['records_per_step']:.1f}" for r in revs]
    cells += [f"{now['records_per_step']:.1f}", f"{now['counted_per_step']:.1f}"]
    cells += [f"{t[r]['examples_per_s']:.0f}" for r in revs] + [f"{now['examples_per_s']:.0f}"]
    cells += [f"{now['examples_per_s'] / t[r]['examples_per_s']:.2f}" for r in revs]
    lines.append("| " + " | ".join(str(c) for c in cells + [f"{now['load']:.1f}"]) + " |")
  return lines


def _medians(trials: list[dict], revs: list[str]) -> list[str]:
  lines = []
  for hosts in sorted({t["now"]["hosts"] for t in trials}):
    mine = [t for t in trials if t["now"]["hosts"] == hosts]
    for r in revs:
      ratios = [t["now"]["examples_per_s"] / t[r]["examples_per_s"] for t in mine]
      lines.append(f"{hosts} host(s): now / {r} examples/s, median of {len(ratios)} trials: "
                   f"{np.median(ratios):.2f}x")
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--hosts", default="1,2,4,8")
  parser.add_argument("--revs", default=BEFORE_REV, help="earlier pipelines: git revisions")
  parser.add_argument("--batch", type=int, default=64, help="global batch size")
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--examples", type=int, default=1000)
  parser.add_argument("--side", type=int, default=32, help="image side in pixels")
  parser.add_argument("--pp_res", type=int, default=16, help="the pp's output side")
  parser.add_argument("--num_parallel", type=int, default=4, help="pp calls at a time")
  parser.add_argument("--json", action="store_true")
  parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: 'hosts,path,bytes'
  args = parser.parse_args(argv)
  if args.one:
    hosts, path, image_bytes = args.one.split(",")
    print(json.dumps(measure(path, int(image_bytes), int(hosts), args.batch, args.steps,
                             args.warmup, args.pp_res, args.num_parallel)))
    return
  revs = [r for r in args.revs.split(",") if r]
  trials = []
  with tempfile.TemporaryDirectory() as root:
    path, image_bytes = write_source(root, args.examples, args.side)
    trees = {**{r: _tree(r, root) for r in revs}, "now": _REPO}
    for hosts in [int(h) for h in args.hosts.split(",")]:
      trials.append({name: _run_one(tree, path, image_bytes, hosts, args)  # alternated
                     for name, tree in trees.items()})
  if args.json:
    print(json.dumps(trials))
    return
  print(f"global batch {args.batch}, {args.steps} steps after {args.warmup}, host 0 of n, "
        f"{args.side} px images -> {args.pp_res} px, num_parallel {args.num_parallel}; "
        "records read per host per step, host 0's examples/s")
  print("\n".join(_table(trials, revs) + [""] + _medians(trials, revs)))


if __name__ == "__main__":
  main()
