"""Runs a config's evaluators on a checkpoint, without training.

  python -m evaluators.run --config configs/transfer/docvqa.py[:args] --ckpt PATH [--step N]
      [--only name1,name2] [--out metrics.json]

--ckpt is a run's workdir (its checkpoints in workdir/ckpt), a Checkpointer directory itself, or an
HF directory (config.json + safetensors). The model comes from the config's `model` entry, for
HF directories from their config.json (big_paligemma.loading.load_model). Prints one JSON line of
metrics per evaluator.
"""
import argparse
import json

import jax

from big_paligemma import config as config_lib
from big_paligemma import fs
from big_paligemma import loading
from big_paligemma import sharding
from big_paligemma.models import build
import evaluators


def load(ckpt: str, config, step: int | None):
  """(model, params) of `ckpt`, the params sharded by config.sharding_rules over config.mesh (as
  the trainer shards them: on accelerators FSDP over every device, so a 28B model loads on a
  slice of 16 GiB chips; an auto fsdp axis only as large as every parameter shards over)."""
  devices = jax.devices()
  rules = [tuple(r) for r in config.get("sharding_rules") or [(".*", "replicate")]]

  def shardings_for(model_cfg):
    shardable = sharding.params_shard_over(build.abstract_params(model_cfg), rules)
    mesh = sharding.make_mesh(config.get("mesh") or sharding.DEFAULT_MESH, devices, shardable)
    return build.param_shardings(model_cfg, rules, mesh)
  return loading.load_model(ckpt, config, step, shardings_for=shardings_for)


def main(argv=None) -> dict[str, float]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True, help="path/to/config.py[:args]")
  parser.add_argument("--ckpt", required=True, help="workdir, checkpoint dir or HF directory")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
  parser.add_argument("--only", default=None, help="comma-separated evaluator names")
  parser.add_argument("--out", default=None, help="also write all metrics to this JSON file")
  args = parser.parse_args(argv)
  config = config_lib.load_config(args.config)
  model, params = load(args.ckpt, config, args.step)
  mesh = next(iter(jax.tree.leaves(params))).sharding.mesh
  evals = evaluators.make_evaluators(config, model=model, mesh=mesh)
  if args.only:
    names = args.only.split(",")
    unknown = sorted(set(names) - {e.name for e in evals})
    if unknown:
      raise ValueError(f"--only names {unknown} not in config.evals {[e.name for e in evals]}.")
    evals = [e for e in evals if e.name in names]
  metrics = {}
  for ev in evals:
    result = ev.run(params)
    print(json.dumps(result), flush=True)
    metrics.update(result)
  if args.out and jax.process_index() == 0:
    fs.write_text(args.out, json.dumps(metrics, indent=1))
  return metrics


if __name__ == "__main__":
  main()
