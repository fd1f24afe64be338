"""The plan against the chip: runs the train step that `tools.plan --topology local` compiles, on
this machine's devices, and sets the measured peak memory and step time beside the plan's.

  XLA_PYTHON_CLIENT_MEM_FRACTION=.95 python -m tools.bench_plan \\
      --config configs/transfer/docvqa.py:res=224,model=pg2_3b --search --json plan_vs_chip.json
  python -m tools.bench_plan --config ... --batch 64 --steps 10

What runs is what `tools.plan` compiled (`plan.plan_train(..., keep=True)`: the trainer's model,
optimizer, mesh over the local devices, shardings, donation and `jit_train_step`, the backend's
defaults: on a GPU or TPU bfloat16, scanned and rematerialised layers), on a random init of the
config's model (`model_init` is not read) and one synthetic batch of the pp spec's shapes (random
pixels in [-1, 1] and tokens; the first half of the text is the prefix, the second the suffix
that the loss is on), `--warmup` untimed steps then `--steps` timed ones (each waited for).

`--search`: the largest global batch (a multiple of the devices) that the plan says fits the
device's memory limit (`bytes_limit` of its memory_stats: on a GPU jax takes 75% of the memory
unless XLA_PYTHON_CLIENT_MEM_FRACTION says otherwise), found as `tools.plan --search` finds it
(`plan.largest_batch`: a line through the compiled totals, ~4-6 compiles).

Reported: the plan (total per device, temporaries, roofline step and MFU; compiled in N s); the
device's peak bytes in use (memory_stats' peak_bytes_in_use: once after the state and batch are
made, once after the steps, so the second is the step's peak where it is larger), the median step
time, the MFU it gives (the trainer's model FLOPs over step time x trainers/logging.PEAK_FLOPS)
and the loss of the first and last steps (finite, or the run stops). A backend that reports no
memory (the CPU) gives step times alone. `--json FILE` writes every figure with the date, device
and jax version.

It imports no TensorFlow, TFDS, grain or pycocoevalcap (tests/tools/test_bench_plan.py runs it
with them blocked), so it runs on a machine with JAX alone. On the lent GPU machines (Python 3.12,
JAX with CUDA, no ml_collections, rapidfuzz or google-crc32c), here in the repository's root:
  echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl ml-collections==1.1.0 rapidfuzz==3.14.6 \
    google-crc32c==1.9.0
and there (carry .whl; 3.2 MB):
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \
  PYTHONPATH=/tmp/site:. XLA_PYTHON_CLIENT_MEM_FRACTION=.95 PYTHONUNBUFFERED=1 python3 -m \
    tools.bench_plan --config configs/transfer/docvqa.py:res=224,model=pg2_3b --search \
    --search_budget_s 300 --json $OUT/plan_vs_chip.json
(`--search_budget_s`: no search compile starts after 5 minutes, so the run fits one 10-minute
command of the device's 15 minutes.)
"""
import argparse
import datetime
import json
import math
import statistics
import sys
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma import config as config_lib
from big_paligemma import fs
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from tools import plan
from trainers import state as state_lib
from trainers import step as step_lib
from trainers import train as train_lib

GIB = 2**30


def synthetic_batch(shape: plan.BatchShape, batch_size: int, vocab: int, sharding,
                    seed: int = 0) -> dict[str, jax.Array]:
  """A global batch of `shape` (plan.abstract_batch's fields and dtypes): images uniform in
  [-1, 1], tokens uniform in [1, vocab), mask_ar 0 on the first half of the text (the prefix) and 1
  on the rest, mask_loss 1 on the suffix, mask_input 1 everywhere."""
  rng = np.random.default_rng(seed)
  half = shape.text_len // 2
  out = {}
  for name, leaf in plan.abstract_batch(shape, batch_size, sharding).items():
    if name in ("image", "images"):
      value = rng.uniform(-1, 1, leaf.shape).astype(np.float32)
    elif name == "text":
      value = rng.integers(1, vocab, leaf.shape, dtype=np.int32)
    elif name in ("mask_ar", "mask_loss"):
      value = np.zeros(leaf.shape, np.int32)
      value[:, half:] = 1
    else:
      value = np.ones(leaf.shape, np.int32)
    out[name] = jax.device_put(jnp.asarray(value, leaf.dtype), sharding)
  return out


