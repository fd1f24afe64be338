"""Flash attention for TPU: `attention.attend` in Pallas kernels that never write the [T, S] logits
to HBM (DESIGN rule 10: a backend's trick beside the model, chosen with `attn_impl='flash'`).

The same function as `attention._attend_dense` (softmax of the scaled, optionally soft-capped
float32 logits where the [B, T, S] mask allows, masked logits set to `attention._MASK_VALUE`, so a
query that sees no key averages every value as the dense softmax does), computed a block of keys at
a time with the running max and sum of the online softmax (Dao et al. 2022, "FlashAttention"). The
backward pass recomputes each block's probabilities from the saved log-sum-exp: one kernel
accumulates dK and dV over the query blocks, one dQ over the key blocks.

Orientation: every kernel holds a block as [keys, queries] (keys on the sublanes, queries on the
lanes), so the per-query statistics (max, sum, log-sum-exp, dO.O) are rows [1, bq] that broadcast
over a block with no transpose; the output is written as O^T [H, bq] and transposed by XLA.

Inputs [B, T, N, H] / [B, S, K, H] (grouped kv heads: query head n reads kv head n // (N / K)). On a
mesh (`sharding.activation_mesh`) the kernels run per shard (`shard_map`): the batch over the
mesh's batch axes, the heads over "tensor" where both head counts divide (the trainer's step and
the decode's prompt pass set that mesh). Without one the kernels take the whole arrays: a batch
sharded over chips is gathered onto each first (an all-gather, then every chip attends every
example). The platform is the mesh's devices' (else jax's default backend). On the CPU the
kernels run in Pallas' interpreter (for tests: slow, and the same arithmetic); other backends
raise.
"""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from big_paligemma import sharding

# Queries and keys per block: a [512, 512] float32 logits block is 1 MiB of the 16 MiB scoped
# VMEM of a v5e core (the defaults of jax's own TPU flash kernel are the same size).
BLOCK = 512
_LANES = 128
_MASK_VALUE = -0.7 * float(np.finfo(np.float32).max)  # attention._MASK_VALUE
_NT = (((1,), (1,)), ((), ()))  # a [m, h] x b [n, h] -> [m, n]
_TN = (((0,), (0,)), ((), ()))  # a [k, m] x b [k, n] -> [m, n]


def flash_attend(q, k, v, mask=None, *, scale: float, softcap: float | None = None,
                 block_q: int = BLOCK, block_k: int = BLOCK, interpret: bool | None = None):
  """softmax(softcap(scale q.k) where mask) . v, per head, in Pallas kernels.

  q [B,T,N,H], k/v [B,S,K,H] (N a multiple of K), mask [B,T,S] bool or None -> [B,T,N,H] in q's
  dtype. block_q / block_k: the most queries / keys per block (multiples of 128; each takes the
  multiple of 128 up to it that pads the sequence least). interpret: run Pallas' interpreter (default: on the
  CPU only)."""
  b, t, n, h = q.shape
  s, kv = k.shape[1], k.shape[2]
  if k.shape != (b, s, kv, h) or v.shape != k.shape or n % kv:
    raise ValueError(f"flash_attend: q {q.shape}, k {k.shape}, v {v.shape}; want q [B,T,N,H] and "
                     "k, v [B,S,K,H] with N a multiple of K.")
  if mask is not None and mask.shape != (b, t, s):
    raise ValueError(f"flash_attend: mask {mask.shape}; want [B,T,S] = {(b, t, s)}.")
  for name, blk in (("block_q", block_q), ("block_k", block_k)):
    if not isinstance(blk, int) or blk <= 0 or blk % _LANES:
      raise ValueError(f"flash_attend({name}={blk!r}): use a positive multiple of {_LANES}.")
  mesh = sharding._ACTIVATION_MESH.get()
  platform = (mesh.devices.flat[0].platform if mesh is not None else jax.default_backend())
  if interpret is None:
    if platform not in ("tpu", "cpu"):
      raise ValueError(f"attn_impl='flash' is a TPU kernel; on {platform!r} use attn_impl='xla' "
                       "or 'einsum'.")
    interpret = platform == "cpu"
  fn = functools.partial(_flash, scale=float(scale), softcap=float(softcap or 0.0),
                         block_q=block_q, block_k=block_k, interpret=bool(interpret))
  has_mask = mask is not None
  args = (q, k, v) + ((mask,) if has_mask else ())
  if mesh is None or mesh.size == 1:
    return fn(*args)
  batch = sharding.logical_to_spec([sharding.BATCH], mesh.axis_names)[0]
  tensor = mesh.shape.get("tensor", 1)
  heads = "tensor" if tensor > 1 and n % tensor == 0 and kv % tensor == 0 else None
  qspec = jax.sharding.PartitionSpec(batch, None, heads, None)
  specs = (qspec, qspec, qspec) + ((jax.sharding.PartitionSpec(batch, None, None),)
                                   if has_mask else ())
  return jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=qspec, check_vma=False)(*args)


