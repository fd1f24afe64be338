"""The one softmax attention of both towers: SigLIP's encoder and Gemma's decoder (training,
prefill and decoding). The towers differ only in their masks (none for SigLIP; prefix-LM, causal
and sliding-window for Gemma, built in gemma.py) and in Gemma's grouped kv heads and soft-cap.

Axis letters: B batch, T queries, S keys, N query heads, K kv heads, G = N // K, H head dim.
"""
from typing import Callable

import jax
import jax.numpy as jnp

IMPLS = ("auto", "einsum", "xla", "flash")
# Attention over more than BLOCKWISE_MIN_QUERIES queries (SigLIP and Gemma at 896: 4096 image
# tokens) runs QUERY_BLOCK queries at a time by default (the towers' `attn_query_block`; 0: all at
# once): the float32 logits of every query at once were the largest temporaries of the 896 train
# steps on TPU (tools.plan's buffer report: 14 GiB of SigLIP's and Gemma's logits and
# probabilities for 8 images a chip). The blocks' logits are recomputed in the backward pass:
# more attention work and HBM traffic for a smaller slice (BENCHMARKS.md).
BLOCKWISE_MIN_QUERIES = 2048
QUERY_BLOCK = 512
_MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)


def attend(q, k, v, mask=None, *, scale: float, softcap: float | None = None,
           impl: str = "einsum", kv_layout: str = "BSKH", einsum: Callable = jnp.einsum,
           query_block: int = QUERY_BLOCK):
  """softmax(softcap(scale q.k) where mask) . v, per head.

  q [B,T,N,H], k/v [B,S,K,H] (kv_layout 'BSKH') or [B,K,S,H] ('BKSH', Gemma's cache layout),
  mask [B,T,S] bool or None (every key) -> [B,T,N,H]. Logits (scaled, then soft-capped as
  tanh(l/c)*c) and softmax are float32. impl 'xla' uses jax.nn.dot_product_attention (no soft-cap)
  on 'BSKH' inputs; 'BKSH' inputs always take the einsum path (the same math, without transposing
  the cache). impl 'flash': the Pallas kernels of attention_tpu.py (TPU; Pallas' interpreter on
  the CPU), which hold no [T, S] logits in HBM, for 'BSKH' inputs (training, SigLIP, decoding
  without a cache); attention over a cache ('BKSH') takes the einsum path. einsum: the einsum of
  the two products (a backend's own, see gemma.py). Otherwise more than BLOCKWISE_MIN_QUERIES
  queries (a train step or a prefill at 896) run `query_block` at a time (0: all at once), with
  the same result.
  """
  if kv_layout not in ("BSKH", "BKSH"):
    raise ValueError(f"attend(kv_layout={kv_layout!r}); use 'BSKH' or 'BKSH'.")
  if not isinstance(query_block, int) or query_block < 0:
    raise ValueError(f"attend(query_block={query_block!r}); use a positive int, or 0 for all "
                     "queries at once.")
  if impl == "flash" and kv_layout == "BSKH":
    from big_paligemma.models import attention_tpu  # the TPU kernels: imported where chosen
    return attention_tpu.flash_attend(q, k, v, mask, scale=scale, softcap=softcap)
  if query_block and q.shape[1] > BLOCKWISE_MIN_QUERIES:
    return _attend_query_blocks(q, k, v, mask, scale=scale, softcap=softcap, impl=impl,
                                kv_layout=kv_layout, einsum=einsum, query_block=query_block)
  return _attend_dense(q, k, v, mask, scale=scale, softcap=softcap, impl=impl,
                       kv_layout=kv_layout, einsum=einsum)


