"""SigLIP / ViT image encoder and its pooling heads, in big_vision's parameter layout.

images [B, h, w, 3] in [-1, 1] -> conv patch embedding -> + learned position embedding [1, P, D]
(no class token) -> `depth` pre-LN blocks (MHA with biases, tanh-GELU MLP) -> final LayerNorm ->
pooling ("map" attention-pooling head, "gap" mean, "0"/"tok" first token, "none" all tokens).

Parameter paths (relative to the `SigLIP` module):
  embedding/{kernel [p, p, 3, D] (HWIO), bias [D]}
  pos_embedding [1, P, D]
  Transformer/encoderblock/...             every leaf stacked on a leading [depth] axis:
    LayerNorm_0/{scale, bias}              pre-attention norm
    MultiHeadDotProductAttention_0/{query, key, value}/{kernel [D, N, H], bias [N, H]}
    MultiHeadDotProductAttention_0/out/{kernel [N, H, D], bias [D]}
    LayerNorm_1/{scale, bias}              pre-MLP norm
    MlpBlock_0/{Dense_0 [D, F], Dense_1 [F, D]}/{kernel, bias}
  Transformer/encoder_norm/{scale, bias}
  MAPHead_0/probe [1, 1, D]                pool_type "map" only; then, as in the encoder block,
  MAPHead_0/{MultiHeadDotProductAttention_0, LayerNorm_0, MlpBlock_0}/...

The blocks always live under one stacked `encoderblock`: `scan_unroll=1` runs them with a rolled
`nn.scan`, `scan_unroll=depth` unrolls it fully; the parameter tree is the same either way.
LayerNorm statistics, attention logits and softmax are computed in float32 whatever the compute
dtype.
"""
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from big_paligemma import sharding
from big_paligemma.models import attention, choices

POOL_TYPES = ("map", "gap", "0", "tok", "none")
# Block sizes by name: (width D, depth, mlp_dim F, num_heads N).
VARIANTS = {
    "Ti": (192, 12, 768, 3),
    "S": (384, 12, 1536, 6),
    "B": (768, 12, 3072, 12),
    "L": (1024, 24, 4096, 16),
    "So400m": (1152, 27, 4304, 16),
    "H": (1280, 32, 5120, 16),
}


@dataclasses.dataclass(frozen=True)
class SigLIPConfig:
  """SigLIP encoder hyper-parameters; validated when built.

  dtype is the compute dtype, param_dtype the storage dtype of the parameters (names, as for
  Gemma: `choices.DTYPES`). scan_unroll is the `unroll` of the scan over blocks (1 = rolled, depth =
  fully unrolled). remat_policy is "none" or a `jax.checkpoint_policies` name, e.g.
  "nothing_saveable" (`choices.remat_policy_names()`, the same names as Gemma's).
  attn_query_block: above `attention.BLOCKWISE_MIN_QUERIES` patches (896) the attention runs this
  many queries at a time (less memory, its logits recomputed in the backward pass); 0 = all at
  once (faster where the slice has the memory), as Gemma's. attn_impl: "auto" (= "einsum"),
  "einsum", "xla" (jax.nn.dot_product_attention) or "flash" (the TPU Pallas kernels of
  attention_tpu.py, which hold no logits in HBM; attn_query_block then plays no part).
  """
  width: int
  depth: int
  mlp_dim: int
  num_heads: int
  patch_size: int
  image_size: int
  pool_type: str = "none"
  norm_eps: float = 1e-6
  dtype: str = "float32"
  param_dtype: str = "float32"
  scan_unroll: int = 1
  remat_policy: str = choices.NO_REMAT
  attn_query_block: int = attention.QUERY_BLOCK
  attn_impl: str = "auto"

  def __post_init__(self):
    if self.attn_impl not in attention.IMPLS:
      raise ValueError(f"SigLIPConfig.attn_impl={self.attn_impl!r}: use one of "
                       f"{list(attention.IMPLS)}.")
    if not isinstance(self.attn_query_block, int) or self.attn_query_block < 0:
      raise ValueError(f"SigLIPConfig.attn_query_block={self.attn_query_block!r}: must be a "
                       "positive int, or 0 for all queries at once.")
    for key in ("width", "depth", "mlp_dim", "num_heads", "patch_size", "image_size", "scan_unroll"):
      value = getattr(self, key)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"SigLIPConfig.{key}={value!r}: must be a positive int.")
    if self.width % self.num_heads:
      raise ValueError(f"SigLIPConfig.width={self.width} is not divisible by num_heads="
                       f"{self.num_heads}: pick a width that is a multiple of num_heads.")
    if self.image_size % self.patch_size:
      raise ValueError(f"SigLIPConfig.image_size={self.image_size} is not divisible by patch_size="
                       f"{self.patch_size}: use a multiple of the patch size.")
    if self.pool_type not in POOL_TYPES:
      raise ValueError(f"SigLIPConfig.pool_type={self.pool_type!r}; allowed: {POOL_TYPES}.")
    choices.check_remat_policy("SigLIPConfig", self.remat_policy)
    if not self.norm_eps > 0:
      raise ValueError(f"SigLIPConfig.norm_eps={self.norm_eps!r}: must be > 0.")
    for key in ("dtype", "param_dtype"):
      choices.check_dtype("SigLIPConfig", key, getattr(self, key))

  @property
  def grid(self) -> int:
    """Patches per side."""
    return self.image_size // self.patch_size

  @property
  def num_patches(self) -> int:
    """P, the number of image tokens."""
    return self.grid ** 2

  @property
  def head_dim(self) -> int:
    return self.width // self.num_heads

  def num_params(self) -> int:
    """Parameter count, derived from the layout in the module docstring."""
    d, f = self.width, self.mlp_dim
    attn = 4 * (d * d + d)
    mlp = d * f + f + f * d + d
    block = attn + mlp + 2 * 2 * d
    stem = self.patch_size ** 2 * 3 * d + d + self.num_patches * d
    head = d + attn + 2 * d + mlp if self.pool_type == "map" else 0
    return stem + self.depth * block + 2 * d + head


