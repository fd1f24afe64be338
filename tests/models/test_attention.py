"""attention.attend, the one softmax attention of SigLIP and Gemma, against its definition in numpy:
grouped heads, masks, soft-cap, both kv layouts, and SigLIP's unmasked call."""
import jax
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