def _attend_query_blocks(q, k, v, mask, *, scale: float, softcap: float | None, impl: str,
                         kv_layout: str, einsum: Callable, query_block: int):
  """`attend`, `query_block` queries at a time (a loop, each block's logits and probabilities
  recomputed in the backward pass), so that at most [B, N, query_block, S] float32 logits are
  live instead of [B, N, T, S]. Each query's softmax is over all its keys as before:
  the result is the dense attention's, rows computed in a different order. The queries are padded
  to whole blocks of a multiple of 8 rows; the padded rows see no key and are dropped."""
  b, t, n, h = q.shape
  num = -(-t // query_block)
  block = -(-t // num)
  block = -(-block // 8) * 8
  pad = num * block - t
  blocks = lambda x: jnp.moveaxis(
      jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)).reshape(b, num, block, *x.shape[2:]),
      1, 0)
  xs = (blocks(q),) if mask is None else (blocks(q), blocks(mask))

  def one(kv, x):
    return _attend_dense(x[0], kv[0], kv[1], None if mask is None else x[1], scale=scale,
                         softcap=softcap, impl=impl, kv_layout=kv_layout, einsum=einsum)

  one = jax.checkpoint(one, prevent_cse=False)
  out = jax.lax.map(lambda x: one((k, v), x), xs)  # [num, B, block, N, H]
  return jnp.moveaxis(out, 0, 1).reshape(b, num * block, n, h)[:, :t]


def _attend_dense(q, k, v, mask, *, scale: float, softcap: float | None, impl: str,
                  kv_layout: str, einsum: Callable):
  """`attend` with every query at once: the [B, N, T, S] logits in one piece."""
  if impl == "xla" and kv_layout == "BSKH":
    if softcap:
      raise ValueError("attend(impl='xla') has no soft-cap; use impl='einsum'.")
    return jax.nn.dot_product_attention(q, k, v, mask=None if mask is None else mask[:, None],
                                        scale=scale, implementation="xla")
  b, t, n, h = q.shape
  kv = k.shape[2] if kv_layout == "BSKH" else k.shape[1]
  qg = q.reshape(b, t, kv, n // kv, h)
  if kv_layout == "BKSH":
    return _attend_cache(qg, k, v, mask, scale, softcap, einsum).reshape(b, t, n, h)
  if kv == n:  # one query head per kv head (SigLIP): no G axis of size 1 for a compiler to move
    logits = einsum("BTNH,BSNH->BNTS", q, k, preferred_element_type=jnp.float32) * scale
    probs = _masked_softmax(logits, None if mask is None else mask[:, None], softcap)
    return einsum("BNTS,BSNH->BTNH", probs.astype(v.dtype), v)
  logits = einsum("BTKGH,BSKH->BKGTS", qg, k, preferred_element_type=jnp.float32) * scale
  probs = _masked_softmax(logits, None if mask is None else mask[:, None, None], softcap)
  return einsum("BKGTS,BSKH->BTKGH", probs.astype(v.dtype), v).reshape(b, t, n, h)


def _masked_softmax(logits, mask, softcap: float | None):
  """softmax over the last axis of the (soft-capped) float32 logits, masked keys excluded."""
  if softcap:
    logits = jnp.tanh(logits / softcap) * softcap
  if mask is not None:
    logits = jnp.where(mask, logits, _MASK_VALUE)
  return jax.nn.softmax(logits, axis=-1)


def _attend_cache(qg, k, v, mask, scale: float, softcap: float | None, einsum: Callable):
  """`attend` over a cache's k/v [B,K,S,H]: qg [B,T,K,G,H], mask [B,T,S] -> [B,T,K,G,H].

  The T queries and G heads of each kv head are one axis Q = (T, G) of the two batched dots (over
  B, K), so a decoding step (T = 1) runs them with no transpose of queries, probabilities or
  outputs."""
  b, t, kv, g, h = qg.shape
  q = jnp.moveaxis(qg, 1, 2).reshape(b, kv, t * g, h)  # [B,K,Q,H], Q = (T, G)
  logits = einsum("BKQH,BKSH->BKQS", q, k, preferred_element_type=jnp.float32) * scale
  logits = logits.reshape(b, kv, t, g, -1)
  mask = None if mask is None else mask[:, None, :, None]
  probs = _masked_softmax(logits, mask, softcap).astype(v.dtype)
  out = einsum("BKQS,BKSH->BKQH", probs.reshape(b, kv, t * g, -1), v)
  return jnp.moveaxis(out.reshape(b, kv, t, g, h), 2, 1)