def _flash(q, k, v, mask=None, *, scale, softcap, block_q, block_k, interpret):
  """flash_attend on one shard: pads T and S to whole blocks, runs the kernels in [B,N,T,H]."""
  t, s = q.shape[1], k.shape[1]
  bq, bk = _block(t, block_q), _block(s, block_k)
  tp, sp = _round_up(t, bq), _round_up(s, bk)
  heads_first = lambda x, length: jnp.pad(jnp.swapaxes(x, 1, 2),
                                          [(0, 0), (0, 0), (0, length - x.shape[1]), (0, 0)])
  qh, kh, vh = heads_first(q, tp), heads_first(k, sp), heads_first(v, sp)
  if mask is None:
    mask_t = None
  else:  # [B, S, T] int8: the kernels read it [keys, queries]
    mask_t = jnp.pad(jnp.swapaxes(mask, 1, 2).astype(jnp.int8), [(0, 0), (0, sp - s), (0, tp - t)])
  cfg = _Config(scale=scale, softcap=softcap, bq=bq, bk=bk, keys=s, interpret=interpret)
  out = _attend(cfg, qh, kh, vh, mask_t)  # [B, N, H, Tp]
  return jnp.moveaxis(out, 3, 1)[:, :t]


class _Config(tuple):
  """The static settings of one call (hashable: custom_vjp's nondiff argument)."""

  def __new__(cls, **kw):
    obj = super().__new__(cls, tuple(sorted(kw.items())))
    obj.__dict__.update(kw)
    return obj


def _round_up(x: int, m: int) -> int:
  return -(-x // m) * m


def _block(length: int, most: int) -> int:
  """The multiple of 128 up to `most` that pads `length` least (the largest of equals): 4128
  tokens (896's prefix and 32 of text) take blocks of 384 (4224, not 4608 with 512)."""
  return min(range(_LANES, most + 1, _LANES), key=lambda b: (_round_up(length, b), -b))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _attend(cfg, q, k, v, mask_t):
  return _forward(cfg, q, k, v, mask_t)[0]


def _attend_fwd(cfg, q, k, v, mask_t):
  out, m, inv_l = _forward(cfg, q, k, v, mask_t)
  return out, (q, k, v, mask_t, out, m, inv_l)


def _attend_bwd(cfg, res, d_out):
  q, k, v, mask_t, out, m, inv_l = res
  # D = rowsum(dO * O) per query, as a row [B, N, 1, Tp]; dO back in [B, N, Tp, H].
  delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=2, keepdims=True)
  d_out = jnp.swapaxes(d_out, 2, 3)
  dq, dk, dv = _backward(cfg, q, k, v, mask_t, d_out, (m, inv_l, delta))
  return dq, dk, dv, None


_attend.defvjp(_attend_fwd, _attend_bwd)


def _logits_t(cfg, q, k, mask_ref, key_start):
  """One block's [bk, bq] float32 logits (scaled, soft-capped, masked) and tanh (or None)."""
  raw = jax.lax.dot_general(k, q, _NT, preferred_element_type=jnp.float32) * cfg.scale
  tanh = None
  if cfg.softcap:
    tanh = jnp.tanh(raw / cfg.softcap)
    raw = tanh * cfg.softcap
  if mask_ref is not None:
    raw = jnp.where(mask_ref[...] != 0, raw, _MASK_VALUE)
  if cfg.keys % cfg.bk:  # keys padded to a whole block: weight 0, even for a query that sees none
    rows = key_start + jax.lax.broadcasted_iota(jnp.int32, raw.shape, 0)
    raw = jnp.where(rows < cfg.keys, raw, -jnp.inf)
  return raw, tanh


