"""Gemma 1/2/3 decoder: config, RMSNorm, RoPE, attention, MLP, scanned block stack and KV cache.

Axis letters: B batch, T query length, S key length (cache slots), N query heads, K kv heads,
G = N // K query heads per kv head, H head dim, D width, F ffw width, V vocabulary, L layers.

Parameter paths (big_vision layout, layers stacked on a leading L axis by `nn.scan`):
  embedder/input_embedding [V,D]                  final_norm/scale [D]
  layers/pre_attention_norm/scale [L,D]           layers/pre_ffw_norm/scale [L,D]
  layers/post_attention_norm/scale [L,D]          layers/post_ffw_norm/scale [L,D]   (Gemma 2/3)
  layers/attn/q_einsum/w [L,N,D,H]                layers/attn/kv_einsum/w [L,2,K,D,H]  (0 = k, 1 = v)
  layers/attn/attn_vec_einsum/w [L,N,H,D]         layers/attn/{query,key}_norm/scale [L,H] (Gemma 3)
  layers/mlp/gating_einsum [L,2,D,F] (0 = gate, 1 = up)   layers/mlp/linear [L,F,D]

Typical use:
  model = Gemma(cfg)
  x = model.apply(params, tokens, method=Gemma.embed)                # [B,T,D]
  mask = make_attn_mask(input_mask, mask_ar)                         # [B,T,T]
  logits, _ = model.apply(params, x, positions, mask)                # [B,T,V] float32

Decoding with a cache: `cache = init_cache(cfg, B, S)`; every call writes its T keys/values at
`cache.index` and attends over all S slots with a caller mask [B,T,S] over the slots (slice the rows
index:index+T of `make_attn_mask` built over the whole S-long sequence). `hidden` may run the layers
one by one on per-layer weights (`layer_weights`), as decoding does.

Every product with a weight and both attention products go through the module's `einsum` (default
`jnp.einsum`, the plain einsums that every compiler handles); a backend module may pass its own, as
`big_paligemma/decode_cpu.py` does for XLA:CPU decoding and `big_paligemma/train_cpu.py` for
XLA:CPU training (DESIGN rule 10).
"""
import dataclasses
import math
from typing import Any, Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from big_paligemma import sharding
from big_paligemma.models import attention, choices

_LAYER_KINDS = ("global", "local")


