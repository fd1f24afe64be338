"""Tests for big_paligemma.optim on small trees whose paths imitate Gemma and big_vision SigLIP."""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from big_paligemma import optim
from big_paligemma import tree as tree_lib

GEMMA_PATHS = {
    "llm/embedder/input_embedding": (11, 4),
    "llm/layers/attn/q_einsum/w": (2, 4, 3),
    "llm/layers/attn/kv_einsum/w": (2, 1, 4, 3),
    "llm/layers/attn/attn_vec_einsum/w": (2, 3, 4),
    "llm/layers/mlp/gating_einsum": (2, 4, 6),
    "llm/layers/mlp/linear": (6, 4),
    "llm/layers/pre_attention_norm/scale": (4,),
    "llm/final_norm/scale": (4,),
}
SIGLIP_PATHS = {
    "img/embedding/kernel": (2, 2, 3, 4),
    "img/embedding/bias": (4,),
    "img/pos_embedding": (1, 4, 4),
    "img/Transformer/encoderblock/MultiHeadDotProductAttention_0/query/kernel": (4, 2, 2),
    "img/Transformer/encoderblock/MultiHeadDotProductAttention_0/query/bias": (2, 2),
    "img/Transformer/encoderblock/MlpBlock_0/Dense_0/kernel": (4, 8),
    "img/Transformer/encoderblock/LayerNorm_0/scale": (4,),
    "img/head/kernel": (4, 4),
}


def make_params(paths, seed=0):
  rng = np.random.default_rng(seed)
  return tree_lib.unflatten(
      {p: jnp.asarray(rng.normal(size=s), jnp.float32) for p, s in paths.items()})


def config(**kw):
  base = dict(optax_name="sgd", lr=0.1)
  base.update(kw)
  return ml_collections.ConfigDict(base)


def one_update(cfg, params, grads=None):
  tx, _ = optim.make_optimizer(cfg, params)
  grads = jax.tree.map(jnp.ones_like, params) if grads is None else grads
  updates, _ = tx.update(grads, tx.init(params), params)
  return tree_lib.flatten(updates)


SIGLIP_MATRICES = {"img/embedding/kernel", "img/head/kernel",
                   "img/Transformer/encoderblock/MultiHeadDotProductAttention_0/query/kernel",
                   "img/Transformer/encoderblock/MlpBlock_0/Dense_0/kernel"}
GEMMA_MATRICES = {"llm/layers/attn/q_einsum/w", "llm/layers/attn/kv_einsum/w",
                  "llm/layers/attn/attn_vec_einsum/w", "llm/layers/mlp/gating_einsum",
                  "llm/layers/mlp/linear"}


@pytest.mark.parametrize("wd_mults,decayed", [
    (None, SIGLIP_MATRICES),  # big_vision's default `.*/kernel`: the vision side only
    (optim.EVERY_MATRIX, SIGLIP_MATRICES | GEMMA_MATRICES),
])
def test_decay_hits_exactly_the_matrices(wd_mults, decayed):
  params = make_params({**GEMMA_PATHS, **SIGLIP_PATHS})
  # lr=0 and zero grads: the only update left is the decay, -wd * p on decayed leaves.
  extra = {} if wd_mults is None else {"wd_mults": wd_mults}
  updates = one_update(config(lr=0.0, wd=0.01, **extra), params,
                       jax.tree.map(jnp.zeros_like, params))
  flat = tree_lib.flatten(params)
  got = {p for p, u in updates.items() if np.any(np.asarray(u) != 0)}
  assert got == decayed
  for p in decayed:
    np.testing.assert_allclose(updates[p], -0.01 * np.asarray(flat[p]), rtol=1e-6)


def test_default_decay_on_a_model_without_kernels_says_how_to_decay():
  params = make_params(GEMMA_PATHS)
  with pytest.raises(ValueError, match=r"wd=0.01 .*optim.EVERY_MATRIX"):
    optim.make_optimizer(config(wd=0.01), params)
  optim.make_optimizer(config(wd=0.0), params)  # no decay: no rule to match