def _specs(cfg, groups, q_axis, k_axis, with_mask):
  """BlockSpecs of q/dO [B,N,Tp,H] row blocks, k/v [B,K,Sp,H] row blocks, mask^T [B,Sp,Tp] and
  rows [B,N,1,Tp], for a grid (b, n, i, j) whose query block is axis q_axis and key block k_axis."""
  sq = pl.Squeezed()
  qi = lambda *g: g[q_axis]
  ki = lambda *g: g[k_axis]
  q_block = lambda h: pl.BlockSpec((sq, sq, cfg.bq, h), lambda *g: (g[0], g[1], qi(*g), 0))
  k_block = lambda h: pl.BlockSpec((sq, sq, cfg.bk, h), lambda *g: (g[0], g[1] // groups, ki(*g), 0))
  row = pl.BlockSpec((sq, sq, 1, cfg.bq), lambda *g: (g[0], g[1], 0, qi(*g)))
  mask = (pl.BlockSpec((sq, cfg.bk, cfg.bq), lambda *g: (g[0], ki(*g), qi(*g)))
          if with_mask else None)
  return q_block, k_block, row, mask


def _forward(cfg, q, k, v, mask_t):
  """O^T [B,N,H,Tp] and the rows [B,N,1,Tp] (float32) of each query's largest logit m and
  1 / sum(exp(logits - m)). (Not their log-sum-exp: for a query that sees no key, m is the mask
  value, -1.7e38, and m + log(S) == m in float32.)"""
  b, n, tp, h = q.shape
  kv, sp = k.shape[1], k.shape[2]
  groups = n // kv
  grid = (b, n, tp // cfg.bq, sp // cfg.bk)
  q_block, k_block, row, mask_spec = _specs(cfg, groups, 2, 3, mask_t is not None)
  out_spec = pl.BlockSpec((pl.Squeezed(), pl.Squeezed(), h, cfg.bq),
                          lambda bi, ni, i, j: (bi, ni, 0, i))

  def kernel(*refs):
    if mask_t is None:
      q_ref, k_ref, v_ref, o_ref, m_ref, inv_l_ref, m_sc, l_sc, acc_sc = refs
      mask_ref = None
    else:
      q_ref, k_ref, v_ref, mask_ref, o_ref, m_ref, inv_l_ref, m_sc, l_sc, acc_sc = refs
    j = pl.program_id(3)

    @pl.when(j == 0)
    def _():
      m_sc[...] = jnp.full(m_sc.shape, _MASK_VALUE, jnp.float32)
      l_sc[...] = jnp.zeros(l_sc.shape, jnp.float32)
      acc_sc[...] = jnp.zeros(acc_sc.shape, jnp.float32)

    logits, _ = _logits_t(cfg, q_ref[...], k_ref[...], mask_ref, j * cfg.bk)
    m_old = m_sc[...]
    m_new = jnp.maximum(m_old, jnp.max(logits, axis=0, keepdims=True))  # [1, bq]
    p = jnp.exp(logits - m_new)  # [bk, bq]
    alpha = jnp.exp(m_old - m_new)
    l_sc[...] = alpha * l_sc[...] + jnp.sum(p, axis=0, keepdims=True)
    pv = jax.lax.dot_general(v_ref[...], p.astype(v_ref.dtype), _TN,
                             preferred_element_type=jnp.float32)  # [H, bq]
    acc_sc[...] = alpha * acc_sc[...] + pv
    m_sc[...] = m_new

    @pl.when(j == pl.num_programs(3) - 1)
    def _():
      o_ref[...] = (acc_sc[...] / l_sc[...]).astype(o_ref.dtype)
      m_ref[...] = m_sc[...]
      inv_l_ref[...] = 1.0 / l_sc[...]

  in_specs = [q_block(h), k_block(h), k_block(h)] + ([mask_spec] if mask_t is not None else [])
  args = (q, k, v) + ((mask_t,) if mask_t is not None else ())
  flops = 4 * b * n * tp * sp * h
  return pl.pallas_call(
      kernel, grid=grid, in_specs=in_specs, out_specs=[out_spec, row, row],
      out_shape=[jax.ShapeDtypeStruct((b, n, h, tp), q.dtype)]
      + [jax.ShapeDtypeStruct((b, n, 1, tp), jnp.float32)] * 2,
      scratch_shapes=[pltpu.VMEM((1, cfg.bq), jnp.float32), pltpu.VMEM((1, cfg.bq), jnp.float32),
                      pltpu.VMEM((h, cfg.bq), jnp.float32)],
      compiler_params=pltpu.CompilerParams(
          dimension_semantics=("parallel", "parallel", "parallel", "arbitrary")),
      cost_estimate=pl.CostEstimate(
          flops=flops, transcendentals=b * n * tp * sp,
          bytes_accessed=_nbytes(q) * 2 + _nbytes(k, v) * (tp // cfg.bq) * groups
          + (_nbytes(mask_t) * n if mask_t is not None else 0)),
      interpret=cfg.interpret, name="flash_attention_fwd")(*args)


def _nbytes(*xs) -> int:
  return sum(math.prod(x.shape) * jnp.dtype(x.dtype).itemsize for x in xs)


def _block_grads(cfg, q, k, v, do, rows, mask_ref, key_start):
  """One block's P^T and the logits' gradient dS^T [bk, bq] (scale included); rows: the refs
  of the queries' m, 1/l and dO.O rows [1, bq]."""
  m_ref, inv_l_ref, delta_ref = rows
  logits, tanh = _logits_t(cfg, q, k, mask_ref, key_start)
  p = jnp.exp(logits - m_ref[...]) * inv_l_ref[...]  # [bk, bq]
  dp = jax.lax.dot_general(v, do, _NT, preferred_element_type=jnp.float32)  # [bk, bq]
  ds = p * (dp - delta_ref[...])
  if mask_ref is not None:  # where() passes no gradient to masked logits
    ds = jnp.where(mask_ref[...] != 0, ds, 0.0)
  if tanh is not None:
    ds = ds * (1.0 - tanh * tanh)
  return p, ds * cfg.scale


def _kernel_block(cfg, refs, has_mask, key_block):
  """The backward kernels' common part. refs: q, k, v, dO, the rows m, 1/l, dO.O, [mask^T], then
  the kernel's outputs and scratch. Returns (outputs and scratch, q, k, dO refs, the block's P^T,
  dS^T)."""
  q_ref, k_ref, v_ref, do_ref = refs[:4]
  mask_ref = refs[7] if has_mask else None
  p, ds = _block_grads(cfg, q_ref[...], k_ref[...], v_ref[...], do_ref[...], refs[4:7], mask_ref,
                       key_block * cfg.bk)
  return refs[7 + has_mask:], q_ref, k_ref, do_ref, p, ds


def _backward(cfg, q, k, v, mask_t, d_out, rows):
  """dQ [B,N,Tp,H], dK and dV [B,K,Sp,H] (in the inputs' dtypes)."""
  b, n, tp, h = q.shape
  kv, sp = k.shape[1], k.shape[2]
  groups = n // kv
  has_mask = mask_t is not None
  semantics = pltpu.CompilerParams(
      dimension_semantics=("parallel", "parallel", "parallel", "arbitrary"))
  args = (q, k, v, d_out, *rows) + ((mask_t,) if has_mask else ())

  # dK, dV per query head: grid (b, n, key block j, query block i), the query blocks innermost.
  q_block, k_block, row, mask_spec = _specs(cfg, groups, 3, 2, has_mask)
  kv_out = pl.BlockSpec((pl.Squeezed(), pl.Squeezed(), cfg.bk, h),
                        lambda bi, ni, j, i: (bi, ni, j, 0))

  def dkv_kernel(*refs):
    (dk_ref, dv_ref, dk_sc, dv_sc), q_ref, _, do_ref, p, ds = _kernel_block(
        cfg, refs, has_mask, pl.program_id(2))
    i = pl.program_id(3)

    @pl.when(i == 0)
    def _():
      dk_sc[...] = jnp.zeros(dk_sc.shape, jnp.float32)
      dv_sc[...] = jnp.zeros(dv_sc.shape, jnp.float32)

    dv_sc[...] += jnp.dot(p.astype(do_ref.dtype), do_ref[...],
                          preferred_element_type=jnp.float32)
    dk_sc[...] += jnp.dot(ds.astype(q_ref.dtype), q_ref[...], preferred_element_type=jnp.float32)

    @pl.when(i == pl.num_programs(3) - 1)
    def _():
      dk_ref[...] = dk_sc[...]
      dv_ref[...] = dv_sc[...]

  in_specs = [q_block(h), k_block(h), k_block(h), q_block(h), row, row, row] + (
      [mask_spec] if has_mask else [])
  flops = 2 * b * n * tp * sp * h
  dk, dv = pl.pallas_call(
      dkv_kernel, grid=(b, n, sp // cfg.bk, tp // cfg.bq), in_specs=in_specs,
      out_specs=[kv_out, kv_out],
      out_shape=[jax.ShapeDtypeStruct((b, n, sp, h), jnp.float32)] * 2,
      scratch_shapes=[pltpu.VMEM((cfg.bk, h), jnp.float32)] * 2,
      compiler_params=semantics,
      cost_estimate=pl.CostEstimate(
          flops=4 * flops, transcendentals=b * n * tp * sp,
          bytes_accessed=_nbytes(k, v) * groups + _nbytes(q, d_out) * (sp // cfg.bk)
          + (_nbytes(mask_t) * n if has_mask else 0)),
      interpret=cfg.interpret, name="flash_attention_dkv")(*args)

  # dQ: grid (b, n, query block i, key block j), the key blocks innermost.
  q_block, k_block, row, mask_spec = _specs(cfg, groups, 2, 3, has_mask)
  q_out = pl.BlockSpec((pl.Squeezed(), pl.Squeezed(), cfg.bq, h),
                       lambda bi, ni, i, j: (bi, ni, i, 0))

  def dq_kernel(*refs):
    j = pl.program_id(3)
    (dq_ref, dq_sc), _, k_ref, _, _, ds = _kernel_block(cfg, refs, has_mask, j)

    @pl.when(j == 0)
    def _():
      dq_sc[...] = jnp.zeros(dq_sc.shape, jnp.float32)

    dq_sc[...] += jax.lax.dot_general(ds.astype(k_ref.dtype), k_ref[...], _TN,
                                      preferred_element_type=jnp.float32)  # [bq, H]

    @pl.when(j == pl.num_programs(3) - 1)
    def _():
      dq_ref[...] = dq_sc[...].astype(dq_ref.dtype)

  in_specs = [q_block(h), k_block(h), k_block(h), q_block(h), row, row, row] + (
      [mask_spec] if has_mask else [])
  dq = pl.pallas_call(
      dq_kernel, grid=(b, n, tp // cfg.bq, sp // cfg.bk), in_specs=in_specs, out_specs=q_out,
      out_shape=jax.ShapeDtypeStruct(q.shape, q.dtype),
      scratch_shapes=[pltpu.VMEM((cfg.bq, h), jnp.float32)],
      compiler_params=semantics,
      cost_estimate=pl.CostEstimate(
          flops=3 * flops, transcendentals=b * n * tp * sp,
          bytes_accessed=_nbytes(q, d_out) * 2 + _nbytes(k, v) * (tp // cfg.bq) * groups
          + (_nbytes(mask_t) * n if has_mask else 0)),
      interpret=cfg.interpret, name="flash_attention_dq")(*args)
  # Each kv head's gradient sums its query heads'.
  dk = dk.reshape(b, kv, groups, sp, h).sum(2).astype(k.dtype)
  dv = dv.reshape(b, kv, groups, sp, h).sum(2).astype(v.dtype)
  return dq, dk, dv