@dataclasses.dataclass(frozen=True)
class GemmaConfig:
  """Hyper-parameters of a Gemma decoder; validated when built.

  `layer_pattern` repeats cyclically over the layers. `rope_scale_*` divides positions (linear RoPE
  scaling). `query_scale` None means head_dim**-0.5. `scan_unroll` 1 = a scanned loop, num_layers =
  fully unrolled; the parameter tree is the same either way. dtype / param_dtype are names and
  remat_policy "none" or a `jax.checkpoint_policies` name, as for SigLIP (`choices`).
  attn_query_block: above `attention.BLOCKWISE_MIN_QUERIES` tokens (896's prefix) the attention
  runs this many queries at a time (less memory, its logits recomputed in the backward pass);
  0 = all at once, as SigLIP's. attn_impl: "auto" ("einsum" with a soft-cap, else "xla"),
  "einsum", "xla" or "flash" (the TPU Pallas kernels of attention_tpu.py, for the attention
  without a KV cache: training and scoring; no logits in HBM, attn_query_block plays no part).
  """
  vocab_size: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  width: int
  mlp_dim: int
  head_dim: int
  query_scale: float | None = None
  post_attn_norm: bool = False
  post_ffw_norm: bool = False
  attn_logit_softcap: float | None = None
  final_logit_softcap: float | None = None
  sliding_window: int | None = None
  layer_pattern: tuple[str, ...] = ("global",)
  rope_base_local: float = 10_000.0
  rope_base_global: float = 10_000.0
  rope_scale_local: float = 1.0
  rope_scale_global: float = 1.0
  qk_norm: bool = False
  norm_eps: float = 1e-6
  dropout: float = 0.0
  dtype: str = "float32"
  param_dtype: str = "float32"
  scan_unroll: int = 1
  remat_policy: str = choices.NO_REMAT
  attn_impl: str = "auto"
  attn_query_block: int = attention.QUERY_BLOCK
  # Local layers also let a query see every key of its own bidirectional block (keys it sees and
  # that see it), whatever the window: HF PaliGemma 2's (causal AND window) OR prefix-block rule.
  # False: the window applies inside blocks too (HF Gemma 3: window AND (causal OR image block)).
  window_exempt_blocks: bool = False

  def __post_init__(self):
    for name in ("vocab_size", "num_layers", "num_heads", "num_kv_heads", "width", "mlp_dim",
                 "head_dim"):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise ValueError(f"GemmaConfig.{name}={getattr(self, name)!r} must be a positive int.")
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"GemmaConfig.num_heads={self.num_heads} is not divisible by "
                       f"num_kv_heads={self.num_kv_heads}; pick num_kv_heads dividing num_heads.")
    object.__setattr__(self, "layer_pattern", tuple(self.layer_pattern))
    bad = [k for k in self.layer_pattern if k not in _LAYER_KINDS]
    if not self.layer_pattern or bad:
      raise ValueError(f"GemmaConfig.layer_pattern={self.layer_pattern!r}: must be a non-empty "
                       f"tuple of {_LAYER_KINDS}.")
    if "local" in self.layer_pattern and not self.sliding_window:
      raise ValueError("GemmaConfig.layer_pattern has 'local' layers but sliding_window="
                       f"{self.sliding_window!r}; set a positive sliding_window.")
    choices.check_dtype("GemmaConfig", "dtype", self.dtype)
    choices.check_dtype("GemmaConfig", "param_dtype", self.param_dtype)
    choices.check_remat_policy("GemmaConfig", self.remat_policy)
    self._check_choice("attn_impl", attention.IMPLS)
    if not isinstance(self.attn_query_block, int) or self.attn_query_block < 0:
      raise ValueError(f"GemmaConfig.attn_query_block={self.attn_query_block!r}: must be a "
                       "positive int, or 0 for all queries at once.")
    if self.attn_impl == "xla" and self.attn_logit_softcap:
      raise ValueError("GemmaConfig.attn_impl='xla' cannot apply attn_logit_softcap="
                       f"{self.attn_logit_softcap}; use attn_impl='einsum' or 'auto'.")
    if not 1 <= self.scan_unroll <= self.num_layers:
      raise ValueError(f"GemmaConfig.scan_unroll={self.scan_unroll} must be in "
                       f"[1, num_layers={self.num_layers}].")
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"GemmaConfig.dropout={self.dropout} must be in [0, 1).")
    for name in ("rope_scale_local", "rope_scale_global", "rope_base_local", "rope_base_global"):
      if getattr(self, name) <= 0:
        raise ValueError(f"GemmaConfig.{name}={getattr(self, name)} must be > 0.")

  def _check_choice(self, name, allowed):
    if getattr(self, name) not in allowed:
      raise ValueError(f"GemmaConfig.{name}={getattr(self, name)!r}; allowed: {allowed}.")

  @property
  def is_local(self) -> tuple[bool, ...]:
    """Per layer: True for a sliding-window (local) layer."""
    pattern = self.layer_pattern
    return tuple(pattern[i % len(pattern)] == "local" for i in range(self.num_layers))

  @property
  def scale(self) -> float:
    """The factor multiplying q.k (query_scale, default head_dim**-0.5)."""
    return self.query_scale if self.query_scale is not None else self.head_dim**-0.5

  @property
  def attention_impl(self) -> str:
    """The resolved attention path: 'einsum' when soft-capping, else 'xla' for 'auto'."""
    if self.attn_impl != "auto":
      return self.attn_impl
    return "einsum" if self.attn_logit_softcap else "xla"

  @classmethod
  def tiny(cls, version: int = 1, **overrides) -> "GemmaConfig":
    """A few-KB model of Gemma `version` (1, 2 or 3) for tests; `overrides` replace fields."""
    base = dict(vocab_size=128, num_layers=2, num_heads=4, num_kv_heads=2, width=32, mlp_dim=64,
                head_dim=8)
    if version == 2:
      base.update(post_attn_norm=True, post_ffw_norm=True, attn_logit_softcap=50.0,
                  final_logit_softcap=30.0, sliding_window=4, layer_pattern=("local", "global"))
    elif version == 3:
      base.update(num_layers=3, post_attn_norm=True, post_ffw_norm=True, sliding_window=4,
                  layer_pattern=("local", "local", "global"), qk_norm=True,
                  rope_base_global=1_000_000.0, rope_scale_global=8.0)
    elif version != 1:
      raise ValueError(f"GemmaConfig.tiny(version={version}): use 1, 2 or 3.")
    base.update(overrides)
    return cls(**base)


