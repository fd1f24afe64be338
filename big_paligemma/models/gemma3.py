"""Gemma 3 multimodal: SigLIP soft tokens placed at the image placeholders of the text.

Vision path (float32 whatever the decoder dtype): images [B,M,h,w,3] -> SigLIP (pool "none")
[B*M,P,D_img] -> average pool over the patch grid (grid/side x grid/side windows, side =
sqrt(tokens_per_image)) -> [B*M,tokens_per_image,D_img] -> RMSNorm (1+w) -> linear D_img -> D
without bias -> [B,M,tokens_per_image,D] (not scaled by sqrt(D)).

The text holds `image_token_id` placeholders (tokens_per_image per image, in image order); the n-th
placeholder of an example takes the n-th soft token of its images. Mask: causal OR same image
block (a maximal run of placeholders is one block, bidirectional inside), AND valid; the decoder
adds the window on local layers.

Parameter tree:
  img/<SigLIP params>                     (absent when config.img is None)
  mm/soft_emb_norm/scale [D_img]          mm/input_projection/w [D_img,D]
  llm/<Gemma params>
"""
import dataclasses
import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from big_paligemma.models import gemma
from big_paligemma.models import siglip


@dataclasses.dataclass(frozen=True)
class Gemma3Config:
  """Decoder, optional image encoder (pool_type 'none') and the soft-token layout; validated."""
  llm: gemma.GemmaConfig
  img: siglip.SigLIPConfig | None = None
  tokens_per_image: int = 256
  image_token_id: int = 262144
  mm_norm_eps: float = 1e-6

  def __post_init__(self):
    if not isinstance(self.llm, gemma.GemmaConfig):
      raise ValueError(f"Gemma3Config.llm must be a GemmaConfig, got {type(self.llm).__name__}.")
    side = math.isqrt(self.tokens_per_image) if self.tokens_per_image > 0 else 0
    if side < 1 or side * side != self.tokens_per_image:
      raise ValueError(f"Gemma3Config.tokens_per_image={self.tokens_per_image} must be a positive "
                       "square (e.g. 256 = 16x16).")
    if self.img is None:
      return
    if self.img.pool_type != "none":
      raise ValueError(f"Gemma3Config.img.pool_type={self.img.pool_type!r}; use 'none' (the "
                       "soft tokens are pooled by the projector).")
    if self.img.grid % side:
      raise ValueError(f"Gemma3Config: patch grid {self.img.grid} is not divisible by "
                       f"sqrt(tokens_per_image)={side}; pick tokens_per_image = (grid/k)^2.")

  @property
  def pool(self) -> int:
    """Side of the average-pooling window over the patch grid."""
    return self.img.grid // math.isqrt(self.tokens_per_image)


