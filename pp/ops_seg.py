"""Referring-segmentation pp ops: ground-truth masks, the original image size, the target string.

A segmentation target is `<locY0><locX0><locY1><locX1>` (the box, y_min x_min y_max x_max, each
round(v * 1023) of the normalised coordinate, as pp/boxes.py writes boxes) followed by 16
`<segNNN>` codes of the vae-oid VQ-VAE (`tools/make_seg_targets.py` computes them offline).

jsonl data (big_paligemma/data/jsonl.py) holds only strings, numbers and lists of strings, so
`tools/make_seg_targets.py` writes the codes and the box as space-separated numbers
("12 0 127 ..." and "0.1 0.25 0.5 0.75"); `seg_suffix` takes those or numeric tensors (TFDS).
Mask files are paths relative to the jsonl file's folder (or absolute), read by `decode_mask`
with `root` = that folder.
"""
import tensorflow as tf

from big_paligemma import segmentation
from big_paligemma import loc_tokens
from big_paligemma.data import files
from big_paligemma.registry import register
from pp.boxes import _loc_strings
from pp.ops_general import get

def _mask_bytes(value: tf.Tensor, root: str | None) -> tf.Tensor:
  """Encoded mask bytes: `value` itself, or (with `root`) the file at path `value`."""
  if root is None:
    return value
  base = tf.constant(root.rstrip("/") + "/" if root else "")
  path = tf.where(tf.strings.regex_full_match(value, "(/|gs://).*"), value, base + value)
  return files.read_file(path)


@register("pp.decode_mask")
def decode_mask(key: str = "mask", root: str | None = None, outkey: str | None = None):
  """Decodes a PNG/JPEG/... mask to uint8 [H, W]: 1 where channel 0 is > 0, else 0.

  Without `root` the field holds the encoded image bytes; with `root` it holds a file path,
  relative to `root` (the jsonl file's folder) unless absolute or a gs:// URL. The mask keeps its
  stored size (the image's original size), so decode it before any image resize.
  """
  def _decode_mask(example):
    raw = _mask_bytes(get(example, key), root)
    image = tf.io.decode_image(raw, channels=0, expand_animations=False)
    mask = tf.cast(image[..., 0] > 0, tf.uint8)
    mask.set_shape([None, None])
    return {**example, outkey or key: mask}
  return _decode_mask


@register("pp.keep_size")
def keep_size(key: str = "image", outkey: str = "size"):
  """Writes int32 [2] = (h, w) of the decoded image (or mask) `key` [h, w, ...] to `outkey`.

  Run it after `decode` / `decode_mask` and before `resize`: the refcoco_seg evaluator crops the
  batch-padded ground-truth masks to this size.
  """
  def _keep_size(example):
    value = get(example, key)
    if value.dtype == tf.string:
      raise ValueError(f"pp.keep_size: field {key!r} is still encoded bytes; put keep_size after "
                       "decode (or decode_mask).")
    return {**example, outkey: tf.shape(value)[:2]}
  return _keep_size


def _numbers(value: tf.Tensor, dtype, length: int, what: str) -> tf.Tensor:
  """A [length] tensor of `dtype` from numbers or one string of space-separated numbers."""
  if value.dtype == tf.string:
    value = tf.strings.to_number(tf.strings.split(tf.reshape(value, [])), dtype)
  value = tf.reshape(tf.cast(value, dtype), [-1])
  tf.debugging.assert_equal(tf.size(value), length,
                            message=f"pp.seg_suffix: {what} must have {length} values")
  return tf.ensure_shape(value, [length])


@register("pp.seg_suffix")
def seg_suffix(codes_key: str = "seg_codes", box_key: str = "box", outkey: str = "suffix"):
  """Writes the target `<locY0><locX0><locY1><locX1><segNNN>x16` to `outkey`.

  `box_key`: normalised (y_min, x_min, y_max, x_max) in [0, 1], each written as round(v * 1023);
  `codes_key`: 16 seg codes in 0..127. Either may be a numeric tensor or one string of
  space-separated numbers (the jsonl form of tools/make_seg_targets.py).
  """
  tokens = tf.constant(loc_tokens.SEG_PIECES)

  def _seg_suffix(example):
    box = _numbers(get(example, box_key), tf.float32, 4, f"{box_key!r} (the box)")
    codes = _numbers(get(example, codes_key), tf.int32, segmentation.NUM_MASK_TOKENS,
                     f"{codes_key!r} (the seg codes)")
    tf.debugging.assert_greater_equal(codes, 0, message="pp.seg_suffix: seg code < 0")
    tf.debugging.assert_less(codes, segmentation.NUM_CODES,
                             message=f"pp.seg_suffix: seg code > {segmentation.NUM_CODES - 1}")
    segs = tf.strings.reduce_join(tf.gather(tokens, codes))
    return {**example, outkey: tf.strings.join([_loc_strings(box[None])[0], segs])}
  return _seg_suffix
