"""Gemma decoder: mask rule, config validation, scan/unroll, attention paths, remat, KV cache."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma.models import gemma

B, T = 2, 10


def _inputs(cfg, seed=0):
  tokens = jax.random.randint(jax.random.key(seed), (B, T), 1, cfg.vocab_size)
  positions = jnp.broadcast_to(jnp.arange(T), (B, T))
  mask = gemma.make_attn_mask(jnp.ones((B, T), bool), jnp.ones((B, T), jnp.int32))
  return tokens, positions, mask


def _init(cfg, seed=0):
  tokens, positions, mask = _inputs(cfg)
  model = gemma.Gemma(cfg)
  x = jnp.zeros((B, T, cfg.width))
  params = model.init(jax.random.key(seed), x, positions, mask)
  # Non-zero norm scales so that the (1 + scale) convention matters.
  return jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(1), p.shape), params)


def _logits(cfg, params, **kw):
  """Full-forward logits [B,T,V], jitted (op-by-op dispatch through nn.scan is slow)."""
  tokens, positions, mask = _inputs(cfg)
  model = gemma.Gemma(cfg)
  rngs = kw.pop("rngs", None)

  @jax.jit
  def forward(params, rngs):
    x = model.apply(params, tokens, method=gemma.Gemma.embed)
    return model.apply(params, x, positions, mask, rngs=rngs, **kw)[0]

  return forward(params, rngs)


def test_make_attn_mask_follows_the_cumsum_rule():
  # Prefix of 3 (mask_ar 0), then 2 causal tokens, then one padding token.
  mask = gemma.make_attn_mask(jnp.array([[1, 1, 1, 1, 1, 0]], bool),
                              jnp.array([[0, 0, 0, 1, 1, 1]]))[0]
  expected = np.zeros((6, 6), bool)
  expected[:3, :3] = True           # the prefix is bidirectional
  expected[3, :4] = True            # suffix token 3 sees the prefix and itself
  expected[4, :5] = True
  np.testing.assert_array_equal(mask, expected)


def test_sliding_window_mask_keeps_the_last_w_keys():
  pos = jnp.arange(6)[None]
  window = gemma.sliding_window_mask(pos, pos, 3)[0] & np.tril(np.ones((6, 6), bool))
  q, k = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
  np.testing.assert_array_equal(window, (q - 3 < k) & (k <= q))


def test_config_errors_name_the_values():
  with pytest.raises(ValueError, match="num_heads=6.*num_kv_heads=4"):
    gemma.GemmaConfig.tiny(num_heads=6, num_kv_heads=4)
  with pytest.raises(ValueError, match="sliding_window"):
    gemma.GemmaConfig.tiny(layer_pattern=("local",))
  with pytest.raises(ValueError, match="remat_policy='some'"):
    gemma.GemmaConfig.tiny(remat_policy="some")
  with pytest.raises(ValueError, match="attn_impl='xla'.*softcap"):
    gemma.GemmaConfig.tiny(2, attn_impl="xla")
  with pytest.raises(ValueError, match="scan_unroll=3"):
    gemma.GemmaConfig.tiny(scan_unroll=3)


def test_layer_pattern_repeats_cyclically():
  cfg = gemma.GemmaConfig.tiny(3, num_layers=7, layer_pattern=("local",) * 5 + ("global",))
  assert cfg.is_local == (True,) * 5 + (False, True)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_scanned_and_unrolled_are_equal(version):
  cfg = gemma.GemmaConfig.tiny(version)
  params = _init(cfg)
  unrolled = dataclasses.replace(cfg, scan_unroll=cfg.num_layers)
  np.testing.assert_allclose(_logits(cfg, params), _logits(unrolled, params), atol=1e-5, rtol=0)


@pytest.mark.parametrize("version", [1, 3])
def test_einsum_and_xla_attention_are_equal(version):
  cfg = gemma.GemmaConfig.tiny(version, attn_impl="einsum")
  params = _init(cfg)
  xla = dataclasses.replace(cfg, attn_impl="xla")
  np.testing.assert_allclose(_logits(cfg, params), _logits(xla, params), atol=1e-5, rtol=0)


def test_remat_keeps_values_and_gradients():
  cfg = gemma.GemmaConfig.tiny(2)
  params = _init(cfg)
  remat = dataclasses.replace(cfg, remat_policy="dots_saveable")
  loss = lambda c: lambda p: _logits(c, p).sum()  # noqa: E731
  np.testing.assert_allclose(_logits(cfg, params), _logits(remat, params), atol=1e-6, rtol=0)
  g1, g2 = jax.grad(loss(cfg))(params), jax.grad(loss(remat))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5), g1, g2)


def test_dropout_is_active_only_when_not_deterministic():
  cfg = gemma.GemmaConfig.tiny(1, dropout=0.5, remat_policy="nothing_saveable")
  params = _init(cfg)
  rngs = {"dropout": jax.random.key(3)}
  train = _logits(cfg, params, deterministic=False, rngs=rngs)
  assert np.abs(train - _logits(cfg, params)).max() > 1e-3


def test_dropout_drops_the_mlp_output_before_its_post_norm():
  # big_vision's block (Gemma 2/3 post-norms): x + drop(post_attn_norm(attn)), then
  # x + post_ffw_norm(drop(mlp)): the MLP norm's output holds the dropped zeros, the attention's not.
  cfg = gemma.GemmaConfig.tiny(2, dropout=0.5)
  assert cfg.post_attn_norm and cfg.post_ffw_norm
  _, positions, mask = _inputs(cfg)
  ctx = {"mask_global": mask, "mask_local": mask}
  for kind in ("local", "global"):
    ctx[f"sin_{kind}"], ctx[f"cos_{kind}"] = gemma.rope_tables(positions, cfg.head_dim, 1e4, 1.0)
  block = gemma.Block(cfg)
  x = jax.random.normal(jax.random.key(0), (B, T, cfg.width))
  layer_in = (jnp.array(False), None)
  params = block.init(jax.random.key(1), x, layer_in, ctx, True)
  _, state = block.apply(params, x, layer_in, ctx, False, rngs={"dropout": jax.random.key(2)},
                         capture_intermediates=True, mutable=["intermediates"])
  out = lambda name: np.asarray(state["intermediates"][name]["__call__"][0])
  assert 0.4 < np.mean(out("post_ffw_norm") == 0) < 0.6
  assert np.mean(out("post_attention_norm") == 0) == 0


@pytest.mark.parametrize("version", [1, 2, 3])
def test_prefill_then_extend_matches_full_forward(version):
  cfg = gemma.GemmaConfig.tiny(version)  # Gemma 2/3: window 4 < T = 10, Gemma 2: soft-caps.
  params = _init(cfg)
  model = gemma.Gemma(cfg)
  tokens, positions, mask = _inputs(cfg)
  full = _logits(cfg, params)
  x = model.apply(params, tokens, method=gemma.Gemma.embed)
  cache = gemma.init_cache(cfg, B, T)
  t0 = 4
  call = jax.jit(model.apply)  # One compile for the prefill shape, one for the 1-token steps.
  logits, cache = call(params, x[:, :t0], positions[:, :t0], mask[:, :t0], cache)
  steps = [logits]
  for t in range(t0, T):
    logits, cache = call(params, x[:, t:t + 1], positions[:, t:t + 1], mask[:, t:t + 1], cache)
    steps.append(logits)
  assert int(cache.index) == T
  # Jitted prefill/extend and the jitted full forward reassociate float32 sums differently:
  # ~1e-5 absolute on logits of magnitude ~10, hence the small relative term.
  np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-5, rtol=2e-6)


def test_hidden_then_logits_equals_call():
  cfg = gemma.GemmaConfig.tiny(2)
  params = _init(cfg)
  tokens, positions, mask = _inputs(cfg)
  model = gemma.Gemma(cfg)
  x = model.apply(params, tokens, method=gemma.Gemma.embed)
  h, _ = model.apply(params, x, positions, mask, method=gemma.Gemma.hidden)
  assert h.shape == (B, T, cfg.width)
  np.testing.assert_allclose(model.apply(params, h, method=gemma.Gemma.logits),
                             _logits(cfg, params), atol=1e-5, rtol=0)


def test_param_paths_and_dtypes():
  cfg = gemma.GemmaConfig.tiny(3, param_dtype="bfloat16", dtype="bfloat16")
  tokens, positions, mask = _inputs(cfg)
  params = jax.eval_shape(gemma.Gemma(cfg).init, jax.random.key(0),
                          jnp.zeros((B, T, cfg.width)), positions, mask)["params"]
  L, N, K, D, H, F = 3, 4, 2, 32, 8, 64
  assert params["layers"]["attn"]["q_einsum"]["w"].shape == (L, N, D, H)
  assert params["layers"]["attn"]["kv_einsum"]["w"].shape == (L, 2, K, D, H)
  assert params["layers"]["attn"]["attn_vec_einsum"]["w"].shape == (L, N, H, D)
  assert params["layers"]["attn"]["query_norm"]["scale"].shape == (L, H)
  assert params["layers"]["mlp"]["gating_einsum"].shape == (L, 2, D, F)
  assert params["layers"]["mlp"]["linear"].shape == (L, F, D)
  assert params["embedder"]["input_embedding"].dtype == jnp.bfloat16
  logits, _ = jax.eval_shape(gemma.Gemma(cfg).apply, {"params": params},
                             jnp.zeros((B, T, D), jnp.bfloat16), positions, mask)
  assert logits.dtype == jnp.float32
