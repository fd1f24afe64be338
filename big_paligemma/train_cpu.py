"""XLA:CPU training layouts: `gemma.Gemma`'s weight products in the form XLA:CPU trains fastest.

Used only by a train step whose mesh holds CPU devices (`trainers/step.model_for_mesh`, the one
place that decides; DESIGN rule 10); every accelerator trains the model's plain einsums. A plain
einsum that contracts a middle weight axis (q [N,D,H] and kv [2,K,D,H] over D, gating [2,D,F] over
D) makes XLA:CPU transpose the weight and big activations, in the forward and the backward pass.
`CpuTrainEinsum` is the decoder's `einsum` (`gemma.Gemma(config, einsum=...)`, passed down by
PaliGemma and Gemma 3) that computes every weight product as ONE 2-D matmul
[M, in] @ [in, out], the weight's contracted axes moved first and flattened (attn_vec [N,H,D] and
linear [F,D] are that already), whose product is already in its final layout; its gradients are
two 2-D matmuls and one weight-sized move back per weight and step. This is the form the model's
own `contract_width` gave training until 9d431f6 (CPU training 14-16% slower without it,
BENCHMARKS.md). A weight whose contracted axes are its last ones (the tied [V,D] embedding) and
the attention products keep the plain einsum, as then.

Not `decode_cpu.CpuEinsum`: its forms are chosen for decoding's few rows (rows broadcast over the
weight's leading axes, the weight on the left behind an optimization barrier); in training its
rule picks the broadcast for the logits, [V, M, D] (26 GB at `tools.bench_train`'s size: out of
host memory).

Axis letters as in gemma.py; M rows (the product of the input's non-contracted axes).
"""
import dataclasses
import math

import jax
import jax.numpy as jnp

from big_paligemma import decode_cpu


@dataclasses.dataclass(frozen=True)
class CpuTrainEinsum:
  """`jnp.einsum` for the decoder's products in training on XLA:CPU (see the module docstring)."""

  def __call__(self, eqn: str, x: jax.Array, w: jax.Array, preferred_element_type=None):
    lhs, rhs, out = decode_cpu.split_eqn(eqn)
    axes = decode_cpu.weight_axes(lhs, rhs, out)
    if axes is None or sum(axes) == w.ndim:  # not a weight product, or [out, in] as stored
      return jnp.einsum(eqn, x, w, preferred_element_type=preferred_element_type)
    first, count = axes
    rows = x.reshape(-1, math.prod(w.shape[first:first + count]))  # [M, in]
    product = jnp.dot(rows, decode_cpu.in_first(w, first, count),
                      preferred_element_type=preferred_element_type)  # [M, out]
    return product.reshape(x.shape[:x.ndim - count] + w.shape[:first] + w.shape[first + count:])
