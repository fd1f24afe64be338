"""PaliGemma 1 and 2: SigLIP image tokens ++ text through a Gemma decoder with a prefix-LM mask.

Sequence: P image tokens (SigLIP, pool "none", then the linear projector `img/head` to the decoder
width D; NOT scaled by sqrt(D)) ++ T text tokens (Gemma embedding, scaled by sqrt(D)). Image tokens
are real inputs with mask_ar 0, so they and the prefix (mask_ar 0) attend to each other
bidirectionally; the suffix (mask_ar 1) is causal. Positions count real tokens from 0.

Several images per example (NLVR2's two): "images" [B,M,h,w,3] instead of "image" [B,h,w,3]. Each
image is encoded alone and their tokens follow one another, M*P image tokens in front of the text,
all in the bidirectional prefix (big_vision folds video frames this way; transformers' PaliGemma
gets the same sequence from M consecutive blocks of <image> tokens).

Parameter tree:
  img/<SigLIP params>            (embedding, pos_embedding, Transformer/...; see siglip.py)
  img/head/{kernel [D_img,D], bias [D]}   the projector (big_vision's name)
  llm/<Gemma params>             (embedder, layers, final_norm; see gemma.py)

PaliGemma 2 uses Gemma 2 decoders: set caps / sliding window / layer_pattern in `llm`
(big_vision fine-tunes with final_logit_softcap None and layer_pattern ("global",)).
"""
import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from big_paligemma import sharding
from big_paligemma.models import gemma
from big_paligemma.models import siglip


@dataclasses.dataclass(frozen=True)
class PaliGemmaConfig:
  """The image encoder (pool_type 'none') and the decoder; validated when built."""
  img: siglip.SigLIPConfig
  llm: gemma.GemmaConfig

  def __post_init__(self):
    if not isinstance(self.img, siglip.SigLIPConfig):
      raise ValueError("PaliGemmaConfig.img must be a SigLIPConfig, got "
                       f"{type(self.img).__name__}.")
    if not isinstance(self.llm, gemma.GemmaConfig):
      raise ValueError(f"PaliGemmaConfig.llm must be a GemmaConfig, got {type(self.llm).__name__}.")
    if self.img.pool_type != "none":
      raise ValueError(f"PaliGemmaConfig.img.pool_type={self.img.pool_type!r}: PaliGemma needs "
                       "every patch token; use pool_type='none'.")

  @property
  def image_size(self) -> int:
    return self.img.image_size

  @property
  def num_image_tokens(self) -> int:
    """P, the image tokens in front of the text."""
    return self.img.num_patches


class ImageEncoder(nn.Module):
  """SigLIP (params at this module's root) + the projector `head`: [B,h,w,3] -> [B,P,D]."""
  config: siglip.SigLIPConfig
  width: int

  def setup(self):
    self.encoder = siglip.SigLIP(self.config)
    nn.share_scope(self, self.encoder)
    self.head = nn.Dense(self.width, dtype=self.config.dtype, param_dtype=self.config.param_dtype)

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    tokens, _ = self.encoder(images, train=train)  # [B,P,D_img]
    return sharding.constrain_batch(self.head(sharding.constrain_batch(tokens)))