def peak_bytes(devices: Sequence[jax.Device]) -> float | None:
  """The largest peak_bytes_in_use of `devices` (None where the backend reports none)."""
  peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in devices]
  peaks = [p for p in peaks if p is not None]
  return float(max(peaks)) if peaks else None


def run_steps(config, topo: plan.Topology, report: plan.Report, steps: int,
              warmup: int) -> dict[str, Any]:
  """Runs `report.executable` (the planned step) `warmup` + `steps` times on a random init and a
  synthetic batch: the measured figures."""
  if report.executable is None:
    raise plan.PlanError("the report keeps no compiled program (plan_train(..., keep=True)).")
  mesh = train_lib.build_mesh(config, topo.devices)
  model_cfg = build.model_config(config, topo.devices[0].platform)
  schedule = train_lib.make_plan(config, plan.STAND_IN_STEPS_PER_EPOCH * config.input.batch_size)
  tx, _ = train_lib.build_optimizer(config, model_cfg, schedule)
  _, shardings = train_lib.abstract_state(config, model_cfg, tx, mesh)
  params = build.init_params(model_cfg, build.init_rng(config.seed), shardings.params)
  state = state_lib.create_state(params, tx, config.seed, shardings,
                                 state_lib.lora_settings(config))
  shape = plan.batch_shape(config.input.pp, "config.input.pp")
  vocab = getattr(model_cfg, "llm", model_cfg).vocab_size
  batch = synthetic_batch(shape, report.batch_size, vocab, sharding_lib.batch_sharding(mesh),
                          config.seed)
  jax.block_until_ready((state, batch))
  before = peak_bytes(topo.devices)
  times, losses = [], []
  for i in range(warmup + steps):
    start = time.perf_counter()
    state, metrics = report.executable(state, batch)
    metrics = jax.device_get(metrics)
    elapsed = time.perf_counter() - start
    step_lib.check_finite(i, metrics)
    losses.append(float(metrics["loss"]) if "loss" in metrics else math.nan)
    if i >= warmup:
      times.append(elapsed)
    print(f"  step {i}{' (warm-up)' if i < warmup else ''}: {elapsed:.3f} s, loss "
          f"{losses[-1]:.4f}", flush=True)
  step_s = statistics.median(times)
  peak = topo.chip.peak_flops
  return dict(step_s=step_s, step_times_s=times, loss_first=losses[0], loss_last=losses[-1],
              peak_bytes_before_steps=before, peak_bytes=peak_bytes(topo.devices),
              mfu=report.model_flops / (step_s * peak) if peak and report.model_flops else None)


def planned(report: plan.Report) -> dict[str, Any]:
  return dict(total_bytes=report.total, temporaries_bytes=report.temporaries,
              params_bytes=report.params, opt_state_bytes=report.opt_state,
              batch_bytes=report.batch, compiled_flops=report.compiled_flops,
              model_flops=report.model_flops, roofline_s=report.roofline,
              step_s=report.step_s, mfu=report.mfu, compile_s=report.compile_s,
              memory_limit_bytes=report.chip.hbm_bytes, fits=report.fits)


