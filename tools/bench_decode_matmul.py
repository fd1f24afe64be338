"""The matmuls of one decoding step alone, written several ways: how fast XLA reads the weights.

  python -m tools.bench_decode_matmul --rows 8

Shapes of tools/bench_decode's decoder (8 layers of width 768, 8/4 heads of dim 96, MLP 3072, vocab
32768; 366 MiB float32 of distinct weights, so nothing stays in cache between layers). Each variant
runs the step's chain of matmuls (q, kv, attention output, gate/up, down per layer, then the logits)
on `--rows` rows; the rate is the weight bytes over the median-ish (first quartile) time.
Variants: the weights as stored in the checkpoint layout and contracted batched over their head axes
(decode before session 3), flattened 2-D [in, out], 2-D [out, in] on the right of the rows
(session 3), the same [out, in] weight on the LEFT of the rows (`decode_cpu.weight_lhs_matmul`: what
decode.py's token loop runs for 2+ rows now; XLA:CPU repacks a right-hand weight at every call and
reads a left-hand one in place), plus a multiply-and-reduce formulation. First it times the step's
attention alone (`attention.attend` with `decode_cpu.CpuEinsum`, as XLA:CPU decoding runs it, over the
8 layers' caches).
"""
import argparse

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma import decode_cpu
from big_paligemma.models import attention
from tools import timing

_L, _D, _N, _K, _H, _F, _V = 8, 768, 8, 4, 96, 3072, 32768


def _time(fn, *args, reps: int = 15) -> float:
  return sorted(timing.call_times(fn, args, reps))[reps // 4]


def _stored_batched(x, w, d_axis):
  """x [M,D] with w contracted on d_axis, batched over the axes before it (the old decode)."""
  lead = int(np.prod(w.shape[:d_axis]))
  xb = jnp.broadcast_to(x, (lead,) + x.shape)
  out = jax.lax.dot_general(xb, w.reshape(lead, w.shape[d_axis], -1), (((2,), (1,)), ((0,), (0,))))
  return jnp.moveaxis(out, 0, 1).reshape(x.shape[0], -1)


_VARIANTS = {
    "stored, batched": lambda x, w: x @ w if w.ndim == 2 else _stored_batched(x, w, w.ndim - 2),
    "2-D [in, out]": lambda x, w: x @ w,
    "2-D [out, in]": lambda x, wt: jax.lax.dot_general(x, wt, (((1,), (1,)), ((), ()))),
    "[out, in] on the left": decode_cpu.weight_lhs_matmul,
    "multiply-reduce [out, in]": lambda x, wt: jnp.sum(wt[None] * x[:, None], axis=-1),
}


def _weights(variant: str, rng) -> list[dict]:
  def w(*shape):
    return rng.standard_normal(shape).astype(np.float32) * 0.02
  layers = []
  for _ in range(_L):
    q, kv, o = w(_N, _D, _H), w(2, _K, _D, _H), w(_N, _H, _D)
    g, l = w(2, _D, _F), w(_F, _D)
    if variant == "stored, batched":
      layer = {"q": q, "kv": kv, "o": o.reshape(_N * _H, _D), "g": g, "l": l}
    else:  # [in, out] 2-D, transposed for the [out, in] variants
      layer = {"q": np.moveaxis(q, 1, 0).reshape(_D, -1),
               "kv": np.moveaxis(kv, 2, 0).reshape(_D, -1), "o": o.reshape(_N * _H, _D),
               "g": np.moveaxis(g, 1, 0).reshape(_D, -1), "l": l}
      if "[out, in]" in variant:
        layer = {k: np.ascontiguousarray(v.T) for k, v in layer.items()}
    layers.append({k: jnp.asarray(v) for k, v in layer.items()})
  return layers


def _step(matmul):
  def run(layers, emb, x):
    for p in layers:
      q, kv = matmul(x, p["q"]), matmul(x, p["kv"])
      a = q[:, :_N * _H] + 0.01 * jnp.repeat(kv[:, :_K * _H], _N // _K, axis=1)
      x = x + 0.01 * matmul(a, p["o"])
      gu = matmul(x, p["g"])
      x = x + 0.01 * matmul(jax.nn.gelu(gu[:, :_F]) * gu[:, _F:], p["l"])
    return matmul(x, emb) if matmul is decode_cpu.weight_lhs_matmul else jax.lax.dot_general(
        x, emb, (((1,), (1,)), ((), ())))  # logits on [V,D] as stored
  return jax.jit(run)


def attention_time(rows: int, slots: int, rng) -> float:
  """Seconds of one step's attention alone: `attention.attend` of one query per row over each of the
  8 layers' [B,K,S,H] caches (what decode.py's token loop runs), soft-cap 50."""
  def cache():
    return jnp.asarray(rng.standard_normal((rows, _K, slots, _H)).astype(np.float32))
  ks, vs = [cache() for _ in range(_L)], [cache() for _ in range(_L)]
  q = jnp.asarray(rng.standard_normal((rows, 1, _N, _H)).astype(np.float32))
  mask = jnp.ones((rows, 1, slots), bool)

  @jax.jit
  def run(q, ks, vs):
    for k, v in zip(ks, vs):
      q = q + 0.01 * attention.attend(q, k, v, mask, scale=_H**-0.5, softcap=50.0, kv_layout="BKSH",
                               einsum=decode_cpu.CpuEinsum())
    return q
  return _time(run, q, ks, vs)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rows", type=int, default=8)
  parser.add_argument("--slots", type=int, default=238,
                      help="cache slots for the attention timing (bench_decode: 206 + 32)")
  args = parser.parse_args()
  rng = np.random.RandomState(0)
  seconds = attention_time(args.rows, args.slots, rng)
  print(f"rows {args.rows}, attention over {args.slots} cache slots, 8 layers: "
        f"{seconds * 1e3:.2f} ms a step", flush=True)
  emb = jnp.asarray(rng.standard_normal((_V, _D)).astype(np.float32) * 0.02)
  x = jnp.asarray(rng.standard_normal((args.rows, _D)).astype(np.float32))
  for name, matmul in _VARIANTS.items():
    layers = _weights(name, rng)
    gbytes = (sum(a.nbytes for p in layers for a in p.values()) + emb.nbytes) / 1e9
    seconds = _time(_step(matmul), layers, emb, x)
    print(f"rows {args.rows}, {name}: {seconds * 1e3:.1f} ms a step, weights read at "
          f"{gbytes / seconds:.1f} GB/s", flush=True)


if __name__ == "__main__":
  main()
