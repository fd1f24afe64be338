"""Trains a PaliGemma or Gemma 3 transfer: `python -m trainers.train --config FILE[:arg] --workdir DIR`.

  python -m trainers.train --config configs/transfer/docvqa.py:res=448 --workdir /tmp/docvqa \
      --config.optim.lr=2e-5 --config.total_epochs=3

Re-running the same command on the same workdir resumes from the last complete checkpoint
(params, optimizer state, step, rng and the data iterator's position), bit for bit. With
config.lora the run trains adapters on frozen params and, at the end, also writes the merged
weights to workdir/merged (a checkpoint dir whose state is {"params": merged}: evaluators.run,
tools.predict and model_init read it like a run). Multi-host:
pass --coordinator_address/--num_processes/--process_id or set JAX_COORDINATOR_ADDRESS etc.

Preemption: SIGTERM (what a preemption or maintenance event sends) or SIGINT makes every process
finish the step it is on, agree on the same next step (sharding.AnyProcess, one all-reduce per
step), save a checkpoint there and exit 0 with a line saying so; re-running the command continues
bit for bit. A second SIGINT stops at once (KeyboardInterrupt).
Errors: a run that stops on an error exits 1 at once (no interpreter teardown of the reader
threads), and in a multi-process run every other process prints the error and exits 1 too
(sharding.report_fatal / watch_fatal) instead of waiting in a collective for the failed one;
process 0, the coordinator's host, exits last (sharding.exit_fatal), so no process is aborted by
jax for a coordinator that went first.
"""
import argparse
import dataclasses
import os
import signal
import sys
import traceback
from typing import Any, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import config as config_lib
from big_paligemma import fs
from big_paligemma import loading
from big_paligemma import optim
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
import evaluators as evaluators_lib  # registers the evaluator types that config.evals names
from trainers import logging as log_lib
from trainers import state as state_lib
from trainers import step as step_lib


# ----------------------------------------------------------------------------- config

def parse_flags(argv: Sequence[str]) -> tuple[argparse.Namespace, list[tuple[str, str]]]:
  """-> (flags, [(dotted key, value text)] of the --config.x.y=value overrides, in order)."""
  parser = argparse.ArgumentParser(prog="python -m trainers.train", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", required=True, help="FILE.py[:arg], e.g. docvqa.py:res=448")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--coordinator_address", default=None)
  parser.add_argument("--num_processes", type=int, default=None)
  parser.add_argument("--process_id", type=int, default=None)
  flags, rest = parser.parse_known_args(argv)
  try:
    return flags, config_lib.parse_overrides(rest)
  except config_lib.ConfigError as e:
    parser.error(str(e))


# ----------------------------------------------------------------------------- pieces

@dataclasses.dataclass(frozen=True)
class Plan:
  """Every duration of the run in optimizer steps."""
  total_steps: int
  warmup_steps: int
  log_every: int
  ckpt_every: int
  keep_every: int | None
  epoch_examples: int | None


def make_plan(config, epoch_examples: int | None) -> Plan:
  total = config_lib.total_steps(config, epoch_examples)
  steps = lambda value, key: config_lib.parse_duration(  # noqa: E731
      value, total_steps=total, batch_size=config.input.batch_size,
      epoch_examples=epoch_examples, key=key)
  schedule = config.optim.get("schedule", {})
  keep = config.ckpt.get("keep_every")
  return Plan(total_steps=total, warmup_steps=steps(schedule.get("warmup", 0), "optim.schedule"),
              log_every=max(1, steps(config.log_every, "log_every")),
              ckpt_every=max(1, steps(config.ckpt.every, "ckpt.every")),
              keep_every=steps(keep, "ckpt.keep_every") if keep else None,
              epoch_examples=epoch_examples)