def test_decay_matches_optax_adamw_with_rescaled_rate():
  params = make_params(SIGLIP_PATHS)
  grads = make_params(SIGLIP_PATHS, seed=1)
  lr, wd = 0.01, 1e-3
  tx, _ = optim.make_optimizer(config(optax_name="adam", lr=lr, wd=wd), params)
  # optax.adamw decays by lr * weight_decay * p; ours (big_vision) by wd * p.
  ref = optax.adamw(lr, weight_decay=wd / lr,
                    mask=lambda t: tree_lib.map_with_path(lambda p, _: p.endswith("kernel"), t))
  s, rs, p, rp = tx.init(params), ref.init(params), params, params
  for _ in range(3):
    u, s = tx.update(grads, s, p)
    ru, rs = ref.update(grads, rs, rp)
    p, rp = optax.apply_updates(p, u), optax.apply_updates(rp, ru)
  for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(rp)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_frozen_params_unchanged_and_stateless():
  params = make_params({**GEMMA_PATHS, **SIGLIP_PATHS})
  cfg = config(optax_name="adam", lr=0.1, wd=0.1, frozen=["img/.*"])
  tx, _ = optim.make_optimizer(cfg, params)
  state = tx.init(params)
  p = params
  for seed in range(3):
    grads = make_params({**GEMMA_PATHS, **SIGLIP_PATHS}, seed=seed + 5)
    updates, state = tx.update(grads, state, p)
    p = optax.apply_updates(p, updates)
  before, after = tree_lib.flatten(params), tree_lib.flatten(p)
  for path in before:
    changed = not np.array_equal(before[path], after[path])
    assert changed == path.startswith("llm/"), path
  trainable_size = sum(np.prod(s) for s in GEMMA_PATHS.values())
  state_size = sum(x.size for x in jax.tree.leaves(state) if x.ndim > 0)
  assert state_size == 2 * trainable_size  # adam mu and nu of the llm only.


def test_lr_mults_scale_updates():
  params = make_params({**GEMMA_PATHS, **SIGLIP_PATHS})
  updates = one_update(config(lr=0.1, lr_mults=[("img/.*", 0.5), ("llm/final_norm/.*", 3.0)]),
                       params)
  for path, u in updates.items():
    want = 0.05 if path.startswith("img/") else 0.3 if path.startswith("llm/final_norm") else 0.1
    np.testing.assert_allclose(u, -want * np.ones_like(u), rtol=1e-6)


@pytest.mark.parametrize("schedule,step,want", [
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 0, 0.0),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 5, 0.5),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 10, 1.0),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 35,
     0.5 * (1 + math.cos(math.pi / 4))),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 60, 0.5),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 110, 0.0),
    (dict(decay_type="cosine", warmup_steps=10, total_steps=110), 500, 0.0),
    (dict(decay_type="linear", total_steps=100, end_ratio=0.1), 50, 0.55),
    (dict(decay_type="linear", warmup_steps=4, total_steps=104), 2, 0.5),
    (dict(decay_type="rsqrt", timescale=100), 300, 0.5),
    (dict(decay_type="rsqrt", warmup_steps=10, timescale=10), 40, 0.5),
    (dict(decay_type="constant", warmup_steps=4), 1, 0.25),
    (dict(decay_type="constant", warmup_steps=4), 99, 1.0),
])
def test_schedule_values_and_applied_lr(schedule, step, want):
  params = make_params({"img/head/kernel": (2, 2)})
  tx, sched = optim.make_optimizer(config(lr=2.0, schedule=schedule), params)
  np.testing.assert_allclose(sched(step), 2.0 * want, rtol=1e-6, atol=1e-7)
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  for _ in range(step):
    _, state = tx.update(grads, state, params)
  updates, _ = tx.update(grads, state, params)
  np.testing.assert_allclose(updates["img"]["head"]["kernel"], -2.0 * want * np.ones((2, 2)),
                             rtol=1e-6, atol=1e-7)


def test_clipping_uses_global_norm_of_trainable_params():
  params = {"img": {"head": {"kernel": jnp.zeros((2, 2))}, "pos_embedding": jnp.zeros((3,))},
            "llm": {"final_norm": {"scale": jnp.zeros((4,))}}}
  grads = {"img": {"head": {"kernel": jnp.full((2, 2), 3.0)}, "pos_embedding": jnp.full((3,), 4.0)},
           "llm": {"final_norm": {"scale": jnp.full((4,), 1000.0)}}}
  # Trainable global norm: sqrt(4 * 9 + 3 * 16) = sqrt(84); clipped to 2.
  updates = one_update(config(lr=1.0, grad_clip_norm=2.0, frozen=["llm/.*"]), params, grads)
  scale = 2.0 / math.sqrt(84.0)
  np.testing.assert_allclose(updates["img/head/kernel"], -3.0 * scale * np.ones((2, 2)), rtol=1e-6)
  np.testing.assert_allclose(updates["img/pos_embedding"], -4.0 * scale * np.ones(3), rtol=1e-6)
  np.testing.assert_array_equal(updates["llm/final_norm/scale"], np.zeros(4))
  unclipped = one_update(config(lr=1.0, grad_clip_norm=10.0, frozen=["llm/.*"]), params, grads)
  np.testing.assert_allclose(unclipped["img/head/kernel"], -3.0 * np.ones((2, 2)))