class PaliGemma(nn.Module):
  """Image tokens ++ text -> logits. See the module docstring for the layout and the mask.
  einsum: the decoder's (`gemma.Gemma.einsum`; a backend's own, e.g. `train_cpu`'s)."""
  config: PaliGemmaConfig
  einsum: Callable = jnp.einsum

  def setup(self):
    c = self.config
    self.img = ImageEncoder(c.img, c.llm.width)
    self.llm = gemma.Gemma(c.llm, self.einsum)

  def embed_image(self, image: jax.Array, train: bool = False) -> jax.Array:
    """image [B,h,w,3] float in [-1,1] -> [B,P,D] in the decoder's compute dtype (not scaled)."""
    return self.img(image, train=train).astype(self.config.llm.dtype)

  def embed_images(self, batch: dict, train: bool = False) -> jax.Array:
    """The image tokens of a batch: "image" [B,h,w,3] -> [B,P,D], or "images" [B,M,h,w,3] ->
    [B,M*P,D] (image m's tokens at [m*P, (m+1)*P))."""
    if "image" in batch:
      return self.embed_image(batch["image"], train=train)
    images = batch["images"]
    b, m = images.shape[:2]
    tokens = self.embed_image(images.reshape(b * m, *images.shape[2:]), train=train)
    return tokens.reshape(b, m * tokens.shape[1], tokens.shape[2])

  def embed_tokens(self, tokens: jax.Array) -> jax.Array:
    """tokens [B,T] int -> [B,T,D], scaled by sqrt(D) (= Gemma.embed)."""
    return self.llm.embed(tokens)

  def prepare(self, batch: dict, train: bool = False):
    """batch {"image" [B,h,w,3] or "images" [B,M,h,w,3], "text" [B,T], "mask_ar" [B,T],
    "mask_input" [B,T]} -> (x [B,P+T,D], positions [B,P+T] int32, attn_mask [B,P+T,P+T] bool,
    input_mask [B,P+T] bool); with "images", M*P image tokens stand for P."""
    _check_batch(batch)
    img = self.embed_images(batch, train=train)  # [B,P,D]
    txt = self.embed_tokens(batch["text"])  # [B,T,D]
    b, p = img.shape[:2]
    input_mask = jnp.concatenate(
        [jnp.ones((b, p), bool), jnp.asarray(batch["mask_input"]).astype(bool)], axis=1)
    mask_ar = jnp.concatenate(
        [jnp.zeros((b, p), jnp.int32), jnp.asarray(batch["mask_ar"]).astype(jnp.int32)], axis=1)
    positions = (jnp.cumsum(input_mask, axis=1) - 1).astype(jnp.int32)
    attn_mask = gemma.make_attn_mask(input_mask, mask_ar)
    return jnp.concatenate([img, txt], axis=1), positions, attn_mask, input_mask

  def decode(self, x, positions, attn_mask, cache: gemma.KVCache | None = None,
             deterministic: bool = True):
    """x [B,T,D], positions [B,T], attn_mask [B,T,S] -> (logits [B,T,V] float32, cache)."""
    return self.llm(x, positions, attn_mask, cache, deterministic)

  def __call__(self, batch: dict, train: bool = False):
    """-> (text logits [B,T,V] float32 (logits[:, t] predicts text[:, t+1]), aux).

    aux: "image_tokens" [B,P,D] (projected image embeddings; M*P with "images"), "input_mask"
    [B,P+T]."""
    x, positions, attn_mask, input_mask = self.prepare(batch, train=train)
    h, _ = self.llm.hidden(x, positions, attn_mask, deterministic=not train)
    p = x.shape[1] - batch["text"].shape[1]
    # Only the text positions get logits: the [B,P,V] image-token logits are never used.
    return self.llm.logits(h[:, p:]), {"image_tokens": x[:, :p], "input_mask": input_mask}


def _check_batch(batch: dict):
  missing = [k for k in ("text", "mask_ar", "mask_input") if k not in batch]
  if missing:
    raise KeyError(f"PaliGemma batch lacks {missing}; it has {sorted(batch)}.")
  _check_images(batch)
  shapes = {k: tuple(batch[k].shape) for k in ("text", "mask_ar", "mask_input")}
  if len(set(shapes.values())) != 1 or len(shapes["text"]) != 2:
    raise ValueError(f"PaliGemma batch text/mask_ar/mask_input must share one [B,T] shape: "
                     f"{shapes}.")
  key = "image" if "image" in batch else "images"
  if batch[key].shape[0] != shapes["text"][0]:
    raise ValueError(f"PaliGemma batch {key} {tuple(batch[key].shape)} and text "
                     f"{shapes['text']} disagree on the batch size.")


def _check_images(batch: dict):
  """Exactly one of "image" [B,h,w,3] and "images" [B,M,h,w,3] (M >= 1)."""
  given = [k for k in ("image", "images") if k in batch]
  if len(given) != 1:
    raise KeyError(f"PaliGemma batch needs exactly one of 'image' [B,h,w,3] and 'images' "
                   f"[B,M,h,w,3]; it has {sorted(batch)}.")
  (key,) = given
  rank = 4 if key == "image" else 5
  shape = tuple(batch[key].shape)
  if len(shape) != rank or shape[-1] != 3 or (key == "images" and shape[1] < 1):
    raise ValueError(f"PaliGemma batch {key} has shape {shape}; want "
                     f"{'[B,h,w,3]' if key == 'image' else '[B,M,h,w,3] with M >= 1'}.")