def optimizer_config(config, plan: Plan) -> dict[str, Any]:
  """config.optim for make_optimizer: the schedule's durations in steps."""
  optim_cfg = config.optim.to_dict()
  schedule = dict(optim_cfg.pop("schedule", {}) or {})
  schedule.pop("warmup", None)
  schedule.update(warmup_steps=plan.warmup_steps, total_steps=plan.total_steps)
  if config.lora and optim_cfg.get("wd") and "wd_mults" not in optim_cfg:
    optim_cfg["wd_mults"] = [(r".*", 1.0)]  # the default names base weights; decay every adapter
  return {**optim_cfg, "schedule": schedule}


def build_mesh(config, devices: Sequence[jax.Device] | None = None):
  """config.mesh over `devices` (default: all of them); an auto fsdp axis only as large as every
  parameter can shard over, and an auto tensor axis taking what the batch (config.input.batch_size
  over config.grad_accum micro-batches) does not split over (sharding.make_mesh)."""
  devices = list(jax.devices() if devices is None else devices)
  check = []  # built once, on the first call (only for an auto fsdp axis over accelerators)

  def shardable(axis_sizes):
    if not check:
      model_cfg = build.model_config(config, devices[0].platform)
      check.append(sharding_lib.params_shard_over(build.abstract_params(model_cfg),
                                                  config.sharding_rules))
    return check[0](axis_sizes)
  micro = config.input.batch_size // max(1, config.get("grad_accum", 1) or 1)
  return sharding_lib.make_mesh([tuple(axis) for axis in config.mesh], devices, shardable,
                                batch_size=micro)


def build_optimizer(config, model_cfg, plan: Plan):
  """(optax transformation, lr schedule) of config.optim over what the run trains."""
  return optim.make_optimizer(optimizer_config(config, plan), state_lib.abstract_trainable(
      model_cfg, state_lib.lora_settings(config)))


def build_train_step(config, model, tx, lr_fn, shardings, mesh):
  """The jitted train step: explicit state and batch shardings, the state donated; `model` in the
  layouts of the mesh's backend (`step.model_for_mesh`)."""
  lora = state_lib.lora_settings(config)
  step_fn = step_lib.make_train_step(step_lib.model_for_mesh(model, mesh), tx, lr_fn, config.loss,
                                     config.grad_accum, lora_alpha=lora.alpha if lora else None)
  return step_lib.jit_train_step(step_fn, shardings, sharding_lib.batch_sharding(mesh), mesh)


@dataclasses.dataclass
class Data:
  iterator: Any  # input_pipeline.Iterator
  sharding: Any
  epoch_examples: int

  def next(self) -> dict[str, jax.Array]:
    from big_paligemma.data import input_pipeline  # pylint: disable=import-outside-toplevel
    return input_pipeline.make_global_arrays(next(self.iterator), self.sharding)


def build_data(config, mesh) -> Data:
  """The training iterator (this host's rows of each global batch) and the global batch sharding."""
  # TensorFlow: only the data path needs it (tools.plan and the benchmarks run without it).
  import pp  # pylint: disable=import-outside-toplevel
  from big_paligemma.data import input_pipeline  # pylint: disable=import-outside-toplevel
  sharding_lib.check_batch_size(mesh, config.input.batch_size, "config.input.batch_size")
  pp_fn = pp.get_preprocess_fn(config.input.pp, tokenizer_path=config.tokenizer)
  data_cfg = config.input.data.to_dict()
  iterator = input_pipeline.make_train_iterator(
      data_cfg, pp_fn, global_batch_size=config.input.batch_size, seed=config.seed,
      skip_bad_examples=config.input.skip_bad_examples, num_parallel=config.input.num_parallel,
      source_pp=lambda spec: pp.get_preprocess_fn(spec, tokenizer_path=config.tokenizer))
  size = sum(input_pipeline.num_examples(s) for s in input_pipeline.sources(data_cfg))
  return Data(iterator, sharding_lib.batch_sharding(mesh), size)


def check_tokenizer(config, model_cfg) -> None:
  from big_paligemma.tokenizer import Tokenizer  # pylint: disable=import-outside-toplevel
  vocab = Tokenizer.load(config.tokenizer).vocab_size
  if vocab > model_cfg.llm.vocab_size:
    raise ValueError(f"config.tokenizer {config.tokenizer!r} has {vocab} pieces but the model's "
                     f"vocabulary is {model_cfg.llm.vocab_size}; use a matching tokenizer or model.")