@flax.struct.dataclass
class KVCache:
  """Keys and values, one buffer per layer. k, v: tuples of L arrays [B,K,S,H] (heads before slots:
  the layout attention's batched dots read, so no step transposes the cache); pos: [B,S] int32 key
  positions; index: the next slot to write (int32 scalar)."""
  k: tuple
  v: tuple
  pos: jax.Array
  index: jax.Array


def init_cache(config: GemmaConfig, batch: int, max_len: int, dtype: Any = None) -> KVCache:
  """An empty cache of `max_len` slots (dtype defaults to the compute dtype)."""
  shape = (batch, config.num_kv_heads, max_len, config.head_dim)
  dtype = dtype or config.dtype
  zeros = lambda: tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers))  # noqa: E731
  return KVCache(k=zeros(), v=zeros(), pos=jnp.zeros((batch, max_len), jnp.int32),
                 index=jnp.zeros((), jnp.int32))


def make_attn_mask(input_mask: jax.Array, mask_ar: jax.Array) -> jax.Array:
  """big_vision's rule: q sees k iff cumsum(mask_ar)[k] <= cumsum(mask_ar)[q] and both are valid.

  input_mask [B,T] bool (real tokens), mask_ar [B,T] int (1 = causal step, 0 = same block as the
  previous token; all ones = causal, zeros on a prefix = prefix-LM). Returns [B,T,T] bool.
  """
  cumsum = jnp.cumsum(mask_ar, axis=1)
  visible = cumsum[:, None, :] <= cumsum[:, :, None]
  valid = input_mask[:, None, :] & input_mask[:, :, None]
  return visible & valid


def sliding_window_mask(q_pos: jax.Array, k_pos: jax.Array, window: int) -> jax.Array:
  """[B,T,S] bool: k_pos > q_pos - window (the lower bound; causality comes from the caller's mask,
  so bidirectional blocks such as Gemma 3 images stay bidirectional inside the window)."""
  return k_pos[:, None, :] > q_pos[:, :, None] - window


def same_block_mask(attn_mask: jax.Array, index: jax.Array | None = None) -> jax.Array:
  """[B,T,S] bool: query and key see each other (the same bidirectional block).

  Without a cache S = T. With one, the T queries sit at slots index..index+T and only the keys
  written by this call are checked (a prefix block is prefilled in one call).
  """
  if index is None:
    return attn_mask & jnp.swapaxes(attn_mask, 1, 2)
  b, t, _ = attn_mask.shape
  own = jax.lax.dynamic_slice(attn_mask, (0, 0, index), (b, t, t))
  return jax.lax.dynamic_update_slice(jnp.zeros_like(attn_mask), own & jnp.swapaxes(own, 1, 2),
                                      (0, 0, index))


def rms_norm(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
  """x * rsqrt(mean(x^2) + eps) * (1 + scale), computed in float32, returned in x.dtype."""
  x32 = x.astype(jnp.float32)
  y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
  return (y * (1.0 + scale.astype(jnp.float32))).astype(x.dtype)


def rope_tables(positions: jax.Array, head_dim: int, base: float, scale: float):
  """(sin, cos) [B,T,H/2] float32 for split-half RoPE; positions are divided by `scale`."""
  inv_freq = 1.0 / (base ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)) / scale
  angles = positions.astype(jnp.float32)[..., None] * inv_freq
  return jnp.sin(angles), jnp.cos(angles)


def apply_rope(x: jax.Array, sin: jax.Array, cos: jax.Array) -> jax.Array:
  """Rotates x [B,T,*,H] by split-half RoPE with tables [B,T,H/2]."""
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  sin, cos = sin[:, :, None, :], cos[:, :, None, :]
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)


class RMSNorm(nn.Module):
  """RMSNorm with a zero-initialised `scale` [D] applied as (1 + scale)."""
  eps: float = 1e-6
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    scale = self.param("scale", nn.initializers.zeros_init(), (x.shape[-1],), self.param_dtype)
    return rms_norm(x, scale, self.eps)


