"""How a training run that stops on an error exits: a corrupt image without skip_bad_examples.

  python -m tools.bench_exits [--single 20] [--two 3] [--steps 4] [--timeout 300] [--json]

Writes a tiny run in a temporary folder (10 jsonl examples, one image replaced by bytes that are
not an image, a SentencePiece tokenizer, a tiny PaliGemma config of batch 8), then runs
`python -m trainers.train` on it --single times as one process and --two times as two processes
of 4 CPU devices each (gloo collectives, a coordinator on localhost), one run at a time. Per run:
each process's exit (its code, or the signal that ended it, or "hang" if it still ran after
--timeout seconds and was killed; then its last log line is printed, to tell slow progress on a
loaded machine from a real hang), whether its log names the corrupt example, and the seconds
until the last process ended. Prints one line per run, then the tally (counts per exit kind,
runs whose every process printed the cause, median and max seconds). The runs share a JAX
compilation cache (in the temporary folder), so only the first of each kind compiles the step.
"""
import argparse
import collections
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

from tools import make_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAUSE = "Pre-processing failed for example"
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


def write_run(root: str, corrupt: int = 3, n: int = 10) -> str:
  """Data (image `corrupt` not an image), tokenizer and config under root -> the --config spec."""
  os.makedirs(os.path.join(root, "images"))
  with open(os.path.join(root, "data.jsonl"), "w") as f:
    for i in range(n):
      Image.new("RGB", (12, 8), (20 * i, 100, 200 - 10 * i)).save(
          os.path.join(root, "images", f"{i}.png"))
      f.write(json.dumps({"image": f"images/{i}.png", "prefix": "caption en",
                          "suffix": f"image {i}", "id": i}) + "\n")
  with open(os.path.join(root, "images", f"{corrupt}.png"), "wb") as f:
    f.write(b"this is not an image")
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


def run_once(spec: str, workdir: str, processes: int, steps: int, timeout: float,
             jax_cache: str, logs_dir: str | None = None) -> dict:
  """One run -> {"exits": [kind per process], "cause": [bool per process], "seconds": float}."""
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
             JAX_COMPILATION_CACHE_DIR=jax_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  flags = ["--config", f"{spec},steps={steps}", "--workdir", workdir]
  if processes > 1:
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    flags.append(f"--config.mesh=[('data',{processes}),('fsdp',4),('tensor',1)]")
    address = f"localhost:{_free_port()}"
  logs = [tempfile.TemporaryFile("w+") if logs_dir is None else
          open(os.path.join(logs_dir, f"{os.path.basename(workdir)}_{i}.log"), "w+")
          for i in range(processes)]
  start = time.monotonic()
  procs = []
  for i, log in enumerate(logs):
    multi = [f"--coordinator_address={address}", f"--num_processes={processes}",
             f"--process_id={i}"] if processes > 1 else []
    procs.append(subprocess.Popen([sys.executable, "-m", "trainers.train", *flags, *multi],
                                  env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
  while any(p.poll() is None for p in procs) and time.monotonic() - start < timeout:
    time.sleep(0.1)
  seconds = time.monotonic() - start
  codes = [p.poll() for p in procs]
  for proc in procs:
    if proc.poll() is None:
      proc.kill()
    proc.wait()
  causes, last_lines = [], []
  for log in logs:
    log.seek(0)
    text = log.read()
    causes.append(CAUSE in text)
    last_lines.append(([""] + [line for line in text.splitlines() if line.strip()])[-1][:200])
    log.close()
  run = {"exits": [_exit_kind(c) for c in codes], "cause": causes, "seconds": seconds}
  if None in codes:  # where a "hang" stood: slow progress or a real hang
    run["last_lines"] = last_lines
  return run


def tally(runs: list[dict]) -> dict:
  """Counts per exit kind (over processes), runs with the cause in every log, seconds."""
  seconds = [r["seconds"] for r in runs]
  return {"runs": len(runs),
          "exits": dict(collections.Counter(e for r in runs for e in r["exits"])),
          "cause_in_every_log": sum(all(r["cause"]) for r in runs),
          "median_s": round(statistics.median(seconds), 1) if runs else None,
          "max_s": round(max(seconds), 1) if runs else None}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--single", type=int, default=20, help="one-process runs")
  parser.add_argument("--two", type=int, default=3, help="two-process runs")
  parser.add_argument("--steps", type=int, default=4, help="total_steps of the run")
  parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is a hang")
  parser.add_argument("--logs", default=None, help="a folder to keep each process's log in")
  parser.add_argument("--json", action="store_true", help="print the tally as JSON too")
  args = parser.parse_args(argv)
  results = {}
  with tempfile.TemporaryDirectory() as root:
    spec = write_run(os.path.join(root, "files"))
    for processes, count in ((1, args.single), (2, args.two)):
      runs = []
      for trial in range(count):
        run = run_once(spec, os.path.join(root, f"work_{processes}_{trial}"), processes,
                       args.steps, args.timeout, os.path.join(root, "jax_cache"), args.logs)
        runs.append(run)
        print(f"{processes} process(es), run {trial + 1}/{count}: exits {run['exits']}, cause "
              f"printed {run['cause']}, {run['seconds']:.1f} s", flush=True)
        for i, line in enumerate(run.get("last_lines", [])):
          print(f"  process {i}'s last line: {line}", flush=True)
      results[f"{processes}_process"] = tally(runs)
      print(f"{processes} process(es): {results[f'{processes}_process']}", flush=True)
  if args.json:
    print(json.dumps(results))


if __name__ == "__main__":
  main()