def siglip_variant(name: str, **overrides) -> SigLIPConfig:
  """A config by big_vision name "<size>/<patch>", e.g. "So400m/14", "B/16", "L/16".

  overrides set any other SigLIPConfig field (image_size defaults to 224; width, depth, mlp_dim,
  num_heads, patch_size may be overridden too).
  """
  size, _, patch = name.partition("/")
  if size not in VARIANTS or not patch.isdigit():
    known = ", ".join(f"{s}/<patch>" for s in VARIANTS)
    raise ValueError(f"Unknown SigLIP variant {name!r}; known: {known} (e.g. 'So400m/14').")
  width, depth, mlp_dim, num_heads = VARIANTS[size]
  fields = dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads,
                patch_size=int(patch), image_size=224)
  unknown = set(overrides) - {f.name for f in dataclasses.fields(SigLIPConfig)}
  if unknown:
    raise ValueError(f"Unknown SigLIPConfig fields {sorted(unknown)}.")
  return SigLIPConfig(**{**fields, **overrides})


def resample_posemb(posemb: jax.Array, new_grid: int) -> jax.Array:
  """Bilinear resize of a square position-embedding grid: [1, P, D] -> [1, new_grid**2, D].

  Used by the checkpoint loaders when the image size differs from the checkpoint's. Sample centres
  are aligned as in `align_corners=False` (half-pixel), edges are clamped, and no anti-aliasing
  is applied, so a linear ramp stays linear away from the border. (HF's `interpolate_pos_encoding`
  uses bicubic interpolation instead; the two differ slightly.)
  """
  _, p, d = posemb.shape
  grid = int(round(p ** 0.5))
  if grid * grid != p:
    raise ValueError(f"resample_posemb: {p} positions do not form a square grid.")
  if grid == new_grid:
    return posemb
  x = posemb.reshape(grid, grid, d).astype(jnp.float32)
  x = jax.image.resize(x, (new_grid, new_grid, d), method="bilinear", antialias=False)
  return x.reshape(1, new_grid * new_grid, d).astype(posemb.dtype)


def _layer_norm(x: jax.Array, eps: float, param_dtype: Any, name: str | None = None) -> jax.Array:
  """LayerNorm computed in float32, returned in x's dtype. Must be called inside a compact method."""
  y = nn.LayerNorm(epsilon=eps, dtype=jnp.float32, param_dtype=param_dtype, name=name)(x)
  return y.astype(x.dtype)


class MlpBlock(nn.Module):
  """[B, T, D] -> Dense_0 [D, F] -> tanh-GELU -> Dense_1 [F, D] -> [B, T, D]."""
  mlp_dim: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    dense = lambda n: nn.Dense(n, dtype=self.dtype, param_dtype=self.param_dtype)
    y = nn.gelu(dense(self.mlp_dim)(x), approximate=True)
    y = sharding.with_logical_constraint(y, (sharding.BATCH, sharding.LENGTH, sharding.MLP))
    return sharding.constrain_batch(dense(x.shape[-1])(y))


class MultiHeadDotProductAttention(nn.Module):
  """Full attention with biases: queries x_q [B, T, D], keys/values x_kv [B, S, D] -> [B, T, D]
  (the softmax attention is Gemma's, `attention.attend`, with no mask)."""
  num_heads: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  query_block: int = 0
  impl: str = "einsum"

  @nn.compact
  def __call__(self, x_q: jax.Array, x_kv: jax.Array) -> jax.Array:
    d = x_q.shape[-1]
    h = d // self.num_heads
    proj = lambda name: nn.DenseGeneral((self.num_heads, h), dtype=self.dtype,
                                        param_dtype=self.param_dtype, name=name)
    q = proj("query")(x_q)  # [B, T, N, H]
    k = proj("key")(x_kv)  # [B, S, N, H]
    v = proj("value")(x_kv)  # [B, S, N, H]
    out = attention.attend(q, k, v, scale=h ** -0.5, query_block=self.query_block,
                           impl="einsum" if self.impl == "auto" else self.impl)
    return sharding.constrain_batch(nn.DenseGeneral(
        d, axis=(-2, -1), dtype=self.dtype, param_dtype=self.param_dtype, name="out")(out))