def comparison(plan_fig: dict[str, Any], measured: dict[str, Any]) -> list[str]:
  """The lines that set the measured figures beside the planned ones."""
  lines = []
  peak = measured["peak_bytes"]
  if peak is None:
    lines.append("  peak memory: this backend reports none (planned "
                 f"{plan_fig['total_bytes'] / GIB:.2f} GiB a device)")
  else:
    lines.append(f"  peak memory a device: measured {peak / GIB:.2f} GiB (after making the state "
                 f"and batch {measured['peak_bytes_before_steps'] / GIB:.2f}), planned "
                 f"{plan_fig['total_bytes'] / GIB:.2f} GiB: measured / planned "
                 f"{peak / plan_fig['total_bytes']:.3f}")
  step = f"  step: measured {measured['step_s']:.4f} s (median of {len(measured['step_times_s'])})"
  if plan_fig["step_s"]:
    step += (f", roofline {plan_fig['step_s']:.4f} s: measured / roofline "
             f"{measured['step_s'] / plan_fig['step_s']:.2f}")
  lines.append(step)
  if measured["mfu"] is not None:
    mfu = f"  MFU: measured {100 * measured['mfu']:.1f}%"
    if plan_fig["mfu"] is not None:
      mfu += f", roofline estimate {100 * plan_fig['mfu']:.1f}%"
    lines.append(mfu)
  lines.append(f"  loss: step 0 {measured['loss_first']:.4f}, last {measured['loss_last']:.4f}")
  return lines


def parse_flags(argv: Sequence[str]):
  parser = argparse.ArgumentParser(prog="python -m tools.bench_plan", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", required=True, help="FILE.py[:arg], e.g. docvqa.py:res=224")
  parser.add_argument("--batch", type=int, default=None,
                      help="global batch (default: the config's input.batch_size)")
  parser.add_argument("--search", action="store_true",
                      help="the largest global batch that the plan says fits (see above)")
  parser.add_argument("--start", type=int, default=None,
                      help="--search's first global batch (default 8 a device; then twice it)")
  parser.add_argument("--search_budget_s", type=float, default=None,
                      help="start no --search compile after this many seconds: run the largest "
                      "batch known to fit by then (for a run on a lent machine's time)")
  parser.add_argument("--steps", type=int, default=8)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--json", default=None, help="write every figure to this file")
  flags, rest = parser.parse_known_args(argv)
  if flags.batch and flags.search:
    parser.error("--batch and --search together: give one.")
  if flags.start and not flags.search:
    parser.error("--start is --search's first batch: give --search too.")
  if flags.steps < 1 or flags.warmup < 0:
    parser.error(f"--steps {flags.steps} / --warmup {flags.warmup}: need steps >= 1, warmup >= 0.")
  try:
    return flags, config_lib.parse_overrides(rest)
  except config_lib.ConfigError as e:
    parser.error(str(e))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  flags, overrides = parse_flags(sys.argv[1:] if argv is None else argv)
  config = config_lib.load_config(flags.config, overrides)
  topo = plan.topology("local")
  try:
    if flags.search:
      print(f"Searching the largest global batch that fits {topo.chip.name}:", flush=True)
      tried: list[plan.Report] = []
      report = plan.largest_batch(config, topo, start=flags.start, keep=True, tried=tried,
                                  budget_s=flags.search_budget_s)
      print(plan.search_line(report, tried), flush=True)
    else:
      report = plan.plan_train(config, topo, flags.batch, keep=True)
  except plan.PlanError as e:
    raise SystemExit(f"error: {e}") from None
  print(plan.format_report(report), flush=True)
  if not report.fits:
    raise SystemExit(f"error: the plan says global batch {report.batch_size} does not fit; "
                     "use --search or a smaller --batch.")
  measured = run_steps(config, topo, report, flags.steps, flags.warmup)
  plan_fig = planned(report)
  print("\n".join(comparison(plan_fig, measured)), flush=True)
  result = dict(date=datetime.date.today().isoformat(), device=topo.chip.name,
                devices=len(topo.devices), jax=jax.__version__, config=flags.config,
                overrides=[f"{k}={v}" for k, v in overrides], batch_size=report.batch_size,
                mesh=report.mesh, planned=plan_fig, measured=measured)
  if flags.json:
    fs.write_bytes(flags.json, json.dumps(result, indent=1).encode())
  return result


if __name__ == "__main__":
  main()
