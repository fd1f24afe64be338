"""attention_tpu.flash_attend, the Pallas flash attention for TPU (attn_impl='flash'): on the CPU
its kernels run in Pallas' interpreter and must give the dense attention's values and gradients
(grouped heads, big_vision's prefix-LM mask with padding tokens, soft-cap, sliding windows, lengths
that are not whole blocks, a query that sees no key); on a mesh it runs per shard; a PaliGemma with
both towers on it trains as with the einsum attention. On libtpu's compile-only v5e client the
kernels compile and hold no [T, S] logits in HBM."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import sharding
from big_paligemma.models import attention, attention_tpu, build, gemma, paligemma, siglip


def _inputs(seed, b, t, s, n, kv, h, dtype=jnp.float32):
  keys = jax.random.split(jax.random.key(seed), 4)
  q = jax.random.normal(keys[0], (b, t, n, h), dtype)
  k = jax.random.normal(keys[1], (b, s, kv, h), dtype)
  v = jax.random.normal(keys[2], (b, s, kv, h), dtype)
  d_out = jax.random.normal(keys[3], (b, t, n, h), dtype)
  return q, k, v, d_out


def _prefix_lm_mask(t, prefix, valid, window=None):
  """[B,T,T] big_vision's mask: each example's first `prefix` tokens see each other, the rest are
  causal; tokens from `valid` on are padding (they see nothing and nobody sees them)."""
  pos = np.arange(t)
  mask_ar = (pos[None] >= np.asarray(prefix)[:, None]).astype(np.int32)
  input_mask = pos[None] < np.asarray(valid)[:, None]
  mask = gemma.make_attn_mask(jnp.asarray(input_mask), jnp.asarray(mask_ar))
  if window:
    positions = jnp.broadcast_to(jnp.asarray(pos), (len(prefix), t))
    mask &= gemma.sliding_window_mask(positions, positions, window)
  return mask


def _dense(q, k, v, mask, softcap):
  return attention._attend_dense(q, k, v, mask, scale=q.shape[-1] ** -0.5, softcap=softcap,
                                 impl="einsum", kv_layout="BSKH", einsum=jnp.einsum)


def _flash(q, k, v, mask, softcap, block=128):
  return attention_tpu.flash_attend(q, k, v, mask, scale=q.shape[-1] ** -0.5, softcap=softcap,
                                    block_q=block, block_k=block)


def _values_and_grads(fn, q, k, v, d_out):
  out, vjp = jax.vjp(fn, q, k, v)
  return (out,) + vjp(d_out)


CASES = {
    # SigLIP: one query head per kv head, no mask, two whole blocks of 128.
    "siglip": dict(b=2, t=256, n=2, kv=2, h=16, masked=False, softcap=None),
    # PaliGemma's prefix-LM with padding tokens (queries that see no key), 200 tokens: two blocks
    # of 128, the second part padding; grouped heads (2 per kv head).
    "prefix_lm": dict(b=2, t=200, n=4, kv=2, h=16, masked=True, softcap=None),
    # Gemma 2: one kv head, soft-cap 50, a sliding window, 300 tokens (3 blocks).
    "gemma2_local": dict(b=2, t=300, n=2, kv=1, h=8, masked=True, softcap=50.0, window=70),
    # Fewer queries than keys (a pooling head's shape), neither a whole block.
    "cross": dict(b=1, t=100, s=300, n=2, kv=2, h=8, masked=False, softcap=None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flash_equals_the_dense_attention_values_and_gradients(case):
  c = CASES[case]
  q, k, v, d_out = _inputs(0, c["b"], c["t"], c.get("s", c["t"]), c["n"], c["kv"], c["h"])
  mask = None
  if c["masked"]:
    mask = _prefix_lm_mask(c["t"], prefix=[150, 60], valid=[c["t"], c["t"] - 37],
                           window=c.get("window"))
    assert not bool(mask[1, -1].any())  # a padding query sees no key: the dense softmax averages
  want = _values_and_grads(lambda *a: _dense(*a, mask, c["softcap"]), q, k, v, d_out)
  got = _values_and_grads(lambda *a: _flash(*a, mask, c["softcap"]), q, k, v, d_out)
  for name, w, g in zip(("out", "dq", "dk", "dv"), want, got):
    assert g.shape == w.shape and g.dtype == w.dtype, name
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5, atol=2e-5, err_msg=name)


def test_flash_in_bfloat16_is_the_dense_attention_to_bfloat16_rounding():
  """bfloat16 inputs, as the accelerator configs compute: float32 logits and statistics, the
  probabilities rounded to bfloat16 before P.V as in the dense path; outputs in bfloat16."""
  q, k, v, d_out = _inputs(3, 2, 200, 200, 4, 1, 32, jnp.bfloat16)
  mask = _prefix_lm_mask(200, prefix=[150, 60], valid=[200, 163])
  want = _values_and_grads(lambda *a: _dense(*a, mask, None), q, k, v, d_out)
  got = _values_and_grads(lambda *a: _flash(*a, mask, None), q, k, v, d_out)
  for name, w, g in zip(("out", "dq", "dk", "dv"), want, got):
    assert g.dtype == jnp.bfloat16, name
    w, g = np.asarray(w, np.float32), np.asarray(g, np.float32)
    assert np.abs(g - w).max() <= 0.02 * np.abs(w).max(), name


def test_flash_on_a_mesh_runs_per_shard_with_the_same_result():
  """Under `activation_mesh` (8 CPU devices: data 2 x fsdp 2 x tensor 2) the kernels run per
  shard: the batch over data x fsdp, the heads over tensor."""
  q, k, v, d_out = _inputs(1, 4, 160, 160, 4, 2, 8)
  mask = _prefix_lm_mask(160, prefix=[100, 20, 160, 1], valid=[160, 150, 90, 160])
  want = _values_and_grads(lambda *a: _dense(*a, mask, None), q, k, v, d_out)
  mesh = sharding.make_mesh((("data", 2), ("fsdp", 2), ("tensor", 2)))

  def fn(*a):
    with sharding.activation_mesh(mesh):
      return _flash(*a, mask, None)

  lowered = jax.jit(lambda *a: _values_and_grads(fn, *a)).lower(q, k, v, d_out).as_text()
  assert "sdy.manual_computation" in lowered and "tensor<1x160x2x8xf32>" in lowered  # a shard
  got = jax.jit(lambda *a: _values_and_grads(fn, *a))(q, k, v, d_out)
  for name, w, g in zip(("out", "dq", "dk", "dv"), want, got):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5, atol=2e-5, err_msg=name)


def test_bad_blocks_and_other_backends_are_clear_errors(monkeypatch):
  q, k, v, _ = _inputs(2, 1, 128, 128, 2, 2, 8)
  with pytest.raises(ValueError, match=r"block_q=100.*multiple of 128"):
    attention_tpu.flash_attend(q, k, v, scale=1.0, block_q=100)
  with pytest.raises(ValueError, match=r"mask \(1, 128, 64\)"):
    attention_tpu.flash_attend(q, k, v, jnp.ones((1, 128, 64), bool), scale=1.0)
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  with pytest.raises(ValueError, match="TPU kernel; on 'gpu' use attn_impl='xla'"):
    attention_tpu.flash_attend(q, k, v, scale=1.0)
  with pytest.raises(ValueError, match="SigLIPConfig.attn_impl='flesh'"):
    siglip.SigLIPConfig(width=32, depth=1, mlp_dim=64, num_heads=2, patch_size=8, image_size=32,
                        attn_impl="flesh")


def _tiny(attn_impl):
  return paligemma.PaliGemmaConfig(
      img=siglip.SigLIPConfig(width=32, depth=2, mlp_dim=64, num_heads=2, patch_size=4,
                              image_size=16, attn_impl=attn_impl),
      llm=gemma.GemmaConfig.tiny(2, attn_impl=attn_impl))


def test_a_paligemma_with_flash_towers_has_the_einsum_models_loss_and_gradients():
  """Both towers of a tiny PaliGemma 2 (Gemma 2: soft-cap, local and global layers) on the
  kernels: the loss and every parameter's gradient of a prefix-LM batch with padding equal the
  einsum attention's."""
  ref_cfg, flash_cfg = _tiny("einsum"), _tiny("flash")
  batch = _batch(ref_cfg)
  params = build.make_model(ref_cfg).init(jax.random.key(0), batch)["params"]

  def loss(cfg):
    model = build.make_model(cfg)

    def fn(p):
      logits, _ = model.apply({"params": p}, batch)
      return jnp.mean(jnp.where(batch["mask_input"][..., None], logits, 0.0) ** 2)
    return jax.jit(jax.value_and_grad(fn))(params)

  (want, want_grads), (got, got_grads) = loss(ref_cfg), loss(flash_cfg)
  np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
  for (path, w), g in zip(jax.tree_util.tree_leaves_with_path(want_grads),
                          jax.tree.leaves(got_grads)):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))