class Encoder1DBlock(nn.Module):
  """Pre-LN block: x += attn(LN(x)); x += mlp(LN(x)). Scan body: (x [B, P, D], None) -> (x, None)."""
  config: SigLIPConfig

  @nn.compact
  def __call__(self, x: jax.Array, _: Any = None) -> tuple[jax.Array, None]:
    c = self.config
    x = sharding.constrain_batch(x)
    y = _layer_norm(x, c.norm_eps, c.param_dtype)
    y = MultiHeadDotProductAttention(c.num_heads, c.dtype, c.param_dtype,
                                     c.attn_query_block, c.attn_impl)(y, y)
    x = x + y
    y = _layer_norm(x, c.norm_eps, c.param_dtype)
    x = x + MlpBlock(c.mlp_dim, c.dtype, c.param_dtype)(y)
    return sharding.constrain_batch(x), None


class Encoder(nn.Module):
  """The stacked blocks and the final norm: [B, P, D] -> [B, P, D]."""
  config: SigLIPConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = self.config
    block = Encoder1DBlock
    if c.remat_policy != choices.NO_REMAT:
      block = nn.remat(block, policy=choices.remat_policy(c.remat_policy), prevent_cse=False)
    stack = nn.scan(block, variable_axes={"params": 0}, split_rngs={"params": True},
                    length=c.depth, unroll=min(c.scan_unroll, c.depth))
    x, _ = stack(c, name="encoderblock")(x, None)
    return _layer_norm(x, c.norm_eps, c.param_dtype, name="encoder_norm")


class MAPHead(nn.Module):
  """Attention pooling: a learned probe [1, 1, D] attends over x [B, P, D]; MLP residual -> [B, D]."""
  config: SigLIPConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = self.config
    b, _, d = x.shape
    probe = self.param("probe", nn.initializers.xavier_uniform(), (1, 1, d), c.param_dtype)
    probe = jnp.tile(probe.astype(c.dtype), (b, 1, 1))  # [B, 1, D]
    x = MultiHeadDotProductAttention(c.num_heads, c.dtype, c.param_dtype)(probe, x)
    y = _layer_norm(x, c.norm_eps, c.param_dtype)
    x = x + MlpBlock(c.mlp_dim, c.dtype, c.param_dtype)(y)
    return x[:, 0]


class SigLIP(nn.Module):
  """images [B, h, w, 3] in [-1, 1] -> (out, aux).

  out is [B, P, D] for pool_type "none", else [B, D]. aux holds "stem" (patch embeddings
  [B, P, D]), "encoded" (tokens after the final norm [B, P, D]) and "pooled" (= out).
  `train` is accepted for a uniform model interface; the encoder has no dropout.
  """
  config: SigLIPConfig

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    del train
    c = self.config
    if images.ndim != 4 or images.shape[1:] != (c.image_size, c.image_size, 3):
      raise ValueError(f"SigLIP expects images [B, {c.image_size}, {c.image_size}, 3], got "
                       f"{images.shape}; for another size build the config with that image_size "
                       "and resample pos_embedding with resample_posemb.")
    p = c.patch_size
    x = nn.Conv(c.width, (p, p), strides=(p, p), padding="VALID", dtype=c.dtype,
                param_dtype=c.param_dtype, name="embedding")(images.astype(c.dtype))
    x = sharding.constrain_batch(x.reshape(x.shape[0], -1, c.width))  # [B, P, D], row-major
    posemb = self.param("pos_embedding", nn.initializers.normal(stddev=c.width ** -0.5),
                        (1, c.num_patches, c.width), c.param_dtype)
    aux = {"stem": x}
    x = sharding.constrain_batch(Encoder(c, name="Transformer")(x + posemb.astype(c.dtype)))
    aux["encoded"] = x
    out = _pool(x, c) if c.pool_type != "map" else MAPHead(c, name="MAPHead_0")(x)
    aux["pooled"] = out
    return out, aux


def _pool(x: jax.Array, c: SigLIPConfig) -> jax.Array:
  """Parameter-free pooling of x [B, P, D]."""
  if c.pool_type == "gap":
    return jnp.mean(x.astype(jnp.float32), axis=1).astype(x.dtype)
  if c.pool_type in ("0", "tok"):
    return x[:, 0]
  return x