def make_logger(config, model_cfg, data: Data, plan: Plan,
                workdir: str) -> log_lib.MetricsLogger:
  """The metrics logger, with the FLOPs and decoder tokens of a global batch of `data`."""
  spec = data.iterator.element_spec
  text_len = spec["text"].shape[-1] - 1  # the tokens the model reads (build.teacher_forcing)
  num_images = spec["images"].shape[-4] if "images" in spec else 1  # [B?,M,h,w,3]
  flops = log_lib.train_flops_per_example(model_cfg, build.abstract_params(model_cfg),
                                          text_len, num_images)
  batch = config.input.batch_size
  return log_lib.MetricsLogger(
      workdir, plan.total_steps, batch * flops, log_lib.peak_flops(config.peak_flops),
      examples_per_step=batch,
      tokens_per_step=batch * log_lib.decoder_tokens_per_example(model_cfg, text_len, num_images))


def abstract_state(config, model_cfg, tx, mesh):
  """(the state's ShapeDtypeStructs carrying their shardings, the state shardings): params by
  config.sharding_rules, the optimizer state like what it optimizes."""
  p_shardings = build.param_shardings(model_cfg, config.sharding_rules, mesh)
  abstract = state_lib.abstract_state(model_cfg, tx, config.seed, state_lib.lora_settings(config))
  shardings = state_lib.state_shardings(abstract, p_shardings, mesh)
  return sharding_lib.with_shardings(abstract, shardings), shardings


def build_state(config, model_cfg, tx, mesh, ckpt: ckpt_lib.Checkpointer, data: Data):
  """The newest checkpoint of the workdir that restores, if any (data position restored too; a
  damaged newer step is reported and moved to ckpt/damaged/), else step 0 from config.model_init
  or a random init (and fresh LoRA adapters). -> (state, state shardings)."""
  target, shardings = abstract_state(config, model_cfg, tx, mesh)
  p_shardings, lora = shardings.params, state_lib.lora_settings(config)
  restored = ckpt.restore_latest(target, required_extra=("data",))  # damaged steps set aside
  if restored is not None:
    step, state, extra, _ = restored
    data.iterator.set_state(extra["data"])
    print(f"Resumed from step {int(state.step)} of {step}.", flush=True)
    return state, shardings
  if config.model_init:
    params = loading.load_params(config.model_init, model_cfg, p_shardings)
  else:
    params = build.init_params(model_cfg, build.init_rng(config.seed), p_shardings)
  return state_lib.create_state(params, tx, config.seed, shardings, lora), shardings


def build_evaluators(config, model, mesh, plan: Plan) -> list[tuple[Any, int]]:
  """(evaluator, period in steps) for every config.evals entry."""
  evals = evaluators_lib.make_evaluators(config, model=model, mesh=mesh)
  return [(ev, max(1, config_lib.parse_duration(
      ev.every, total_steps=plan.total_steps, batch_size=config.input.batch_size,
      epoch_examples=plan.epoch_examples, key=f"evals.{ev.name}.every"))) for ev in evals]


def save(ckpt: ckpt_lib.Checkpointer, state, data: Data, step: int) -> None:
  ckpt.save(step, state, extra={"data": data.iterator.get_state()}, metadata={"step": step})


def export_merged(directory: str, state, alpha: float) -> str:
  """Writes {"params": base merged with the LoRA adapters} as step `state.step` of `directory`."""
  merged = ckpt_lib.Checkpointer(directory, keep_last=1, async_save=False)
  try:
    step = int(state.step)
    if step in merged.all_steps():  # a run resumed at its end: written before the kill
      return directory
    merged.save(step, {"params": state_lib.eval_params(state, alpha)},
                metadata={"step": step, "merged_lora": True})
  finally:
    merged.close()
  return directory


# ----------------------------------------------------------------------------- stop signals