class Projector(nn.Module):
  """The `mm` params: patch tokens [B*M,P,D_img] -> pool -> soft_emb_norm -> input_projection ->
  [B*M,tokens_per_image,D], all in float32."""
  config: Gemma3Config

  @nn.compact
  def __call__(self, tokens: jax.Array) -> jax.Array:
    c = self.config
    n, _, d_img = tokens.shape
    grid, k = c.img.grid, c.pool
    x = tokens.astype(jnp.float32).reshape(n, grid // k, k, grid // k, k, d_img)
    x = x.mean(axis=(2, 4)).reshape(n, c.tokens_per_image, d_img)  # row-major over pooled cells
    x = gemma.RMSNorm(c.mm_norm_eps, name="soft_emb_norm")(x)
    proj = gemma.Einsum((d_img, c.llm.width), d_img, name="input_projection")
    return proj("BPE,ED->BPD", x)  # E = D_img, the image width


class Gemma3(nn.Module):
  """Gemma 3 text or text+images -> logits. See the module docstring. einsum: the decoder's
  (`gemma.Gemma.einsum`; a backend's own, e.g. `train_cpu`'s)."""
  config: Gemma3Config
  einsum: Callable = jnp.einsum

  def setup(self):
    c = self.config
    if c.img is not None:
      self.img = siglip.SigLIP(_float32(c.img))
      self.mm = Projector(c)
    self.llm = gemma.Gemma(c.llm, self.einsum)

  def embed_image(self, images: jax.Array) -> jax.Array:
    """images [B,M,h,w,3] in [-1,1] -> soft tokens [B,M,tokens_per_image,D] (compute dtype)."""
    c = self.config
    if c.img is None:
      raise ValueError("Gemma3.embed_image: this Gemma3Config has img=None (text only).")
    b, m = images.shape[:2]
    tokens, _ = self.img(images.reshape(b * m, *images.shape[2:]))  # [B*M,P,D_img]
    soft = self.mm(tokens)  # [B*M,tokens_per_image,D]
    return soft.reshape(b, m, c.tokens_per_image, -1).astype(c.llm.dtype)

  def embed_tokens(self, tokens: jax.Array) -> jax.Array:
    """tokens [B,T] -> [B,T,D] scaled by sqrt(D); out-of-vocabulary placeholders embed as id 0."""
    c = self.config
    if c.image_token_id >= c.llm.vocab_size:
      tokens = jnp.where(tokens == c.image_token_id, 0, tokens)
    return self.llm.embed(tokens)

  def prepare(self, batch: dict, train: bool = False):
    """batch {"text" [B,T], "mask_input" [B,T], optional "images" [B,M,h,w,3]} ->
    (x [B,T,D], positions [B,T] int32, attn_mask [B,T,T] bool, input_mask [B,T] bool)."""
    del train  # no dropout in the vision path
    text = jnp.asarray(batch["text"])
    input_mask = jnp.asarray(batch["mask_input"]).astype(bool)
    if text.ndim != 2 or input_mask.shape != text.shape:
      raise ValueError(f"Gemma3 batch text {text.shape} and mask_input {input_mask.shape} must be "
                       "one [B,T] shape.")
    x = self.embed_tokens(text)
    is_img = text == self.config.image_token_id
    images = batch.get("images")
    if images is not None and images.shape[1] > 0:
      x = _place(x, is_img, self.embed_image(images), text)
    else:
      _check_no_placeholders(text, is_img)
    # mask_ar 0 on an image token that follows an image token: each run of placeholders is a block.
    prev = jnp.pad(is_img, ((0, 0), (1, 0)))[:, :-1]
    mask_ar = 1 - (is_img & prev).astype(jnp.int32)
    positions = (jnp.cumsum(input_mask, axis=1) - 1).astype(jnp.int32)
    return x, positions, gemma.make_attn_mask(input_mask, mask_ar), input_mask

  def decode(self, x, positions, attn_mask, cache: gemma.KVCache | None = None,
             deterministic: bool = True):
    """x [B,T,D], positions [B,T], attn_mask [B,T,S] -> (logits [B,T,V] float32, cache)."""
    return self.llm(x, positions, attn_mask, cache, deterministic)

  def __call__(self, batch: dict, train: bool = False):
    """-> (logits [B,T,V] float32, aux {"input_mask" [B,T]})."""
    x, positions, attn_mask, input_mask = self.prepare(batch, train=train)
    logits, _ = self.decode(x, positions, attn_mask, deterministic=not train)
    return logits, {"input_mask": input_mask}


def _float32(cfg: siglip.SigLIPConfig) -> siglip.SigLIPConfig:
  return dataclasses.replace(cfg, dtype="float32", param_dtype="float32")


def _place(x: jax.Array, is_img: jax.Array, soft: jax.Array, text: jax.Array) -> jax.Array:
  """x [B,T,D] with each row's n-th placeholder replaced by row n of soft [B,M,Q,D] as [B,M*Q,D]."""
  b, m, q, d = soft.shape
  _check_placeholder_count(text, is_img, m * q)
  flat = soft.reshape(b, m * q, d)
  idx = jnp.clip(jnp.cumsum(is_img, axis=1) - 1, 0, m * q - 1)  # [B,T]
  gathered = jnp.take_along_axis(flat, idx[..., None], axis=1)  # [B,T,D]
  return jnp.where(is_img[..., None], gathered.astype(x.dtype), x)


def _concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def _check_placeholder_count(text, is_img, want: int):
  del text  # is_img is what is tested: a concrete text closed over in a jit gives a traced is_img.
  if _concrete(is_img):
    counts = jnp.sum(is_img, axis=1)
    if bool(jnp.any(counts > want)):
      raise ValueError(f"Gemma3: placeholders per example {counts.tolist()} exceed the {want} soft "
                       "tokens of the images given; add images or remove placeholders.")


def _check_no_placeholders(text, is_img):
  del text  # as above
  if _concrete(is_img) and bool(jnp.any(is_img)):
    raise ValueError("Gemma3: the text has image placeholders but the batch has no 'images' "
                     "(or config.img is None); pass images [B,M,h,w,3].")
