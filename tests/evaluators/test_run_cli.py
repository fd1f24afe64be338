"""evaluators.run: a demo config + a saved train state -> the config's evaluator metrics."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import checkpoint
from big_paligemma.models import paligemma
from big_paligemma.models import build
from big_paligemma import loading
from big_paligemma import config as config_lib
from evaluators import run
from tools import make_demo_data
from trainers import state as state_lib


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo"))
  # 20 training examples: the minitrain/minival monitors read 5% of them (one each).
  make_demo_data.make_demo_data(out, num_train=20, num_eval=5, size=32, sets="docvqa")
  return out


def _save_run(workdir, config):
  model_cfg = build.model_config(config)
  model = paligemma.PaliGemma(model_cfg)
  batch = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), build.dummy_batch(model_cfg))
  params = jax.jit(model.init)(jax.random.key(1), batch)["params"]
  train_state = state_lib.TrainState(step=jnp.array(3, jnp.int32), params=params, opt_state={},
                                     rng=jax.random.key_data(jax.random.key(0)))
  ckpt = checkpoint.Checkpointer(f"{workdir}/ckpt", async_save=False)
  ckpt.save(3, train_state)
  ckpt.close()
  return params


def test_run_cli_loads_the_saved_params_and_scores(tmp_path, demo_dir):
  spec = f"configs/transfer/docvqa.py:demo,demo_data={demo_dir}"
  config = config_lib.load_config(spec)
  params = _save_run(str(tmp_path / "work"), config)
  loaded = loading.restore_run_params(str(tmp_path / "work"), build.model_config(config))
  flat = lambda t: jax.tree_util.tree_leaves_with_path(t)  # noqa: E731
  assert [p for p, _ in flat(loaded)] == [p for p, _ in flat(params)]
  for (_, a), (_, b) in zip(flat(loaded), flat(params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  # The params are placed as the trainer places them: by config.sharding_rules over config.mesh
  # (here FSDP over the 8 devices, as the auto mesh does on accelerators), not replicated.
  fsdp = config_lib.load_config(spec)
  fsdp.mesh = [("data", 1), ("fsdp", -1), ("tensor", 1)]
  _, placed = run.load(str(tmp_path / "work"), fsdp, None)
  emb = placed["llm"]["embedder"]["input_embedding"]
  assert "fsdp" in tuple(emb.sharding.spec) and emb.sharding.mesh.shape["fsdp"] == 8
  assert emb.addressable_shards[0].data.shape[0] * 8 == emb.shape[0]
  np.testing.assert_array_equal(np.asarray(emb),
                                np.asarray(params["llm"]["embedder"]["input_embedding"]))

  out = str(tmp_path / "metrics.json")
  metrics = run.main(["--config", spec, "--ckpt", str(tmp_path / "work"), "--out", out])
  assert {"docvqa_validation/anls", "docvqa_validation/exact",
          "docvqa_minival_pplx/perplexity"} <= set(metrics)
  assert all(0.0 <= metrics[f"docvqa_validation/{k}"] <= 1.0 for k in ("anls", "exact"))
  only = run.main(["--config", spec, "--ckpt", str(tmp_path / "work"), "--only",
                   "docvqa_validation"])
  assert set(only) == {"docvqa_validation/anls", "docvqa_validation/exact"}
  with open(out) as f:
    assert json.load(f) == metrics


def test_run_cli_errors(tmp_path, demo_dir):
  spec = f"configs/transfer/docvqa.py:demo,demo_data={demo_dir}"
  with pytest.raises(FileNotFoundError, match="no complete checkpoint step"):
    run.main(["--config", spec, "--ckpt", str(tmp_path)])
  with pytest.raises(FileNotFoundError, match="does not exist"):
    config_lib.load_config("configs/transfer/nope.py:demo")