class StopSignals:
  """SIGTERM / SIGINT -> a stop request that every process acts on at the same step.

  Use as a context manager (it installs the handlers, then puts the previous ones back); call
  `agreed()` once per step on every process: the signal number (the largest among the processes)
  once all processes stop after this step, else 0. A second SIGINT raises KeyboardInterrupt.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received = 0  # the largest signal number this process got, 0 if none
    self._got = set()
    self._previous = {}
    self._any = None

  def __enter__(self) -> "StopSignals":
    self.install()
    return self

  def install(self) -> None:
    """(Re)installs the handlers: jax.distributed.initialize sets a SIGTERM handler of its own."""
    for sig in self.SIGNALS:
      previous = signal.signal(sig, self._handle)
      self._previous.setdefault(sig, previous)

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if signum == signal.SIGINT and signum in self._got:
      raise KeyboardInterrupt
    self._got.add(signum)
    self.received = max(self.received, signum)
    os.write(1, (  # not print: the main thread may be inside a print
        f"Got {signal.Signals(signum).name}: saving a checkpoint after the current step, then "
        "exiting.\n").encode())

  def agreed(self) -> int:
    if self._any is None:
      self._any = sharding_lib.AnyProcess()
    return self._any(self.received) or 0


# ----------------------------------------------------------------------------- the loop

def data_counters(data: Data) -> dict[str, int]:
  """This host's running counts of examples skipped as bad and of truncated texts."""
  it = data.iterator
  return {"skipped_bad_examples": it.skipped_bad_examples,
          "truncated_examples": it.truncated_examples}


def run_evaluators(evaluators, state, step: int, logger, lora_alpha: float | None, due) -> None:
  """Runs each evaluator whose period `due(every)` says is due, on the (LoRA-merged) params."""
  for ev, every in evaluators:
    if due(every):
      params = state_lib.eval_params(state, lora_alpha)
      logger.log_eval(step, {k: float(v) for k, v in ev.run(params).items()})


def lost_final_evals(evaluators, logger, step: int) -> list[tuple[Any, int]]:
  """The evaluators without results at `step` in metrics.jsonl: at a run's last step, those a
  kill cut off (process 0 reads the file; every process gets its answer)."""
  if not evaluators:
    return []
  logged = logger.logged_keys(step)
  lost = np.array([not any(k.startswith(f"{ev.name}/") for k in logged) for ev, _ in evaluators])
  if jax.process_count() > 1:
    lost = multihost_utils.broadcast_one_to_all(lost)
  return [e for e, missing in zip(evaluators, lost) if missing]


def train_loop(state, train_step, data: Data, plan: Plan, ckpt, logger, evaluators,
               lora_alpha: float | None = None, eval_at_start: bool = False,
               stop: StopSignals | None = None) -> tuple[Any, int]:
  """Runs steps until plan.total_steps: log, checkpoint, evaluate at their periods (evaluators
  get the merged weights of a LoRA state, whose scale is `lora_alpha`; with `eval_at_start`
  also once before the first step of this run; a run resumed at its last step runs the final
  evaluations that metrics.jsonl lacks). -> (state, 0), or (state, signal number) if `stop` was
  signalled: then the run saved a checkpoint at the step all processes agreed on and ended there
  (no evaluation).

  Each step's metrics are checked for NaN/Inf one step later (the host never waits on the step
  it just dispatched), and always before a checkpoint, so a bad state is never saved.
  """
  step = int(state.step)
  logger.start(step)
  if eval_at_start:
    run_evaluators(evaluators, state, step, logger, lora_alpha, lambda every: True)
  elif step >= plan.total_steps and (lost := lost_final_evals(evaluators, logger, step)):
    print(f"Step {step} is the last: running the final evaluations a previous run did not finish: "
          f"{[ev.name for ev, _ in lost]}.", flush=True)
    run_evaluators(lost, state, step, logger, lora_alpha, lambda every: True)
  saved = ckpt.latest_step()  # what a re-run resumes from (None: no checkpoint yet)
  pending = None  # (step, device metrics, saved) not yet checked
  while step < plan.total_steps:
    state, metrics = train_step(state, data.next())
    step += 1
    if pending is not None:
      step_lib.check_finite(*pending)
    pending = (step, metrics, saved)
    last = step == plan.total_steps
    stopped = stop.agreed() if stop is not None and not last else 0
    if step % plan.log_every == 0 or last or stopped:
      step_lib.check_finite(*pending)
      logger.log_train(step, {**metrics, **data_counters(data)})
    if (step % plan.ckpt_every == 0 or last or stopped
        or (plan.keep_every and step % plan.keep_every == 0)):
      step_lib.check_finite(*pending)
      save(ckpt, state, data, step)
      saved = step
    if stopped:
      ckpt.wait_until_finished()
      print(f"Stopped by {signal.Signals(stopped).name} at step {step}: process "
            f"{jax.process_index()} of {jax.process_count()} saved checkpoint {step}; re-run the "
            "same command to resume.", flush=True)
      return state, stopped
    run_evaluators(evaluators, state, step, logger, lora_alpha,
                   lambda every: step % every == 0 or last)
  if pending is not None:
    step_lib.check_finite(*pending)
  return state, 0


