"""How a training run that stops on an error exits: a corrupt image without skip_bad_examples.

  python -m tools.bench_exits [--single 20] [--two 3] [--fault 0,1] [--steps 4] [--timeout 900]
                              [--logs DIR] [--json]

Writes a tiny run in a temporary folder (64 jsonl examples, a SentencePiece tokenizer, a tiny
PaliGemma config of global batch 8), then runs `python -m trainers.train` on it --single times as
one process and --two times as two processes of 4 CPU devices each (gloo collectives, a
coordinator on localhost), one run at a time. The fault: before each run, the image of one
example of the second global batch is replaced by bytes that are not an image, on the rows that
process `--fault` reads in the two-process layout (rows 0-3: process 0, rows 4-7: process 1;
"both": one example in each; a comma list, e.g. `0,1`, takes its items in turn, run by run).
With 64 examples the first 6 batches (4 steps and 2 prefetched) read each example at most once,
so the other process never meets the corrupt one: the cause it prints is the one it was sent.

Per run: each process's exit (its code, or the signal that ended it, or "hang" if it still ran
after --timeout seconds and was killed; then its last log line is printed, to tell slow progress
on a loaded machine from a real hang), whether its log names the corrupt example (the message
and the example's jsonl line), the seconds until each process ended, and the seconds from the
cause's first appearance in a log to the last process's end ("exit after cause": how promptly
the run ends once the error is known). A log without the cause gets its first and last error
lines printed (the error that ended that run instead). Then the tally (counts per exit kind, runs
whose every process printed the cause, median and max seconds). The runs share a JAX compilation
cache (in the temporary folder), so only the first of each kind compiles the step.
"""
import argparse
import collections
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

from big_paligemma.data import input_pipeline
from configs import common
from tools import make_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAUSE = "Pre-processing failed for example"
EXAMPLES, BATCH = 64, 8
ERROR_LINE = re.compile(r"Error|Terminating process|stops: process|Check failed|Aborted|Killed")
CONFIG = '''
from configs import common
from big_paligemma import config as config_lib
import pp

def get_config(arg=None):
  args = config_lib.parse_arg(arg, data="", tokenizer="", steps=4)
  c = common.base_config()
  c.model = dict(preset=None, overrides={},
                 img=dict(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8, image_size=16),
                 llm=dict(vocab_size=1664, num_layers=2, num_heads=2, num_kv_heads=1, width=32,
                          mlp_dim=64, head_dim=16))
  c.tokenizer, c.input.data = args.tokenizer, {"jsonl": args.data}
  c.input.pp = pp.paligemma_train_pp(16, 12, "{prefix}", "suffix")
  c.input.batch_size, c.input.num_parallel = 8, 1
  c.total_steps, c.log_every = args.steps, 1
  return c
'''