class Weight(nn.Module):
  """A parameter `w` of `shape` (normal init, std fan_in^-1/2), returned in the compute dtype."""
  shape: tuple[int, ...]
  fan_in: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def weight(self):
    w = self.param("w", nn.initializers.normal(self.fan_in**-0.5), self.shape, self.param_dtype)
    return w.astype(self.dtype)

  @nn.compact
  def __call__(self):
    return self.weight()


class Einsum(Weight):
  """The weight contracted with the input by `eqn`, in the compute dtype."""

  @nn.compact
  def __call__(self, eqn: str, x):  # pylint: disable=arguments-differ
    return jnp.einsum(eqn, x.astype(self.dtype), self.weight())


class Attention(nn.Module):
  """Grouped-query attention with optional QK-norm, RoPE tables chosen by the caller."""
  config: GemmaConfig
  einsum: Callable = jnp.einsum

  @nn.compact
  def __call__(self, x, sin, cos, mask, kv_cache=None, write_index=None):
    """x [B,T,D], sin/cos [B,T,H/2], mask [B,T,S]; kv_cache: this layer's (k, v) [B,K,S,H] or None
    (S = T). Returns (out [B,T,D], this layer's (k, v) with the T new slots written, or None)."""
    c = self.config
    n, kv, d, h = c.num_heads, c.num_kv_heads, c.width, c.head_dim
    dt, pdt = jnp.dtype(c.dtype), jnp.dtype(c.param_dtype)
    x = x.astype(dt)
    q = self.einsum("BTD,NDH->BTNH", x, Weight((n, d, h), d, dt, pdt, name="q_einsum")())
    kv_proj = self.einsum("BTD,CKDH->BTCKH", x,
                          Weight((2, kv, d, h), d, dt, pdt, name="kv_einsum")())
    k, v = kv_proj[:, :, 0], kv_proj[:, :, 1]  # [B,T,K,H] each
    if c.qk_norm:
      q = RMSNorm(c.norm_eps, pdt, name="query_norm")(q)
      k = RMSNorm(c.norm_eps, pdt, name="key_norm")(k)
    q, k = apply_rope(q, sin, cos), apply_rope(k, sin, cos)
    new_cache, layout = None, "BSKH"
    if kv_cache is not None:
      new_cache = tuple(
          jax.lax.dynamic_update_slice(old, jnp.swapaxes(new, 1, 2).astype(old.dtype),
                                       (0, 0, write_index, 0))
          for old, new in zip(kv_cache, (k, v)))
      (k, v), layout = new_cache, "BKSH"
    out = attention.attend(q, k.astype(dt), v.astype(dt), mask, scale=c.scale,
                           softcap=c.attn_logit_softcap, impl=c.attention_impl, kv_layout=layout,
                           einsum=self.einsum, query_block=c.attn_query_block)
    w_out = Weight((n, h, d), n * h, dt, pdt, name="attn_vec_einsum")()
    return sharding.constrain_batch(self.einsum("BTNH,NHD->BTD", out, w_out)), new_cache


class MLP(nn.Module):
  """Gated gelu_tanh MLP: linear(gelu(x @ gate) * (x @ up))."""
  config: GemmaConfig
  einsum: Callable = jnp.einsum

  @nn.compact
  def __call__(self, x):
    c = self.config
    dt, pdt = jnp.dtype(c.dtype), jnp.dtype(c.param_dtype)
    gating = self.param("gating_einsum", nn.initializers.normal(c.width**-0.5),
                        (2, c.width, c.mlp_dim), pdt).astype(dt)
    linear = self.param("linear", nn.initializers.normal(c.mlp_dim**-0.5),
                        (c.mlp_dim, c.width), pdt).astype(dt)
    both = self.einsum("BTD,CDF->BTCF", x.astype(dt), gating)  # [B,T,2,F]
    both = sharding.with_logical_constraint(
        both, (sharding.BATCH, sharding.LENGTH, None, sharding.MLP))
    gate, up = both[..., 0, :], both[..., 1, :]
    return sharding.constrain_batch(
        self.einsum("BTF,FD->BTD", nn.gelu(gate, approximate=True) * up, linear))


