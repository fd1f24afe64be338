"""decode_cpu (the XLA:CPU decode layouts) computes exactly what the model's plain einsums define:
every product of the decoder, the [out, in] copies and their views, whole layers and logits."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import decode_cpu
from big_paligemma.models import gemma

_WEIGHT_EQNS = [  # (x shape without rows, weight shape, the model's einsum)
    ((32,), (4, 32, 8), "BTD,NDH->BTNH"),          # q_einsum [N,D,H]
    ((32,), (2, 2, 32, 8), "BTD,CKDH->BTCKH"),     # kv_einsum [2,K,D,H]
    ((4, 8), (4, 8, 32), "BTNH,NHD->BTD"),          # attn_vec_einsum [N,H,D]
    ((32,), (2, 32, 64), "BTD,CDF->BTCF"),         # mlp gating [2,D,F]
    ((64,), (64, 32), "BTF,FD->BTD"),              # mlp linear [F,D]
    ((32,), (50, 32), "BTD,VD->BTV"),              # logits on the [V,D] table
]


def _f64(a):
  return np.asarray(a, np.float64)


@pytest.mark.parametrize("x_shape,w_shape,eqn", _WEIGHT_EQNS)
@pytest.mark.parametrize("b,t", [(1, 1), (3, 1), (2, 40)])  # 1 row, few rows, 80 rows
def test_cpu_einsum_equals_the_einsum_on_weights(x_shape, w_shape, eqn, b, t):
  kx, kw = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (b, t) + x_shape)
  w = jax.random.normal(kw, w_shape)
  want = np.einsum(eqn, _f64(x), _f64(w))
  for out_in in (False, True):
    got = jax.jit(decode_cpu.CpuEinsum(out_in), static_argnums=0)(eqn, x, w)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("q_rows", [1, 6, 80])
def test_cpu_einsum_equals_the_einsum_on_attention(q_rows):
  """The two products of attention over a cache (query rows Q = T x G): the query-key one takes
  the cache on the left for few rows; the probabilities-values one is the plain einsum."""
  kq, kk, kp = jax.random.split(jax.random.key(1), 3)
  q, k = jax.random.normal(kq, (2, 2, q_rows, 8)), jax.random.normal(kk, (2, 2, 7, 8))
  probs = jax.random.normal(kp, (2, 2, q_rows, 7))
  cpu = decode_cpu.CpuEinsum()
  got = jax.jit(lambda q, k: cpu("BKQH,BKSH->BKQS", q, k, preferred_element_type=jnp.float32))(
      q, k)
  np.testing.assert_allclose(np.asarray(got), np.einsum("bkqh,bksh->bkqs", _f64(q), _f64(k)),
                             rtol=1e-5, atol=1e-5)
  got = jax.jit(lambda p, v: cpu("BKQS,BKSH->BKQH", p, v))(probs, k)
  np.testing.assert_allclose(np.asarray(got), np.einsum("bkqs,bksh->bkqh", _f64(probs), _f64(k)),
                             rtol=1e-5, atol=1e-5)


def _layers(cfg):
  params = gemma.Gemma(cfg).init(jax.random.key(1), jnp.zeros((1, 3, cfg.width)),
                                 jnp.zeros((1, 3), jnp.int32), jnp.ones((1, 3, 3), bool))
  return params["params"]["layers"]


def test_layer_weights_store_out_in_and_view_back_exactly():
  """Each projection is stored as [out, in] = the weight with its input axes first, flattened and
  transposed (checked by hand per weight), and `views` gives back the original weight; 1 row gets
  the plain per-layer weights."""
  cfg = gemma.GemmaConfig.tiny(2)
  layers = _layers(cfg)
  plain = decode_cpu.layer_weights(layers, rows=1)
  assert not plain.out_in and len(plain.layers) == cfg.num_layers
  dec = decode_cpu.layer_weights(layers, rows=8)
  assert dec.out_in and len(dec.layers) == cfg.num_layers
  n, k, d, h, f = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim, cfg.mlp_dim
  views = decode_cpu.views(dec)
  for i, layer in enumerate(dec.layers):
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
    for a, b in zip(jax.tree_util.tree_leaves(views[i]), jax.tree_util.tree_leaves(orig)):
      np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("b,t", [(1, 1), (3, 1), (2, 7)])
def test_cpu_decoder_equals_the_plain_model(version, b, t):
  """hidden and logits of the plain model (scanned) = the CPU decoder scanned, on plain per-layer
  weights and on the views of [out, in] copies."""
  cfg = gemma.GemmaConfig.tiny(version)
  model = gemma.Gemma(cfg)
  kx, kp = jax.random.split(jax.random.key(2))
  x = jax.random.normal(kx, (b, t, cfg.width))
  pos = jnp.broadcast_to(jnp.arange(t), (b, t))
  mask = gemma.make_attn_mask(jnp.ones((b, t), bool), jnp.ones((b, t), jnp.int32))
  params = model.init(kp, x, pos, mask)["params"]
  # Non-zero norm scales, so a mixed-up norm would show.
  params = {"params": jax.tree_util.tree_map(lambda a: a + 0.1 if a.ndim <= 2 else a, params)}

  def logits(m, weights):
    h, _ = m.apply(params, x, pos, mask, layer_weights=weights, method="hidden")
    return np.asarray(jax.jit(lambda h: m.apply(params, h, method="logits"))(h))
  want = logits(model, None)
  for rows in (None, 1, b * t):
    weights = decode_cpu.CpuWeights(None)
    if rows is not None:
      weights = decode_cpu.layer_weights(params["params"]["layers"], rows)
    got = logits(decode_cpu.decoder(model, weights), decode_cpu.views(weights))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_wrong_layer_lists_are_refused():
  cfg = gemma.GemmaConfig.tiny(1)
  layers = _layers(cfg)
  model = gemma.Gemma(cfg)
  x, pos = jnp.zeros((1, 2, cfg.width)), jnp.zeros((1, 2), jnp.int32)
  with pytest.raises(ValueError, match="layer_weights"):
    model.apply({"params": {"layers": layers}}, x, pos, jnp.ones((1, 2, 2), bool),
                layer_weights=gemma.layer_weights(layers)[:1], method="hidden")


@pytest.mark.parametrize("m", [1, 8, 64])
def test_weight_lhs_matmul_equals_the_plain_product(m):
  kx, kw = jax.random.split(jax.random.key(3))
  rows, w = jax.random.normal(kx, (m, 48)), jax.random.normal(kw, (80, 48))
  got = jax.jit(decode_cpu.weight_lhs_matmul)(rows, w)
  assert got.shape == (m, 80)
  np.testing.assert_allclose(np.asarray(got), _f64(rows) @ _f64(w).T, rtol=1e-5, atol=1e-5)
