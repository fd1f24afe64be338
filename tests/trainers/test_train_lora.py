"""LoRA runs of the trainer (frozen base, trained adapters, exact resume, merged export) and
model_init from one of our runs that used another optimizer, on the tiny model of the smoke test."""

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import tree as tree_lib
from big_paligemma.models import build
from big_paligemma import config as config_lib
from tests.trainers.test_train_smoke import read_losses
from tests.trainers.test_train_smoke import write_run
from trainers import state as state_lib
from trainers import step as step_lib
from trainers import train

ALPHA, RANK = 4.0, 2
LORA = [f"--config.lora={{'alpha': {ALPHA}, 'rank': {RANK}}}",
        "--config.optim.schedule.decay_type='constant'", "--config.optim.lr=0.01"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  return write_run(tmp_path_factory.mktemp("lora_run"))


def _overrides(flags):
  return [tuple(f[len("--config."):].split("=", 1)) for f in flags]


def _pieces(spec, flags, tmp_path):
  """(model, data, state, jitted step) exactly as train.main builds them."""
  config = config_lib.load_config(spec, _overrides(flags))
  mesh = train.build_mesh(config)
  model_cfg = build.model_config(config)
  model = build.make_model(model_cfg)
  data = train.build_data(config, mesh)
  plan = train.make_plan(config, data.epoch_examples)
  lora = state_lib.lora_settings(config)
  tx, lr_fn = train.optim.make_optimizer(train.optimizer_config(config, plan),
                                         state_lib.abstract_trainable(model_cfg, lora))
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"))
  state, shardings = train.build_state(config, model_cfg, tx, mesh, ckpt, data)
  step_fn = step_lib.make_train_step(model, tx, lr_fn, config.loss,
                                     lora_alpha=lora.alpha if lora else None)
  return model, data, state, step_lib.jit_train_step(step_fn, shardings, data.sharding, mesh)


def _size(tree) -> int:
  return sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(tree))


def test_lora_trains_adapters_only_and_loss_falls(spec, tmp_path):
  _, data, state, jitted = _pieces(spec, LORA, tmp_path)
  base0 = jax.device_get(state.params)
  lora0 = jax.device_get(state.lora)
  # Default rules: decoder q_einsum and the value half of kv_einsum, both layers, rank 2.
  assert sorted(tree_lib.flatten(lora0)) == [
      "llm/layers/attn/kv_einsum/w/a", "llm/layers/attn/kv_einsum/w/b",
      "llm/layers/attn/q_einsum/w/a", "llm/layers/attn/q_einsum/w/b"]
  # The optimizer state holds the adapters' two adam moments (+ scalar counts), nothing of the base.
  assert 2 * _size(lora0) <= _size(state.opt_state) <= 2 * _size(lora0) + 8
  batch = data.next()
  losses = []
  for _ in range(10):
    state, metrics = jitted(state, batch)
    losses.append(float(metrics["loss"]))
  assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < losses[0] - 0.5, losses
  base = jax.device_get(state.params)
  for path, want in tree_lib.flatten(base0).items():
    np.testing.assert_array_equal(tree_lib.flatten(base)[path], want, err_msg=path)
  lora = tree_lib.flatten(jax.device_get(state.lora))
  for path, before in tree_lib.flatten(lora0).items():
    assert not np.array_equal(lora[path], before), path


def _merged_by_hand(base, lora):
  """W + alpha/r A@B on q_einsum [L,N,D,H] and on the value half w[:, 1] of kv_einsum [L,2,K,D,H]."""
  flat = {k: np.asarray(v, np.float64) for k, v in tree_lib.flatten(base).items()}
  ab = tree_lib.flatten(lora)
  out = dict(flat)
  for name in ("q_einsum", "kv_einsum"):
    path = f"llm/layers/attn/{name}/w"
    delta = np.einsum("ldr,lro->ldo", ab[path + "/a"], ab[path + "/b"]) * ALPHA / RANK  # [L,D,X*H]
    w = flat[path].copy()
    target = w if name == "q_einsum" else w[:, 1]  # [L,X,D,H]
    l, x, d, h = target.shape
    target += delta.reshape(l, d, x, h).transpose(0, 2, 1, 3)
    out[path] = w
  return tree_lib.unflatten({k: v.astype(np.float32) for k, v in out.items()})


