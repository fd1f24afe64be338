"""gemma.contract_width equals the einsum that defines each projection, on stored weights and on
the views of `decode_layers`' [out, in] copies; and those views cost no copy inside a token loop."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma.models import gemma

_CASES = [  # (weight shape, d_axis, einsum of x [B,T,D] with the weight)
    ((4, 32, 8), 1, "BTD,NDH->BTNH"),          # q_einsum [N,D,H]
    ((2, 2, 32, 8), 2, "BTD,CKDH->BTCKH"),     # kv_einsum [2,K,D,H]
    ((2, 32, 64), 1, "BTD,CDF->BTCF"),         # mlp gating [2,D,F]
]


@pytest.mark.parametrize("shape,d_axis,eqn", _CASES)
@pytest.mark.parametrize("b,t", [(1, 1), (3, 1), (2, 40)])
def test_contract_width_equals_einsum(shape, d_axis, eqn, b, t):
  kx, kw = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (b, t, shape[d_axis]))
  w = jax.random.normal(kw, shape)
  want = np.einsum(eqn, np.asarray(x, np.float64), np.asarray(w, np.float64))
  got = gemma.contract_width(x, w, d_axis)
  assert got.shape == want.shape
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def _layers(cfg):
  params = gemma.Gemma(cfg).init(jax.random.key(1), jnp.zeros((1, 3, cfg.width)),
                                 jnp.zeros((1, 3), jnp.int32), jnp.ones((1, 3, 3), bool))
  return params["params"]["layers"]


def test_decode_layers_store_out_in_and_view_back_exactly():
  """Each projection is stored as [out, in] = the weight with its input axes first, flattened and
  transposed (checked by hand per weight), and the layer's view of it is the original weight."""
  cfg = gemma.GemmaConfig.tiny(2)
  layers = _layers(cfg)
  dec = gemma.decode_layers(layers)
  assert len(dec) == cfg.num_layers
  n, k, d, h, f = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim, cfg.mlp_dim
  for i, layer in enumerate(dec):
    p, orig = layer.params, jax.tree_util.tree_map(lambda a, i=i: np.asarray(a[i]), layers)
    q = np.asarray(p["attn"]["q_einsum"]["w"])  # [N*H, D]: row n*H + h is w[n, :, h]
    assert q.shape == (n * h, d)
    np.testing.assert_array_equal(q[1 * h + 2], orig["attn"]["q_einsum"]["w"][1, :, 2])
    kv = np.asarray(p["attn"]["kv_einsum"]["w"])  # [2*K*H, D]: row (c*K + j)*H + e
    assert kv.shape == (2 * k * h, d)
    np.testing.assert_array_equal(kv[(1 * k + 1) * h + 3],
                                  orig["attn"]["kv_einsum"]["w"][1, 1, :, 3])
    o = np.asarray(p["attn"]["attn_vec_einsum"]["w"])  # [D, N*H]
    np.testing.assert_array_equal(o, orig["attn"]["attn_vec_einsum"]["w"].reshape(n * h, d).T)
    g = np.asarray(p["mlp"]["gating_einsum"])  # [2*F, D]: row c*F + j is w[c, :, j]
    np.testing.assert_array_equal(g[f + 5], orig["mlp"]["gating_einsum"][1, :, 5])
    np.testing.assert_array_equal(np.asarray(p["mlp"]["linear"]), orig["mlp"]["linear"].T)
    np.testing.assert_array_equal(np.asarray(p["pre_attention_norm"]["scale"]),
                                  orig["pre_attention_norm"]["scale"])
    view = gemma._params_view(cfg, layer)  # pylint: disable=protected-access
    for a, b in zip(jax.tree_util.tree_leaves(view), jax.tree_util.tree_leaves(orig)):
      np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("b,t", [(1, 1), (3, 1), (2, 7)])
