"""attention.attend, the one softmax attention of SigLIP and Gemma, against its definition in numpy:
grouped heads, masks, soft-cap, both kv layouts, and SigLIP's unmasked call."""
import jax
import jax.extend
import numpy as np
import pytest

from big_paligemma.models import attention


def _reference(q, k, v, mask, scale, cap):
  """numpy float64: q [B,T,N,H], k/v [B,S,K,H], mask [B,T,S] or None -> [B,T,N,H]."""
  b, t, n, h = q.shape
  kv = k.shape[2]
  qg = np.asarray(q, np.float64).reshape(b, t, kv, n // kv, h)
  logits = np.einsum("btkgh,bskh->btkgs", qg, np.asarray(k, np.float64)) * scale
  if cap:
    logits = np.tanh(logits / cap) * cap
  if mask is not None:
    logits = np.where(np.asarray(mask)[:, :, None, None], logits, -np.inf)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return np.einsum("btkgs,bskh->btkgh", probs, np.asarray(v, np.float64)).reshape(b, t, n, h)


@pytest.mark.parametrize("t", [1, 3, 40])  # decoding (T = 1) and prefill-like query counts
def test_attention_over_a_cache_layout_equals_the_definition(t):
  """attend on [B,K,S,H] keys/values (the cache) = softmax(cap(scale q.k) masked) v, computed in
  numpy, for decoding (T = 1) and prefill-like query counts."""
  b, n, k, s, h, cap, scale = 2, 4, 2, 7, 8, 5.0, 0.3
  kq, kk, kv, km = jax.random.split(jax.random.key(0), 4)
  q = jax.random.normal(kq, (b, t, n, h))
  keys, values = jax.random.normal(kk, (b, k, s, h)), jax.random.normal(kv, (b, k, s, h))
  mask = jax.random.bernoulli(km, 0.7, (b, t, s)).at[:, :, 0].set(True)
  got = jax.jit(lambda *a: attention.attend(*a, scale=scale, softcap=cap, kv_layout="BKSH"))(
      q, keys, values, mask)
  want = _reference(q, np.swapaxes(keys, 1, 2), np.swapaxes(values, 1, 2), mask, scale, cap)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", ["einsum", "xla"])
def test_unmasked_attention_as_siglip_calls_it(impl):
  """N = K heads, no mask (SigLIP's encoder and MAP head)."""
  kq, kk, kv = jax.random.split(jax.random.key(1), 3)
  q = jax.random.normal(kq, (2, 5, 3, 8))
  k, v = jax.random.normal(kk, (2, 7, 3, 8)), jax.random.normal(kv, (2, 7, 3, 8))
  got = jax.jit(lambda *a: attention.attend(*a, scale=8**-0.5, impl=impl))(q, k, v)
  np.testing.assert_allclose(np.asarray(got), _reference(q, k, v, None, 8**-0.5, None),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n,k", [(4, 2), (4, 4), (4, 1)])  # grouped, one head per kv head, MQA
def test_masked_soft_capped_attention_equals_the_definition(n, k):
  """attend on [B,S,K,H] keys/values (training, no cache) with a mask and a soft-cap."""
  b, t, h, cap, scale = 2, 6, 8, 5.0, 0.3
  kq, kk, kv, km = jax.random.split(jax.random.key(2), 4)
  q = jax.random.normal(kq, (b, t, n, h))
  keys, values = jax.random.normal(kk, (b, t, k, h)), jax.random.normal(kv, (b, t, k, h))
  mask = jax.random.bernoulli(km, 0.7, (b, t, t)).at[:, :, 0].set(True)
  got = jax.jit(lambda *a: attention.attend(*a, scale=scale, softcap=cap))(q, keys, values, mask)
  np.testing.assert_allclose(np.asarray(got), _reference(q, keys, values, mask, scale, cap),
                             rtol=1e-5, atol=1e-5)


def _shapes(jaxpr) -> set[tuple[int, ...]]:
  """Every intermediate's shape in `jaxpr` and in the jaxprs it calls (scan bodies, remat)."""
  out = set()
  for eqn in jaxpr.eqns:
    out.update(tuple(v.aval.shape) for v in eqn.outvars)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else [param]:
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          out |= _shapes(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          out |= _shapes(sub)
  return out


@pytest.mark.parametrize("impl,cap", [("einsum", 5.0), ("einsum", None), ("xla", None)])
def test_many_queries_attend_in_blocks_with_the_same_values_and_gradients(monkeypatch, impl, cap):
  """More than BLOCKWISE_MIN_QUERIES queries (896's 4096 image tokens) run QUERY_BLOCK at a time:
  the values and all three gradients equal the definition and the one-piece attention, for a
  query count that does not divide into blocks (padded rows dropped), with a mask (Gemma) and
  grouped heads, and no intermediate holds the [T, S] logits of every query at once."""
  monkeypatch.setattr(attention, "BLOCKWISE_MIN_QUERIES", 16)
  b, t, n, k, h, scale = 2, 21, 4, 2, 8, 0.3
  kq, kk, kv, km = jax.random.split(jax.random.key(3), 4)
  q = jax.random.normal(kq, (b, t, n, h))
  keys, values = jax.random.normal(kk, (b, t, k, h)), jax.random.normal(kv, (b, t, k, h))
  mask = jax.random.bernoulli(km, 0.7, (b, t, t)).at[:, :, 0].set(True)
  blocked = lambda *a: attention.attend(*a, mask, scale=scale, softcap=cap, impl=impl,
                                        query_block=8)
  dense = lambda *a: attention.attend(*a, mask, scale=scale, softcap=cap, impl=impl,
                                      query_block=0)
  np.testing.assert_allclose(np.asarray(jax.jit(blocked)(q, keys, values)),
                             _reference(q, keys, values, mask, scale, cap), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda *a: (f(*a) ** 2).sum()
  got = jax.grad(loss(blocked), argnums=(0, 1, 2))(q, keys, values)
  want = jax.grad(loss(dense), argnums=(0, 1, 2))(q, keys, values)
  for g, w in zip(got, want):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)
  shapes = _shapes(jax.make_jaxpr(jax.grad(loss(blocked)))(q, keys, values).jaxpr)
  assert not [s for s in shapes if t in s and s.count(t) >= 2], sorted(shapes)  # no [.., T, .., S]
  assert any(8 in s and t in s for s in shapes)  # the blocks' [.., 8, .., S] logits
  dense_shapes = _shapes(jax.make_jaxpr(jax.grad(loss(dense)))(q, keys, values).jaxpr)
  assert [s for s in dense_shapes if s.count(t) >= 2]  # query_block 0: [T, S], as the check sees
  default = lambda *a: attention.attend(*a, mask, scale=scale, softcap=cap, impl=impl)
  monkeypatch.setattr(attention, "BLOCKWISE_MIN_QUERIES", t)  # T queries: all at once
  assert [s for s in _shapes(jax.make_jaxpr(default)(q, keys, values).jaxpr) if s.count(t) >= 2]
  with pytest.raises(ValueError, match="query_block=-1"):
    attention.attend(q, keys, values, scale=scale, query_block=-1)


def test_a_long_prefill_over_the_cache_attends_in_blocks(monkeypatch):
  """A prefill of more than BLOCKWISE_MIN_QUERIES queries over the [B,K,S,H] cache (896's prompt
  pass) runs in blocks and equals the definition."""
  monkeypatch.setattr(attention, "BLOCKWISE_MIN_QUERIES", 16)
  b, t, s, n, k, h, scale = 2, 19, 23, 4, 1, 8, 0.3
  kq, kk, kv, km = jax.random.split(jax.random.key(4), 4)
  q = jax.random.normal(kq, (b, t, n, h))
  keys, values = jax.random.normal(kk, (b, k, s, h)), jax.random.normal(kv, (b, k, s, h))
  mask = jax.random.bernoulli(km, 0.7, (b, t, s)).at[:, :, 0].set(True)
  f = lambda *a: attention.attend(*a, mask, scale=scale, softcap=5.0, kv_layout="BKSH",
                                  query_block=8)
  got = jax.jit(f)(q, keys, values)
  want = _reference(q, np.swapaxes(keys, 1, 2), np.swapaxes(values, 1, 2), mask, scale, 5.0)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
  shapes = _shapes(jax.make_jaxpr(f)(q, keys, values).jaxpr)
  assert not [sh for sh in shapes if t in sh and s in sh and len(sh) > 3], sorted(shapes)


@pytest.mark.parametrize("tower", ["siglip", "gemma"])
def test_the_towers_attn_query_block_runs_their_attention_in_blocks(monkeypatch, tower):
  """SigLIPConfig/GemmaConfig.attn_query_block: the tower's output is the same with blocks as
  with every query at once (0), and a negative block is refused naming the field."""
  from big_paligemma.models import build, gemma, siglip
  monkeypatch.setattr(attention, "BLOCKWISE_MIN_QUERIES", 16)
  if tower == "siglip":
    make = lambda qb: siglip.SigLIPConfig(width=16, depth=2, mlp_dim=32, num_heads=2,
                                          patch_size=4, image_size=24, attn_query_block=qb)
    args = (jax.random.uniform(jax.random.key(5), (2, 24, 24, 3)),)  # 36 patches
  else:  # x [B,T,D], positions [B,T], a causal mask [B,T,S]
    make = lambda qb: gemma.GemmaConfig.tiny(attn_query_block=qb)
    t = 21
    args = (jax.random.normal(jax.random.key(5), (2, t, 32)),
            jax.numpy.broadcast_to(jax.numpy.arange(t), (2, t)),
            jax.numpy.broadcast_to(jax.numpy.tril(jax.numpy.ones((t, t), bool)), (2, t, t)))
  params = build.make_model(make(0)).init(jax.random.key(6), *args)
  blocks, real = [], attention._attend_query_blocks
  monkeypatch.setattr(attention, "_attend_query_blocks",
                      lambda *a, **kw: blocks.append(kw["query_block"]) or real(*a, **kw))
  outs = []
  for qb in (0, 8):
    outs.append(build.make_model(make(qb)).apply(params, *args))
    assert blocks == ([] if qb == 0 else [8] * len(blocks)) and (qb == 0 or blocks), blocks
  a, b = (jax.tree.leaves(o)[0] for o in outs)
  assert a.shape[:2] == (2, 36 if tower == "siglip" else t), a.shape
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
  name = "SigLIPConfig" if tower == "siglip" else "GemmaConfig"
  with pytest.raises(ValueError, match=f"{name}.attn_query_block=-1"):
    make(-1)