def main(argv: Sequence[str] | None = None) -> Any:
  with StopSignals() as stop:
    return train(argv, stop)


def train(argv: Sequence[str] | None, stop: StopSignals) -> Any:
  """The run of `main`; a SIGTERM/SIGINT that `stop` caught ends it after a checkpoint."""
  flags, overrides = parse_flags(sys.argv[1:] if argv is None else argv)
  config = config_lib.load_config(flags.config, overrides)
  sharding_lib.initialize_distributed(flags.coordinator_address, flags.num_processes,
                                      flags.process_id)
  stop.install()
  sharding_lib.watch_fatal()
  mesh = build_mesh(config)
  model_cfg = build.model_config(config)
  model = build.make_model(model_cfg)
  check_tokenizer(config, model_cfg)
  data = build_data(config, mesh)
  plan = make_plan(config, data.epoch_examples)
  lora = state_lib.lora_settings(config)
  alpha = lora.alpha if lora else None
  tx, lr_fn = build_optimizer(config, model_cfg, plan)
  ckpt = ckpt_lib.Checkpointer(fs.join(flags.workdir, "ckpt"), config.ckpt.keep_last,
                               plan.keep_every, config.ckpt.async_save)
  state, shardings = build_state(config, model_cfg, tx, mesh, ckpt, data)
  train_step = build_train_step(config, model, tx, lr_fn, shardings, mesh)
  logger = make_logger(config, model_cfg, data, plan, flags.workdir)
  evaluators = build_evaluators(config, model, mesh, plan)
  try:
    state, stopped = train_loop(state, train_step, data, plan, ckpt, logger, evaluators, alpha,
                                config.eval_at_start, stop)
    if lora and not stopped:
      export_merged(fs.join(flags.workdir, "merged"), state, alpha)
  finally:
    data.iterator.close()
    ckpt.wait_until_finished()
    ckpt.close()
    logger.close()
  return state


def run_and_exit(argv: Sequence[str] | None = None) -> None:
  """`main`, then a normal exit; on an error: print it, post it to the other processes (each
  prints it and exits 1) and exit 1 at once, skipping the interpreter's teardown, where reader
  threads still busy in TensorFlow could hang or abort the exit.

  stdout is line-buffered here as stderr is: a process can end without flushing Python's buffers
  (sharding.exit_fatal's `os._exit`; jax's coordination client, which aborts a process once its
  coordinator is gone or reports a failure), and what was printed before must be in its log."""
  sys.stdout.reconfigure(line_buffering=True)
  try:
    main(argv)
  except SystemExit:
    raise  # argparse's usage errors and the like: nothing is running yet
  except BaseException as e:  # pylint: disable=broad-except  (KeyboardInterrupt too)
    traceback.print_exc()
    sharding_lib.report_fatal("".join(traceback.format_exception_only(e)).strip())
    sharding_lib.exit_fatal()


if __name__ == "__main__":
  run_and_exit()