def test_hidden_is_the_same_scanned_sliced_or_on_decode_layers(version, b, t):
  cfg = gemma.GemmaConfig.tiny(version)
  model = gemma.Gemma(cfg)
  kx, kp = jax.random.split(jax.random.key(2))
  x = jax.random.normal(kx, (b, t, cfg.width))
  pos = jnp.broadcast_to(jnp.arange(t), (b, t))
  mask = gemma.make_attn_mask(jnp.ones((b, t), bool), jnp.ones((b, t), jnp.int32))
  params = model.init(kp, x, pos, mask)["params"]
  # Non-zero norm scales, so a mixed-up norm would show.
  params = jax.tree_util.tree_map(lambda a: a + 0.1 if a.ndim <= 2 else a, params)
  hidden = lambda lp: model.apply({"params": params}, x, pos, mask, layer_params=lp,  # noqa: E731
                                  method="hidden")[0]
  want = hidden(None)
  for layers in (gemma.unstack_layers(params["layers"]), gemma.decode_layers(params["layers"])):
    np.testing.assert_allclose(np.asarray(hidden(layers)), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_wrong_layer_lists_are_refused():
  cfg = gemma.GemmaConfig.tiny(1)
  layers = _layers(cfg)
  model = gemma.Gemma(cfg)
  x, pos = jnp.zeros((1, 2, cfg.width)), jnp.zeros((1, 2), jnp.int32)
  mask = jnp.ones((1, 2, 2), bool)
  mixed = (gemma.unstack_layers(layers)[0], gemma.decode_layers(layers)[1])
  for bad in (mixed, gemma.decode_layers(layers)[:1]):
    with pytest.raises(ValueError, match="decode_layers"):
      model.apply({"params": {"layers": layers}}, x, pos, mask, layer_params=bad, method="hidden")


def test_token_loop_matmuls_read_the_stored_weights_in_place():
  """Inside a while loop over decode_layers weights, every projection is one dot on the stored
  [out, in] matrix contracting its minor axis: no transpose or copy of a weight-sized array."""
  cfg = gemma.GemmaConfig.tiny(1, width=64, mlp_dim=128, num_heads=4, num_kv_heads=2,
                               head_dim=16, num_layers=2)
  model = gemma.Gemma(cfg)
  params = model.init(jax.random.key(1), jnp.zeros((1, 3, cfg.width)),
                      jnp.zeros((1, 3), jnp.int32), jnp.ones((1, 3, 3), bool))["params"]
  dec = gemma.decode_layers(params["layers"])

  def run(params, dec, x):
    def body(c):
      i, x = c
      h, _ = model.apply({"params": params}, x, jnp.zeros((4, 1), jnp.int32),
                         jnp.ones((4, 1, 1), bool), layer_params=dec, method="hidden")
      return i + 1, h
    return jax.lax.while_loop(lambda c: c[0] < 3, body, (0, x))[1]

  hlo = jax.jit(run).lower(params, dec, jnp.ones((4, 1, cfg.width))).compile().as_text()
  weight_sizes = {a.size for a in jax.tree_util.tree_leaves(dec) if a.ndim == 2}
  for line in hlo.splitlines():
    m = re.search(r"= f32\[([\d,]+)\]\S* (copy|transpose)\(", line)
    if m:
      size = int(np.prod([int(s) for s in m.group(1).split(",")]))
      assert size not in weight_sizes, line
  dots = [l for l in hlo.splitlines() if " dot(" in l and "batch_dims" not in l]  # not attention
  assert len(dots) == 5 * cfg.num_layers, dots  # q, kv, attn_vec, gating, linear per layer
  # The weight on the left (weight_lhs_matmul): the product is [out, rows=4], both operands
  # contracted on their minor axis.
  assert all(re.search(r"= f32\[\d+,4\]\S* dot\(", l) and "lhs_contracting_dims={1}, "
             "rhs_contracting_dims={1}" in l for l in dots), dots


@pytest.mark.parametrize("m", [1, 8, 64])
def test_weight_lhs_matmul_equals_the_plain_product(m):
  kx, kw = jax.random.split(jax.random.key(3))
  rows, w = jax.random.normal(kx, (m, 48)), jax.random.normal(kw, (80, 48))
  want = np.asarray(rows, np.float64) @ np.asarray(w, np.float64).T
  got = jax.jit(gemma.weight_lhs_matmul)(rows, w)
  assert got.shape == (m, 80)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("b,t", [(2, 1), (4, 16), (3, 40)])  # 2 and 64 rows: table on the left
def test_embedder_logits_equal_the_einsum_for_few_and_many_rows(b, t):
  emb = gemma.Embedder(vocab_size=50, width=24)
  h = jax.random.normal(jax.random.key(4), (b, t, 24))
  params = emb.init(jax.random.key(5), h, method="decode")
  table = np.asarray(params["params"]["input_embedding"], np.float64)
  want = np.einsum("btd,vd->btv", np.asarray(h, np.float64), table)
  got = emb.apply(params, h, method="decode")
  assert got.shape == (b, t, 50) and got.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
