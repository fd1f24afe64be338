"""XLA:CPU decode layouts: `gemma.Gemma`'s products in the forms XLA:CPU runs fastest for few rows.

Used by decode.py only when the backend is CPU (DESIGN rule 10); every accelerator runs the
model's plain einsums, and CPU training takes `train_cpu`'s (which reads weight products with
`split_eqn`, `weight_axes` and `in_first` from here). Decoding multiplies a few rows by every
weight at every step, and XLA:CPU's fp32 matmul repacks a right-hand operand at every call while
it reads a left-hand one in place; a plain einsum that contracts a middle weight axis also
transposes the weight. So here:
- `CpuEinsum` is the decoder's `einsum` (`gemma.Gemma(config, einsum=...)`): a weight product
  flattened to one 2-D matmul with many rows (prefill); for few rows the input broadcast over the
  weight's leading axes and one matmul batched over them on the weight as stored; and from 2 to
  `WEIGHT_LHS_MAX_ROWS` rows, on [out, in] weights, the weight on the LEFT of the rows
  (`weight_lhs_matmul`), ~1.7x faster at 8 rows (`python -m tools.bench_decode_matmul`). The
  query-key product of few query rows takes the cache on the left the same way.
- `layer_weights` makes the per-layer weights of a token loop of 2+ rows once per call (or once
  per evaluation): each projection copied to an [out, in] matrix (`OutInLayer`); `views` turns
  them back into the layer's param shapes inside the loop, by the exact inverse of the moves that
  `CpuEinsum` makes, so XLA cancels both and every step reads the stored copies in place.

Axis letters as in gemma.py; M rows (the product of the input's non-contracted axes).
"""
import dataclasses
import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from big_paligemma.models import gemma

# From 2 up to this many rows a weight stored [out, in] is multiplied as the LEFT operand (at 1
# row both forms read the weights at the same rate).
WEIGHT_LHS_MAX_ROWS = 64


def weight_lhs_matmul(rows: jax.Array, w: jax.Array, preferred_element_type=None) -> jax.Array:
  """rows [M,in] times w [out,in] (contracting `in`) -> [M,out], computed as (w @ rows^T)^T.

  For few rows XLA:CPU's matmul reads a left-hand weight in place, while a right-hand one is first
  repacked at every call: at 8-32 rows the product runs 1.4-1.7x faster this way. The barrier
  keeps XLA from rewriting the transposed product back into rows @ w^T; the transpose then moves
  only the small [out, M] result."""
  product = jax.lax.dot_general(w, rows, (((1,), (1,)), ((), ())),
                                preferred_element_type=preferred_element_type)
  return jax.lax.optimization_barrier(product).T


def _few(m: int) -> bool:
  return 2 <= m <= WEIGHT_LHS_MAX_ROWS


def split_eqn(eqn: str):
  """"lhs,rhs->out" (spaces ignored) -> (lhs, rhs, out)."""
  inputs, out = eqn.replace(" ", "").split("->")
  lhs, rhs = inputs.split(",")
  return lhs, rhs, out


def weight_axes(lhs: str, rhs: str, out: str) -> tuple[int, int] | None:
  """(first, count) of the contracted axes in the weight `rhs` when the product is `x @ w` with
  x's contracted axes trailing and the output = x's free axes ++ w's free axes; else None."""
  contracted = "".join(a for a in rhs if a in lhs and a not in out)
  if not contracted or "B" in rhs or not lhs.endswith(contracted) or contracted not in rhs:
    return None
  first = rhs.index(contracted)
  if out != lhs[:-len(contracted)] + rhs[:first] + rhs[first + len(contracted):]:
    return None
  return first, len(contracted)


@dataclasses.dataclass(frozen=True)
class CpuEinsum:
  """`jnp.einsum` for the decoder's products, in the layouts XLA:CPU runs fastest (see the module
  docstring). out_in: the layers' weights are `views` of `OutInLayer` copies."""
  out_in: bool = False

  def __call__(self, eqn: str, x: jax.Array, w: jax.Array, preferred_element_type=None):
    lhs, rhs, out = split_eqn(eqn)
    axes = weight_axes(lhs, rhs, out)
    if axes is not None:
      return self._weight_product(x, w, *axes, preferred_element_type)
    if _is_query_key(lhs, rhs, out) and _few(x.shape[-2]):
      return _cache_left(x, w, preferred_element_type)
    return jnp.einsum(eqn, x, w, preferred_element_type=preferred_element_type)

  def _weight_product(self, x, w, first: int, count: int, preferred_element_type):
    """x [..., in...] contracted with w's axes [first, first + count) -> [..., w's other axes]."""
    lead, trail = w.shape[:first], w.shape[first + count:]
    n_in = math.prod(w.shape[first:first + count])
    rows = x.reshape(-1, n_in)
    m, n_lead, n_trail = rows.shape[0], math.prod(lead), math.prod(trail)
    out_shape = x.shape[:x.ndim - count] + lead + trail
    # A weight whose contracted axes are its last ones (the [V,D] embedding) is [out, in] as is.
    lhs_form = _few(m) and (self.out_in or first + count == w.ndim)
    if lhs_form or self.out_in or m * (n_in + n_lead * n_trail) > n_in * n_lead * n_trail:
      w2 = in_first(w, first, count)  # [in, out]; on a `views` weight, the stored copy's .T
      if lhs_form or self.out_in:
        out = weight_lhs_matmul(rows, w2.T, preferred_element_type)
      else:
        out = jnp.dot(rows, w2, preferred_element_type=preferred_element_type)
      return out.reshape(out_shape)
    xb = jnp.broadcast_to(rows, (n_lead, m, n_in))
    out = jax.lax.dot_general(xb, w.reshape(n_lead, n_in, n_trail), (((2,), (1,)), ((0,), (0,))),
                              preferred_element_type=preferred_element_type)
    return jnp.moveaxis(out, 0, 1).reshape(out_shape)