def examples_read_only_by(process: int, n: int, batch: int = BATCH, processes: int = 2,
                          batches: int = 6, seed: int | None = None) -> list[int]:
  """The examples (jsonl line - 1) that, in the first `batches` global batches of a run on `n`
  examples with the configs' seed, only `process` of `processes` reads (rows
  [process * batch / processes, (process + 1) * batch / processes) of each batch), in the order
  of their first read."""
  seed = common.base_config().seed if seed is None else seed
  plan = input_pipeline._plan([n], [1.0], seed)  # pylint: disable=protected-access
  readers, first = collections.defaultdict(set), {}
  for position in range(batch * batches):
    _, index, _ = plan[position]
    readers[index].add(position % batch // (batch // processes))
    first.setdefault(index, position)
  return sorted((i for i, who in readers.items() if who == {process}), key=first.get)


def fault_examples(fault: str, n: int = EXAMPLES, batch: int = BATCH) -> list[int]:
  """The examples to corrupt for `fault` ("0", "1" or "both"): each the one at the first row of
  that process's part of the second global batch (one step runs before the failure)."""
  hosts = {"0": [0], "1": [1], "both": [0, 1]}[fault]
  plan = input_pipeline._plan([n], [1.0], common.base_config().seed)  # pylint: disable=protected-access
  picks = [plan[batch + h * batch // 2][1] for h in hosts]
  for h, index in zip(hosts, picks):
    if index not in examples_read_only_by(h, n, batch):
      raise ValueError(f"example {index} is read by both processes in the first batches of "
                       f"{n} examples; use more examples.")
  return picks


def write_images(root: str, corrupt: list[int], n: int = EXAMPLES) -> None:
  """(Re)writes root/images: example i's image, those of `corrupt` bytes that are not an image."""
  for i in range(n):
    path = os.path.join(root, "images", f"{i}.png")
    if i in corrupt:
      with open(path, "wb") as f:
        f.write(b"this is not an image")
    else:
      Image.new("RGB", (12, 8), (i % 13 * 19, 100, 200 - i % 7 * 10)).save(path)


def write_run(root: str, corrupt: list[int], n: int = EXAMPLES) -> str:
  """Data (the images of `corrupt` not images), tokenizer and config under root -> the --config
  spec."""
  os.makedirs(os.path.join(root, "images"))
  write_images(root, corrupt, n)
  with open(os.path.join(root, "data.jsonl"), "w") as f:
    f.writelines(json.dumps({"image": f"images/{i}.png", "prefix": "caption en",
                             "suffix": f"image {i}", "id": i}) + "\n" for i in range(n))
  os.makedirs(os.path.join(root, "tok"))
  tok = os.path.join(root, "tok", "paligemma.model")
  make_tokenizer.make_paligemma_tokenizer(tok)
  with open(os.path.join(root, "config.py"), "w") as f:
    f.write(CONFIG)
  return f"{root}/config.py:data={root}/data.jsonl,tokenizer={tok}"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _exit_kind(code: int | None) -> str:
  if code is None:
    return "hang"
  return f"rc {code}" if code >= 0 else signal.Signals(-code).name


def _error_lines(text: str) -> list[str]:
  """The first and the last line of a log that look like an error ([] if none)."""
  lines = [line.strip()[:200] for line in text.splitlines() if ERROR_LINE.search(line)]
  return lines[:1] + lines[-1:] if len(lines) > 1 else lines


def run_once(spec: str, workdir: str, processes: int, steps: int, timeout: float,
             jax_cache: str, logs_dir: str | None = None, names: tuple[str, ...] = ()) -> dict:
  """One run -> {"exits": [kind per process], "cause": [bool per process], "seconds": float,
  "ended_s": [seconds until each process ended], "exit_after_cause_s": seconds from the cause's
  first appearance in a log to the last end (None if it never appeared)}. A log has the cause if
  it holds the corrupt-image message and one of `names` (the corrupt examples' ids, e.g.
  "data.jsonl:9"; a process stopped by a peer prints the peer's error, so its one example)."""
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
             JAX_COMPILATION_CACHE_DIR=jax_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  flags = ["--config", f"{spec},steps={steps}", "--workdir", workdir]
  if processes > 1:
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    flags.append(f"--config.mesh=[('data',{processes}),('fsdp',4),('tensor',1)]")
    address = f"localhost:{_free_port()}"
  paths = [os.path.join(logs_dir or workdir + "_logs", f"{os.path.basename(workdir)}_{i}.log")
           for i in range(processes)]
  os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
  start = time.monotonic()
  procs = []
  for i, path in enumerate(paths):
    multi = [f"--coordinator_address={address}", f"--num_processes={processes}",
             f"--process_id={i}"] if processes > 1 else []
    with open(path, "w") as log:  # the child keeps its own descriptor
      procs.append(subprocess.Popen([sys.executable, "-m", "trainers.train", *flags, *multi],
                                    env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
  ended, cause_at = [None] * processes, None
  while None in ended and time.monotonic() - start < timeout:
    time.sleep(0.1)
    now = time.monotonic() - start
    for i, proc in enumerate(procs):
      if ended[i] is None and proc.poll() is not None:
        ended[i] = now
    if cause_at is None and any(CAUSE in _read(path) for path in paths):
      cause_at = now
  seconds = time.monotonic() - start
  codes = [p.poll() for p in procs]
  for proc in procs:
    if proc.poll() is None:
      proc.kill()
    proc.wait()
  texts = [_read(path) for path in paths]
  causes = [CAUSE in text and any(name in text for name in names or ("",)) for text in texts]
  run = {"exits": [_exit_kind(c) for c in codes], "cause": causes, "seconds": seconds,
         "ended_s": [None if e is None else round(e, 1) for e in ended],
         "exit_after_cause_s": None if cause_at is None or None in ended else
         round(max(ended) - cause_at, 1)}
  if None in codes:  # where a "hang" stood: slow progress or a real hang
    run["last_lines"] = [([""] + [line for line in text.splitlines() if line.strip()])[-1][:200]
                         for text in texts]
  if not all(causes):  # what ended the run instead
    run["error_lines"] = [_error_lines(text) for text in texts]
  return run


def _read(path: str) -> str:
  with open(path, errors="replace") as f:
    return f.read()


def tally(runs: list[dict]) -> dict:
  """Counts per exit kind (over processes), runs with the cause in every log, seconds (the run;
  from the cause's first appearance to the last exit)."""
  def median_max(values):
    values = [v for v in values if v is not None]
    return [round(statistics.median(values), 1), round(max(values), 1)] if values else None
  return {"runs": len(runs),
          "exits": dict(collections.Counter(e for r in runs for e in r["exits"])),
          "cause_in_every_log": sum(all(r["cause"]) for r in runs),
          "seconds_median_max": median_max([r["seconds"] for r in runs]),
          "exit_after_cause_s_median_max": median_max([r["exit_after_cause_s"] for r in runs])}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--single", type=int, default=20, help="one-process runs")
  parser.add_argument("--two", type=int, default=3, help="two-process runs")
  parser.add_argument("--fault", default="0",
                      help="whose rows hold the corrupt image: 0, 1, both, or a comma list of "
                           "them taken in turn by the runs (the one-process runs too)")
  parser.add_argument("--steps", type=int, default=4, help="total_steps of the run")
  parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is a hang")
  parser.add_argument("--logs", default=None, help="a folder to keep each process's log in")
  parser.add_argument("--json", action="store_true", help="print the tally as JSON too")
  args = parser.parse_args(argv)
  faults = args.fault.split(",")
  for fault in faults:
    fault_examples(fault)  # a bad --fault fails here, before any run
  results = {}
  with tempfile.TemporaryDirectory() as root:
    files = os.path.join(root, "files")
    spec = write_run(files, [])
    for processes, count in ((1, args.single), (2, args.two)):
      if not count:
        continue
      runs = []
      for trial in range(count):
        fault = faults[trial % len(faults)]
        corrupt = fault_examples(fault)
        write_images(files, corrupt)
        run = run_once(spec, os.path.join(root, f"work_{processes}_{trial}"), processes,
                       args.steps, args.timeout, os.path.join(root, "jax_cache"), args.logs,
                       names=tuple(f"data.jsonl:{i + 1}" for i in corrupt))
        run["fault"] = fault
        runs.append(run)
        print(f"{processes} process(es), run {trial + 1}/{count}, fault on {fault}: exits "
              f"{run['exits']}, cause printed {run['cause']}, {run['seconds']:.1f} s (ended at "
              f"{run['ended_s']} s; exit after cause {run['exit_after_cause_s']} s)", flush=True)
        for i, line in enumerate(run.get("last_lines", [])):
          print(f"  process {i}'s last line: {line}", flush=True)
        for i, lines in enumerate(run.get("error_lines", [])):
          print(f"  process {i}'s first and last error lines: {lines}", flush=True)
      results[f"{processes}_process"] = tally(runs)
      for fault in faults if len(faults) > 1 else []:
        results[f"{processes}_process_fault_{fault}"] = tally(
            [r for r in runs if r["fault"] == fault])
      for key, value in results.items():
        if key.startswith(f"{processes}_process"):
          print(f"{key}: {value}", flush=True)
  if args.json:
    print(json.dumps(results))


if __name__ == "__main__":
  main()
