"""The one softmax attention of both towers: SigLIP's encoder and Gemma's decoder (training,
prefill and decoding). The towers differ only in their masks (none for SigLIP; prefix-LM, causal
and sliding-window for Gemma, built in gemma.py) and in Gemma's grouped kv heads and soft-cap.

Axis letters: B batch, T queries, S keys, N query heads, K kv heads, G = N // K, H head dim.
"""
from typing import Callable

import jax
import jax.numpy as jnp

IMPLS = ("auto", "einsum", "xla")
_MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)


def attend(q, k, v, mask=None, *, scale: float, softcap: float | None = None,
           impl: str = "einsum", kv_layout: str = "BSKH", einsum: Callable = jnp.einsum):
  """softmax(softcap(scale q.k) where mask) . v, per head.

  q [B,T,N,H], k/v [B,S,K,H] (kv_layout 'BSKH') or [B,K,S,H] ('BKSH', Gemma's cache layout),
  mask [B,T,S] bool or None (every key) -> [B,T,N,H]. Logits (scaled, then soft-capped as
  tanh(l/c)*c) and softmax are float32. impl 'xla' uses jax.nn.dot_product_attention (no soft-cap)
  on 'BSKH' inputs; 'BKSH' inputs always take the einsum path (the same math, without transposing
  the cache). einsum: the einsum of the two products (a backend's own, see gemma.py).
  """
  if kv_layout not in ("BSKH", "BKSH"):
    raise ValueError(f"attend(kv_layout={kv_layout!r}); use 'BSKH' or 'BKSH'.")
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