@pytest.mark.parametrize("kw,match", [
    (dict(optax_name="adamx"), r"optax_name='adamx'.*adafactor"),
    (dict(wd_decay=0.1), r"wd_decay"),
    (dict(optax_name="adam", optax=dict(beta1=0.9)), r"beta1.*b1"),
    (dict(schedule=dict(decay_type="cosine", total=10)), r"total"),
    (dict(schedule=dict(decay_type="exp")), r"decay_type='exp'"),
    (dict(schedule=dict(decay_type="cosine", warmup_steps=10, total_steps=5)), r"total_steps"),
    (dict(frozen=["img/head/kernal"]), r"config.frozen.*img/head/kernal"),
    (dict(lr_mults=[("llm/.*", 2.0)]), r"config.lr_mults.*llm"),
    (dict(wd=0.1, wd_mults=[(".*/kernel", 1.0), (".*/w", 1.0)]), r"config.wd_mults.*\.\*/w"),
])
def test_config_errors_name_the_key(kw, match):
  params = make_params(SIGLIP_PATHS)
  with pytest.raises(ValueError, match=match):
    optim.make_optimizer(config(**kw), params)


@pytest.mark.parametrize("name,kwargs", [
    ("adam", dict(b2=0.95)), ("adamw", {}), ("adafactor", dict(min_dim_size_to_factor=4)),
    ("sgd", dict(momentum=0.9)), ("lion", dict(b1=0.9)),
])
def test_every_optimizer_descends_and_respects_frozen(name, kwargs):
  params = make_params({"img/head/kernel": (4, 8), "llm/final_norm/scale": (8,)})
  target = make_params({"img/head/kernel": (4, 8), "llm/final_norm/scale": (8,)}, seed=3)
  loss = lambda p: sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(p),
                                                            jax.tree.leaves(target)))
  tx, _ = optim.make_optimizer(
      config(optax_name=name, optax=kwargs, lr=0.01, frozen=["llm/.*"]), params)
  state, p = tx.init(params), params
  for _ in range(5):
    updates, state = tx.update(jax.grad(loss)(p), state, p)
    p = optax.apply_updates(p, updates)
  assert loss(p) < loss(params)
  frozen = lambda tree: tree["llm"]["final_norm"]["scale"]
  np.testing.assert_array_equal(frozen(p), frozen(params))


def test_unflatten_inverts_flatten_and_rejects_clashes():
  params = make_params(GEMMA_PATHS)
  flat = tree_lib.flatten(params)
  assert list(flat) == sorted(GEMMA_PATHS)  # dict trees flatten in sorted key order
  assert jax.tree.structure(tree_lib.unflatten(flat)) == jax.tree.structure(params)
  with pytest.raises(ValueError, match="a/b"):
    tree_lib.unflatten({"a": 1, "a/b": 2})


def test_softmax_xent_against_hand_numpy():
  logits = np.array([[[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]],
                     [[2.0, -1.0, 0.0], [1.0, 1.0, 1.0]]], np.float32)
  targets = np.array([[1, 2], [0, 1]])
  mask = np.array([[1, 1], [0, 1]])
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
  per_example = ((nll[0, 0] + nll[0, 1]) / 2 + nll[1, 1]) / 2
  per_token = (nll[0, 0] + nll[0, 1] + nll[1, 1]) / 3
  np.testing.assert_allclose(optim.softmax_xent(logits, targets, mask), per_example, rtol=1e-6)
  np.testing.assert_allclose(
      optim.softmax_xent(logits, targets, mask, normalisation="per_token"), per_token, rtol=1e-6)
  ls = 0.3  # big_vision's soft target: 0.7 on the label, 0.3 / (V - 1) = 0.15 elsewhere (V = 3).
  smooth = 0.7 * nll - 0.15 * (logp.sum(-1) + nll)  # 0.15 on each of the two other classes
  want = ((smooth[0, 0] + smooth[0, 1]) / 2 + smooth[1, 1]) / 2
  np.testing.assert_allclose(optim.softmax_xent(logits, targets, mask, ls), want, rtol=1e-6)


def test_accumulated_gradients_equal_full_batch():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)}
  batch = {"x": jnp.asarray(rng.normal(size=(8, 3, 5)), jnp.float32),
           "y": jnp.asarray(rng.integers(0, 7, size=(8, 3))),
           "m": jnp.asarray(np.concatenate([np.ones((8, 1)), rng.integers(0, 2, (8, 2))], 1))}

  def loss_fn(p, b):
    return optim.softmax_xent(jnp.einsum("BTD,DV->BTV", b["x"], p["w"]), b["y"], b["m"])

  loss_and_grad = jax.value_and_grad(loss_fn)
  full_loss, full_grads = loss_and_grad(params, batch)
  loss, grads = jax.jit(lambda p, b: optim.accumulate_gradients(loss_and_grad, p, b, 4))(
      params, batch)
  np.testing.assert_allclose(loss, full_loss, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(grads["w"], full_grads["w"], rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="num_micro=3"):
    optim.accumulate_gradients(loss_and_grad, params, batch, 3)