def _batch(cfg):
  b, t = 2, 24
  rng = np.random.default_rng(0)
  return {"image": jnp.asarray(rng.normal(size=(b, 16, 16, 3)), jnp.float32),
          "text": jnp.asarray(rng.integers(0, cfg.llm.vocab_size, (b, t)), jnp.int32),
          "mask_ar": jnp.asarray(np.arange(t)[None] >= np.array([[10], [15]]), jnp.int32),
          "mask_input": jnp.asarray(np.arange(t)[None] < np.array([[24], [19]]))}


@pytest.mark.usefixtures("trainer_precision")
def test_on_v5e_the_kernels_compile_and_hold_no_logits(v5e_2x2):
  """libtpu compiles the kernels (Mosaic) for a v5e:2x2 with the batch split over the 4 chips:
  the attention's forward and backward at 2304 tokens, 4 heads of 128, a prefix-LM mask, need
  under a quarter of the temporaries of the dense attention (its float32 logits alone are
  4 x 2304^2 x 4 B = 81 MiB per example), need no collective (each chip's kernels attend its own
  examples: shard_map) and tools.plan counts the kernels' FLOPs (blocks of 384: no padding)."""
  from tools import plan  # pylint: disable=import-outside-toplevel
  mesh = sharding.make_mesh((("data", -1), ("fsdp", 1), ("tensor", 1)), v5e_2x2)
  b, t, n, h = 8, 2304, 4, 128
  spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(("data", "fsdp")))
  qkv = jax.ShapeDtypeStruct((b, t, n, h), jnp.bfloat16, sharding=spec)
  mask = jax.ShapeDtypeStruct((b, t, t), jnp.bool_, sharding=spec)

  def compiled(impl):
    def loss(q, k, v, m):
      with sharding.activation_mesh(mesh):
        o = attention.attend(q, k, v, m, scale=h ** -0.5, impl=impl, query_block=0)
      return jnp.sum(o.astype(jnp.float32) ** 2)
    return jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(qkv, qkv, qkv, mask).compile()

  flash, dense = compiled("flash"), compiled("einsum")
  hlo = flash.as_text()
  assert hlo.count('custom_call_target="tpu_custom_call"') == 3  # forward, dK/dV, dQ
  flash_temp = flash.memory_analysis().temp_size_in_bytes
  dense_temp = dense.memory_analysis().temp_size_in_bytes
  assert dense_temp > 2 * 81 * 2**20  # two examples a chip: their logits are in HBM
  assert flash_temp < dense_temp / 4, (flash_temp, dense_temp)
  # Per chip (2 examples): the forward's two matmuls 4 B T^2 N H, the backward's seven 14 B T^2 N H
  # (dK/dV: logits, dP, dV, dK; dQ: logits, dP, dQ).
  per_chip = 2 * n * t * t * h
  stats = plan.hlo_stats(hlo)
  assert not stats.collectives, stats.collectives  # each chip attends its own examples
  assert stats.matmul_flops >= (4 + 14) * per_chip * 0.999, stats.matmul_flops
  assert stats.matmul_flops <= (4 + 14) * per_chip * 1.001, stats.matmul_flops
