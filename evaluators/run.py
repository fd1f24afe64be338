"""Runs a config's evaluators on a checkpoint, without training.

  python -m evaluators.run --config configs/transfer/docvqa.py[:args] --ckpt PATH [--step N]
      [--only name1,name2] [--out metrics.json]

--ckpt is a run's workdir (its checkpoints in workdir/ckpt), a Checkpointer directory itself, or an
HF directory (config.json + safetensors). The model comes from the config's `model` entry
(trainers.state.model_config), for HF directories from their config.json; the module from
trainers.state.make_model either way. Prints one JSON line of metrics per evaluator.
"""
import argparse
import importlib.util
import json
import os

import jax

from big_paligemma import checkpoint
from big_paligemma import sharding
from big_paligemma.interop import hf
from evaluators import common
from trainers import state as state_lib


def load_config(spec: str):
  """`path/to/config.py[:args]` -> the module's get_config(args or None)."""
  path, _, arg = spec.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"Config file {path} does not exist (spec {spec!r}).")
  module_spec = importlib.util.spec_from_file_location("_eval_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def load_params(path: str, model_cfg, step: int | None = None):
  """params of one of our runs (its workdir, checkpoint dir or a LoRA run's workdir/merged),
  checked against `model_cfg`; a LoRA run's state (frozen base beside adapters) is refused."""
  return checkpoint.restore_params(path, state_lib.abstract_params(model_cfg), step)


def load_model(config, ckpt: str, step: int | None = None):
  """(model, params) from an HF directory (its own config) or our checkpoint + config.model."""
  if os.path.exists(os.path.join(ckpt, "config.json")):
    _, cfg, params = hf.load_hf(ckpt)
    return state_lib.make_model(cfg), params
  if config is None:
    raise ValueError(f"{ckpt} is not an HF directory: pass --config to build its model.")
  model_cfg = state_lib.model_config(config)
  return state_lib.make_model(model_cfg), load_params(ckpt, model_cfg, step)


def replicate(params, mesh):
  return jax.device_put(params, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def main(argv=None) -> dict[str, float]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True, help="path/to/config.py[:args]")
  parser.add_argument("--ckpt", required=True, help="workdir, checkpoint dir or HF directory")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
  parser.add_argument("--only", default=None, help="comma-separated evaluator names")
  parser.add_argument("--out", default=None, help="also write all metrics to this JSON file")
  args = parser.parse_args(argv)
  config = load_config(args.config)
  mesh = sharding.make_mesh(config.get("mesh") or sharding.DEFAULT_MESH)
  model, params = load_model(config, args.ckpt, args.step)
  params = replicate(params, mesh)
  evaluators = common.make_evaluators(config, model=model, mesh=mesh)
  if args.only:
    names = args.only.split(",")
    unknown = sorted(set(names) - {e.name for e in evaluators})
    if unknown:
      raise ValueError(f"--only names {unknown} not in config.evals {[e.name for e in evaluators]}.")
    evaluators = [e for e in evaluators if e.name in names]
  metrics = {}
  for ev in evaluators:
    result = ev.run(params)
    print(json.dumps(result), flush=True)
    metrics.update(result)
  if args.out and jax.process_index() == 0:
    with open(args.out, "w") as f:
      json.dump(metrics, f, indent=1)
  return metrics


if __name__ == "__main__":
  main()