class Block(nn.Module):
  """One decoder layer; `nn.scan` runs it over the stacked [L,...] params.

  Carry: x [B,T,D]. Per-layer input (scanned, or given layer by layer by `_run_layer_weights`):
  (is_local bool scalar, this layer's (k, v) cache [B,K,S,H] or None); output: the (k, v) with the
  T new slots written, or None. Broadcast `ctx`: masks (global, local) [B,T,S], rope (sin, cos)
  for local and global [B,T,H/2], write_index.
  """
  config: GemmaConfig
  einsum: Callable = jnp.einsum

  @nn.compact
  def __call__(self, x, layer_in, ctx, deterministic):
    c = self.config
    pdt = jnp.dtype(c.param_dtype)
    is_local, kv_cache = layer_in
    pick = lambda local, glob: jnp.where(is_local, local, glob)  # noqa: E731
    mask = pick(ctx["mask_local"], ctx["mask_global"])
    sin = pick(ctx["sin_local"], ctx["sin_global"])
    cos = pick(ctx["cos_local"], ctx["cos_global"])
    x = sharding.constrain_batch(x)
    y = RMSNorm(c.norm_eps, pdt, name="pre_attention_norm")(x)
    y, new_cache = Attention(c, self.einsum, name="attn")(y, sin, cos, mask, kv_cache,
                                                       ctx.get("write_index"))
    if c.post_attn_norm:
      y = RMSNorm(c.norm_eps, pdt, name="post_attention_norm")(y)
    x = x + nn.Dropout(c.dropout)(y, deterministic=deterministic)
    y = RMSNorm(c.norm_eps, pdt, name="pre_ffw_norm")(x)
    y = MLP(c, self.einsum, name="mlp")(y)
    # big_vision drops the MLP's output before its post-norm (the attention's after its own).
    y = nn.Dropout(c.dropout)(y, deterministic=deterministic)
    if c.post_ffw_norm:
      y = RMSNorm(c.norm_eps, pdt, name="post_ffw_norm")(y)
    x = x + y
    return sharding.constrain_batch(x), new_cache


def _layer_stack(config: GemmaConfig):
  """The Block class lifted by remat (per `remat_policy`) and scanned over the L layers."""
  block = Block
  if config.remat_policy != choices.NO_REMAT:
    block = nn.remat(block, policy=choices.remat_policy(config.remat_policy), prevent_cse=False,
                     static_argnums=(4,))
  return nn.scan(block, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
                 in_axes=(0, nn.broadcast, nn.broadcast), length=config.num_layers,
                 unroll=config.scan_unroll)


def layer_weights(layers: Any) -> tuple:
  """The stacked `layers` param tree ([L,...] leaves) as a tuple of L per-layer trees: the per-layer
  weights that `Gemma.hidden` can run on."""
  n = len(jax.tree_util.tree_leaves(layers)[0])
  return tuple(jax.tree_util.tree_map(lambda a, i=i: a[i], layers) for i in range(n))


def _run_layer_weights(config: GemmaConfig, einsum: Callable, weights: tuple, x, caches, ctx,
                       deterministic):
  """The Block of `_layer_stack` applied layer by layer (static kind) on the L trees of
  `layer_weights`. caches: per layer (k, v) or None. Returns (x, new caches as (k tuple, v tuple)
  or None)."""
  if len(weights) != config.num_layers:
    raise ValueError(f"layer_weights must be the {config.num_layers} layers of "
                     f"gemma.layer_weights(params['layers']), got {len(weights)}.")
  block = Block(config, einsum, parent=None)
  new = []
  for i, p in enumerate(weights):
    kv = None if caches is None else caches[i]
    x, kv = block.apply({"params": p}, x, (config.is_local[i], kv), ctx, deterministic)
    new.append(kv)
  return x, None if caches is None else (tuple(k for k, _ in new), tuple(v for _, v in new))


