"""Records each host reads per training step, at 1, 2, 4, 8 simulated hosts: the tf.data pipeline
before grain (every host reads the whole global stream) against today's (each host its rows).

  python -m tools.bench_input [--hosts 1,2,4,8] [--batch 64] [--steps 30] [--side 32]
      [--pp_res 16] [--json]

Writes a jsonl source of --examples images in a temporary folder, every image a BMP file of the
same size, then for each pipeline and host count runs host 0 of that many in a fresh process
(`process_index=0, process_count=n`): after --warmup steps it counts the bytes the process reads
from files (`rchar` of /proc/self/io) over --steps steps; bytes / image size = records read (the
jsonl lines are parsed before; the tf.data shuffle buffer is one global batch, so it reads as it
goes). Today's pipeline also reports its own counter
(`Iterator.records_read`). The examples/s of host 0 over the same steps (pp: decode, resize to
--pp_res, value range) are a rough figure: the runs alternate before/after but are separate
processes (repeat a host count, e.g. --hosts 1,1,1, for several trials). The pipeline before is
the module at --before_rev in this repository's git history, run as it was.
"""
import argparse
import importlib.util
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


def _pipeline_module(which: str, rev: str):
  """This checkout's input_pipeline ("after"), or the one at git `rev` ("before")."""
  if which == "after":
    from big_paligemma.data import input_pipeline  # pylint: disable=import-outside-toplevel
    return input_pipeline
  source = subprocess.run(
      ["git", "-C", _REPO, "show", f"{rev}:big_paligemma/data/input_pipeline.py"], check=True,
      capture_output=True, text=True).stdout
  path = os.path.join(tempfile.mkdtemp(), "input_pipeline_before.py")
  with open(path, "w") as f:
    f.write(source)
  spec = importlib.util.spec_from_file_location("input_pipeline_before", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def measure(which: str, path: str, image_bytes: int, hosts: int, batch: int, steps: int,
            warmup: int, rev: str, pp_res: int = 16) -> dict:
  """Host 0 of `hosts`: records read per step (from bytes read) and, after, the counter."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  ip = _pipeline_module(which, rev)

  def pp(ex):
    image = tf.io.decode_image(ex["image"], channels=3, expand_animations=False)
    image = tf.image.resize(image, [pp_res, pp_res], antialias=True)
    return {"image": image / 127.5 - 1.0, "id": ex["id"]}

  it = ip.make_train_iterator({"jsonl": path}, pp, global_batch_size=batch, seed=0,
                              shuffle_buffer=batch, process_index=0, process_count=hosts,
                              num_parallel=4)  # before: reads as it goes (buffer < an epoch)
  for _ in range(warmup):
    next(it)
  start, counted, clock = _read_bytes(), getattr(it, "records_read", None), time.perf_counter()
  for _ in range(steps):
    next(it)
  seconds = time.perf_counter() - clock
  result = {"pipeline": which, "hosts": hosts, "local_batch": batch // hosts,
            "records_per_step": (_read_bytes() - start) / image_bytes / steps,
            "examples_per_s": steps * (batch // hosts) / seconds}
  if counted is not None:
    result["counted_per_step"] = (it.records_read - counted) / steps
  if hasattr(it, "close"):
    it.close()
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--hosts", default="1,2,4,8")
  parser.add_argument("--batch", type=int, default=64, help="global batch size")
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--examples", type=int, default=1000)
  parser.add_argument("--side", type=int, default=32, help="image side in pixels")
  parser.add_argument("--pp_res", type=int, default=16, help="the pp's output side")
  parser.add_argument("--before_rev", default=BEFORE_REV)
  parser.add_argument("--json", action="store_true")
  parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: 'which,hosts,path,bytes'
  args = parser.parse_args(argv)
  if args.one:
    which, hosts, path, image_bytes = args.one.split(",")
    print(json.dumps(measure(which, path, int(image_bytes), int(hosts), args.batch, args.steps,
                             args.warmup, args.before_rev, args.pp_res)))
    return
  rows = []
  with tempfile.TemporaryDirectory() as root:
    path, image_bytes = write_source(root, args.examples, args.side)
    for hosts in [int(h) for h in args.hosts.split(",")]:
      for which in ("before", "after"):  # alternated, so load drifts hit both alike
        one = f"--one={which},{hosts},{path},{image_bytes}"
        flags = [one, f"--batch={args.batch}", f"--steps={args.steps}",
                 f"--warmup={args.warmup}", f"--before_rev={args.before_rev}",
                 f"--pp_res={args.pp_res}"]
        out = subprocess.run([sys.executable, "-m", "tools.bench_input", *flags], cwd=_REPO,
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
  if args.json:
    print(json.dumps(rows))
    return
  print(f"global batch {args.batch}, {args.steps} steps after {args.warmup}, host 0 of n; "
        "records read per host per step")
  print("| hosts | local batch | before (tf.data, whole stream) | after (grain) | after, counter "
        "| host 0 examples/s before / after |")
  print("|---|---|---|---|---|---|")
  for before, after in zip(rows[::2], rows[1::2]):
    hosts = after["hosts"]
    print(f"| {hosts} | {after['local_batch']} | {before['records_per_step']:.1f} | "
          f"{after['records_per_step']:.1f} | {after['counted_per_step']:.1f} | "
          f"{before['examples_per_s']:.0f} / {after['examples_per_s']:.0f} |")


if __name__ == "__main__":
  main()