def in_first(w: jax.Array, first: int, count: int) -> jax.Array:
  """w with its input axes [first, first + count) moved to the front and flattened: [in, out]."""
  n_in = math.prod(w.shape[first:first + count])
  return jnp.moveaxis(w, tuple(range(first, first + count)), tuple(range(count))).reshape(n_in, -1)


def _is_query_key(lhs: str, rhs: str, out: str) -> bool:
  """eqn is `...QH,...SH->...QS`: batch axes first, one contracted last axis."""
  return (len(lhs) == len(rhs) == len(out) >= 3 and lhs[:-2] == rhs[:-2] == out[:-2]
          and lhs[-1] == rhs[-1] and out[-2:] == lhs[-2] + rhs[-2])


def _cache_left(q: jax.Array, k: jax.Array, preferred_element_type) -> jax.Array:
  """q [...,Q,H] . k [...,S,H] -> [...,Q,S] computed as (k q^T)^T: the cache on the left, as in
  `weight_lhs_matmul`."""
  batch = tuple(range(q.ndim - 2))
  logits = jax.lax.dot_general(k, q, (((q.ndim - 1,), (q.ndim - 1,)), (batch, batch)),
                               preferred_element_type=preferred_element_type)
  return jnp.swapaxes(jax.lax.optimization_barrier(logits), -1, -2)


# Per-layer projections -> (first input axis, number of input axes), as the model's einsums
# contract them (q/kv/gating over D, attn_vec_einsum over N and H, linear over F).
_PROJ_INPUT_AXES = {
    ("attn", "q_einsum", "w"): (1, 1),        # [N,D,H]
    ("attn", "kv_einsum", "w"): (2, 1),       # [2,K,D,H]
    ("attn", "attn_vec_einsum", "w"): (0, 2),  # [N,H,D]
    ("mlp", "gating_einsum"): (1, 1),         # [2,D,F]
    ("mlp", "linear"): (0, 1),                # [F,D]
}


def _proj_axes(path) -> tuple[int, int] | None:
  return _PROJ_INPUT_AXES.get(tuple(getattr(k, "key", k) for k in path))


@flax.struct.dataclass
class OutInLayer:
  """One layer's weights for a CPU token loop: its param tree with each projection stored as an
  [out, in] matrix, and the projections' shapes in the param tree (static)."""
  params: Any
  shapes: dict = flax.struct.field(pytree_node=False)


@flax.struct.dataclass
class CpuWeights:
  """The decoder's per-layer weights on XLA:CPU: the L trees of `gemma.layer_weights`, L
  `OutInLayer`s, or None (the layers scanned over the stacked params, as a prefill runs)."""
  layers: tuple | None

  @property
  def out_in(self) -> bool:
    return bool(self.layers) and isinstance(self.layers[0], OutInLayer)


def layer_weights(layers: Any, rows: int) -> CpuWeights:
  """The stacked `layers` params as the per-layer weights of a CPU token loop of `rows` rows:
  `gemma.layer_weights` for 1 row (a matrix-vector product reads either layout alike), else L
  `OutInLayer`s (per-layer weights are read in place where slicing stacked [L,...] ones copies
  them every step)."""
  plain = gemma.layer_weights(layers)
  if rows < 2:
    return CpuWeights(plain)

  def store(path, w):
    axes = _proj_axes(path)
    return w if axes is None else in_first(w, *axes).T

  def shapes(layer):
    return {tuple(getattr(k, "key", k) for k in path): w.shape
            for path, w in jax.tree_util.tree_flatten_with_path(layer)[0] if _proj_axes(path)}
  # The barrier keeps XLA from cancelling these transposes against the layers' views of them
  # (it would, in one jit with the token loop) and so from handing the loop [in, out] weights.
  return CpuWeights(tuple(OutInLayer(
      jax.lax.optimization_barrier(jax.tree_util.tree_map_with_path(store, p)), shapes(p))
      for p in plain))


def views(weights: CpuWeights) -> tuple | None:
  """The layers of `weights` as the per-layer param trees of `gemma.layer_weights` (projections
  viewed back from their [out, in] copies: the exact inverse of `CpuEinsum`'s moves)."""
  if not weights.out_in:
    return weights.layers

  def view(layer, path, stored):
    axes = _proj_axes(path)
    if axes is None:
      return stored
    first, count = axes
    shape = layer.shapes[tuple(getattr(k, "key", k) for k in path)]
    in_shape, rest = shape[first:first + count], shape[:first] + shape[first + count:]
    front = stored.T.reshape(in_shape + rest)
    return jnp.moveaxis(front, tuple(range(count)), tuple(range(first, first + count)))
  return tuple(jax.tree_util.tree_map_with_path(lambda p, w, l=l: view(l, p, w), l.params)
               for l in weights.layers)


def decoder(llm: gemma.Gemma, weights: CpuWeights) -> gemma.Gemma:
  """An unbound copy of the decoder `llm` whose products are `CpuEinsum`s (to run on
  `views(weights)`); apply it with llm's params."""
  return gemma.Gemma(llm.config, einsum=CpuEinsum(weights.out_in))