class Gemma(nn.Module):
  """The Gemma decoder. Methods: `embed`, `__call__` (logits), `hidden`, `logits`. einsum: see the
  module docstring."""
  config: GemmaConfig
  einsum: Callable = jnp.einsum

  def setup(self):
    c = self.config
    self.embedder = Embedder(c.vocab_size, c.width, jnp.dtype(c.dtype), jnp.dtype(c.param_dtype),
                             self.einsum)
    self.layers = _layer_stack(c)(c, self.einsum)
    self.final_norm = RMSNorm(c.norm_eps, jnp.dtype(c.param_dtype))

  def embed(self, tokens: jax.Array) -> jax.Array:
    """tokens [B,T] int -> [B,T,D] in the compute dtype, scaled by sqrt(D)."""
    return self.embedder.encode(tokens)

  def logits(self, h: jax.Array) -> jax.Array:
    """Final hidden states [B,T,D] -> logits [B,T,V] float32 (tied embedding, final soft-cap)."""
    logits = sharding.with_logical_constraint(
        self.embedder.decode(sharding.constrain_batch(h)),
        (sharding.BATCH, sharding.LENGTH, sharding.VOCAB))
    cap = self.config.final_logit_softcap
    return jnp.tanh(logits / cap) * cap if cap else logits

  def hidden(self, x, positions, attn_mask, cache: KVCache | None = None, deterministic=True,
             layer_weights: tuple | None = None):
    """Final-normed hidden states. x [B,T,D] embedded inputs, positions [B,T] int, attn_mask [B,T,S]
    bool (S = T without a cache, else the cache length). Returns (h [B,T,D], new cache or None).

    layer_weights: `gemma.layer_weights(params["layers"])`, the per-layer weights the layers then
    run on one by one (decoding makes them once, outside the token loop); None: the layers are
    scanned over the stacked params (with a cache, each layer's buffer is scanned in and out: a
    per-call stack of the cache, fine for a prefill)."""
    c = self.config
    k_pos = positions
    if cache is not None:
      k_pos = jax.lax.dynamic_update_slice(cache.pos, positions.astype(jnp.int32),
                                           (0, cache.index))
    mask_local = attn_mask & sliding_window_mask(positions, k_pos, c.sliding_window or 1)
    if c.window_exempt_blocks:
      mask_local |= same_block_mask(attn_mask, None if cache is None else cache.index)
    ctx = {"mask_global": attn_mask, "mask_local": mask_local}
    for kind in ("local", "global"):
      sin, cos = rope_tables(positions, c.head_dim, getattr(c, f"rope_base_{kind}"),
                             getattr(c, f"rope_scale_{kind}"))
      ctx[f"sin_{kind}"], ctx[f"cos_{kind}"] = sin, cos
    x = x.astype(c.dtype)
    if cache is not None:
      ctx["write_index"] = cache.index
    if layer_weights is None:
      kv = None if cache is None else (jnp.stack(cache.k), jnp.stack(cache.v))
      x, kv = self.layers(x, (jnp.array(c.is_local), kv), ctx, deterministic)
      if kv is not None:
        kv = tuple(tuple(a[i] for i in range(c.num_layers)) for a in kv)
    else:
      caches = None if cache is None else tuple(zip(cache.k, cache.v))
      x, kv = _run_layer_weights(c, self.einsum, layer_weights, x, caches, ctx, deterministic)
    if cache is None:
      return self.final_norm(x), None
    new_cache = KVCache(k=kv[0], v=kv[1], pos=k_pos, index=cache.index + x.shape[1])
    return self.final_norm(x), new_cache

  def __call__(self, x, positions, attn_mask, cache: KVCache | None = None, deterministic=True):
    """x [B,T,D] embedded inputs -> (logits [B,T,V] float32, new cache or None); see `hidden`."""
    h, new_cache = self.hidden(x, positions, attn_mask, cache, deterministic)
    return self.logits(h), new_cache


class Embedder(nn.Module):
  """Token embedding `input_embedding` [V,D], tied with the output projection."""
  vocab_size: int
  width: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  einsum: Callable = jnp.einsum

  def setup(self):
    # std D^-1/2: embedded inputs (x sqrt(D)) have unit variance and the tied output logits start
    # near unit scale (std 1 would give logits of std ~sqrt(D) and a from-scratch loss >> ln V).
    self.input_embedding = self.param("input_embedding", nn.initializers.normal(self.width**-0.5),
                                      (self.vocab_size, self.width), self.param_dtype)

  def encode(self, tokens):
    """tokens [B,T] -> [B,T,D] * sqrt(D) (the factor cast to the compute dtype first)."""
    x = sharding.constrain_batch(self.input_embedding.astype(self.dtype)[tokens])
    return x * jnp.asarray(math.sqrt(self.width), self.dtype)

  def decode(self, h):
    """h [B,T,D] -> [B,T,V] float32."""
    table = self.input_embedding.astype(self.dtype)
    return self.einsum("BTD,VD->BTV", h, table, preferred_element_type=jnp.float32)