@pytest.mark.slow
def test_lora_run_resumes_exactly_and_exports_merged(spec, tmp_path):
  flags = LORA + ["--config.ckpt.every=2"]
  train.main(["--config", spec + ",steps=4", "--workdir", str(tmp_path / "ref"), *flags])
  train.main(["--config", spec + ",steps=2", "--workdir", str(tmp_path / "run"), *flags])
  final = train.main(["--config", spec + ",steps=4", "--workdir", str(tmp_path / "run"), *flags])
  want, got = read_losses(tmp_path / "ref"), read_losses(tmp_path / "run")
  assert sorted(got) == [1, 2, 3, 4] and all(got[s] == want[s] for s in got), (got, want)
  # The saved state has base and adapters; the export holds base merged with them.
  saved = ocp.StandardCheckpointer().restore(str(tmp_path / "run" / "ckpt" / "4" / "state"))
  assert "lora" in saved and "params" in saved
  base, lora = jax.device_get(final.params), jax.device_get(final.lora)
  np.testing.assert_array_equal(tree_lib.flatten(saved["lora"])["llm/layers/attn/q_einsum/w/b"],
                                tree_lib.flatten(lora)["llm/layers/attn/q_einsum/w/b"])
  merged = ckpt_lib.restore_params(str(tmp_path / "run" / "merged"), base)
  with pytest.raises(ValueError, match=r"holds LoRA adapters.*workdir/merged"):
    ckpt_lib.restore_params(str(tmp_path / "run"), base)  # the base alone would be wrong
  config = config_lib.load_config(spec, _overrides(LORA))
  model = build.make_model(build.model_config(config))
  data = train.build_data(config, train.build_mesh(config))
  batch = build.device_inputs(jax.device_get(data.next()))
  apply = jax.jit(lambda p, b: model.apply({"params": p}, b)[0])
  want_logits = apply(_merged_by_hand(base, lora), batch)
  np.testing.assert_allclose(apply(merged, batch), want_logits, rtol=1e-5, atol=1e-5)
  adapted = jax.jit(train.step_lib.lora_lib.apply_lora, static_argnums=2)(base, lora, ALPHA)
  np.testing.assert_allclose(apply(adapted, batch), want_logits, rtol=1e-5, atol=1e-5)
  assert not np.allclose(apply(base, batch), want_logits, atol=1e-4)  # the adapters matter


def test_model_init_from_adam_run_into_sgd_run(spec, tmp_path):
  train.main(["--config", spec + ",steps=2", "--workdir", str(tmp_path / "adam")])
  saved = ocp.StandardCheckpointer().restore(str(tmp_path / "adam" / "ckpt" / "2" / "state"))
  assert "mu" in str(jax.tree_util.tree_structure(saved["opt_state"]))  # adam's state was saved
  sgd = ["--config.optim.optax_name='sgd'", "--config.optim.optax={}",
         f"--config.model_init='{tmp_path / 'adam'}'"]
  _, _, state, jitted = _pieces(spec, sgd, tmp_path / "sgd")
  for path, want in tree_lib.flatten(saved["params"]).items():
    np.testing.assert_array_equal(np.asarray(tree_lib.flatten(state.params)[path]), want, path)
  assert _size(state.opt_state) < 8  # sgd without momentum: counts only, no adam moments
  train.main(["--config", spec + ",steps=1", "--workdir", str(tmp_path / "sgd_run"), *sgd])
  assert list(read_losses(tmp_path / "sgd_run")) == [1]


def test_model_init_of_another_shape_names_the_params(spec, tmp_path):
  train.main(["--config", spec + ",steps=1", "--workdir", str(tmp_path / "small")])
  flags = [f"--config.model_init='{tmp_path / 'small'}'", "--config.model.llm.mlp_dim=48"]
  with pytest.raises(ValueError, match=r"llm/layers/mlp/gating_einsum: saved \(2, 2, 32, 64\), "
                     r"expected \(2, 2, 32, 48\)"):
    _pieces(spec, flags, tmp_path / "big")
