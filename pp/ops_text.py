"""Text pp ops: strfmt, lower, strjoin, tok, tolen, masked_concat (and, from pp/ops_gemma3.py,
gemma3_tok).

Token ops need the `Tokenizer`; `get_preprocess_fn` passes it in as the `tokenizer` argument.
"""
import string

import numpy as np
import tensorflow as tf

from big_paligemma.registry import register
from big_paligemma.tokenizer import Tokenizer
from pp.ops_general import as_text
from pp.ops_general import get

_YES_NO = ("no", "yes")


def _template_parts(template: str) -> list[tuple[str, str | None]]:
  """(literal text, field name or None) pairs of a `str.format` template with plain `{field}`s."""
  parts = []
  for literal, field, spec, conv in string.Formatter().parse(template):
    if spec or conv or field == "":
      raise ValueError(f"strfmt template {template!r}: use plain named fields like {{question}}.")
    parts.append((literal, field))
  return parts


@register("pp.strfmt")
def strfmt(template: str, outkey: str = "prefix"):
  """Fills `{field}`s of `template` with the example's (scalar) fields into `outkey`."""
  parts = _template_parts(template)

  def _strfmt(example):
    pieces = []
    for literal, field in parts:
      pieces.append(tf.constant(literal))
      if field is not None:
        pieces.append(as_text(get(example, field)))
    return {**example, outkey: tf.strings.join(pieces)}
  return _strfmt


@register("pp.lower")
def lower(key: str = "text", outkey: str | None = None):
  """Lower-cases the string field `key` (a string or a list of strings) into `outkey` (default:
  in place); ASCII letters only, as big_vision's `lower` (tf.strings.lower)."""
  def _lower(example):
    return {**example, outkey or key: tf.strings.lower(get(example, key))}
  return _lower


@register("pp.strjoin")
def strjoin(glue: str, inkey: str, outkey: str | None = None):
  """Joins the 1-D string field `inkey` with `glue` into the string `outkey` (default: in place),
  e.g. the choices of a multiple-choice prompt."""
  def _strjoin(example):
    return {**example, outkey or inkey: tf.strings.reduce_join(get(example, inkey),
                                                               separator=glue)}
  return _strjoin


def require_tokenizer(tokenizer: Tokenizer | None, op: str) -> Tokenizer:
  if tokenizer is None:
    raise ValueError(f"pp.{op} needs a tokenizer: pass tokenizer_path= to get_preprocess_fn "
                     f"or tokenizer=\"path/to/tokenizer.model\" in the op.")
  return tokenizer


def _encode_fn(tokenizer: Tokenizer):
  def encode(text) -> np.ndarray:
    text = text.item() if isinstance(text, np.ndarray) else text  # 0-d array when run eagerly
    return np.asarray(tokenizer.encode(text.decode("utf-8")), np.int32)
  return encode


def _fit(x: tf.Tensor, length: int, pad_value, sticky_id: int | None) -> tuple[tf.Tensor, tf.Tensor]:
  """Pads or truncates the 1-D `x` to `length`; returns it and 1 if it was truncated (else 0).

  With `sticky_id`, a truncated sequence whose last element was `sticky_id` keeps it last.
  """
  n = tf.shape(x)[0]
  truncated = tf.cast(n > length, tf.int32)
  out = tf.concat([x[:length], tf.fill([tf.maximum(length - n, 0)], tf.cast(pad_value, x.dtype))], 0)
  if sticky_id is not None:
    keep_eos = tf.logical_and(n > length, tf.reduce_any(tf.equal(x[-1:], sticky_id)))
    out = tf.where(keep_eos, tf.concat([out[:-1], [tf.cast(sticky_id, x.dtype)]], 0), out)
  out.set_shape([length])
  return out, truncated


@register("pp.tok")
def tok(key: str = "text", bos: str = "no", eos: str = "no", inkey: str | None = None,
        outkey: str | None = None, text: str | None = None, length: int | None = None,
        tokenizer: Tokenizer | None = None):
  """Tokenizes the string field `inkey` (default `key`) into int32 [n] at `outkey` (default `key`).

  `text` tokenizes a constant instead (e.g. the "\\n" separator). `eos="sticky"` adds EOS and, with
  `length`, keeps it as the last token when truncating.
  """
  tokenizer = require_tokenizer(tokenizer, "tok")
  if bos not in _YES_NO or eos not in _YES_NO + ("sticky",):
    raise ValueError(f"bos must be 'no'|'yes' and eos 'no'|'yes'|'sticky'; got bos={bos!r}, eos={eos!r}.")
  head = [tokenizer.bos_id] if bos == "yes" else []
  tail = [tokenizer.eos_id] if eos != "no" else []
  sticky = tokenizer.eos_id if eos == "sticky" else None
  encode = _encode_fn(tokenizer)

  def _tok(example):
    if text is not None:
      ids = tf.constant(head + tokenizer.encode(text) + tail, tf.int32)
    else:
      ids = tf.numpy_function(encode, [get(example, inkey or key)], tf.int32, stateful=False)
      ids = tf.concat([tf.constant(head, tf.int32), tf.reshape(ids, [-1]), tf.constant(tail, tf.int32)], 0)
    if length is not None:
      ids, _ = _fit(ids, length, tokenizer.pad_id, sticky)
    return {**example, outkey or key: ids}
  return _tok


@register("pp.tolen")
def tolen(length: int, pad_value=0, key: str = "text", sticky_eos: bool = False,
          tokenizer: Tokenizer | None = None):
  """Pads with `pad_value` or truncates field `key` to `length`; sets `_truncated` to 1 if cut.

  `sticky_eos` keeps the tokenizer's EOS as the last token when a sequence ending in EOS is cut.
  """
  if not isinstance(length, int) or length <= 0:
    raise ValueError(f"length must be a positive int, got {length!r}.")
  sticky = require_tokenizer(tokenizer, "tolen(sticky_eos=True)").eos_id if sticky_eos else None

  def _tolen(example):
    out, cut = _fit(get(example, key), length, pad_value, sticky)
    if "_truncated" in example:
      cut = tf.maximum(cut, example["_truncated"])
    return {**example, key: out, "_truncated": cut}
  return _tolen


@register("pp.masked_concat")
def masked_concat(keys=("prefix", "septok", "suffix"), mask_ar=(0, 0, 1), mask_loss=(0, 0, 1),
                  outkey: str = "text"):
  """Concatenates the token fields `keys` into `outkey` and builds the per-token masks.

  Output: `outkey` int32 [T]; `mask_ar`, `mask_loss` int32 [T] with each key's value repeated over its
  tokens; `mask_input` int32 [T] of ones (the real tokens; tolen pads it with 0).
  """
  keys, mask_ar, mask_loss = list(keys), list(mask_ar), list(mask_loss)
  if not len(keys) == len(mask_ar) == len(mask_loss):
    raise ValueError(f"keys {keys}, mask_ar {mask_ar} and mask_loss {mask_loss} must have equal lengths.")

  def _masked_concat(example):
    toks = [tf.cast(get(example, k), tf.int32) for k in keys]
    def masks(values):
      return tf.concat([tf.fill(tf.shape(t), tf.constant(v, tf.int32)) for t, v in zip(toks, values)], 0)
    text = tf.concat(toks, 0)
    return {**example, outkey: text, "mask_ar": masks(mask_ar), "mask_loss": masks(mask_loss),
            "mask_input": tf.ones_like(text)}
  return _masked_concat
