"""Referring-segmentation pp ops: ground-truth masks, the original image size, the target string.

A segmentation target is `<locY0><locX0><locY1><locX1>` (the box, y_min x_min y_max x_max, each
round(v * 1023) of the normalised coordinate, as pp/boxes.py writes boxes) followed by 16
`<segNNN>` codes of the vae-oid VQ-VAE (`tools/make_seg_targets.py` computes them offline).

jsonl data (big_paligemma/data/jsonl.py) holds only strings, numbers and lists of strings, so
`tools/make_seg_targets.py` writes the codes and the box as space-separated numbers
("12 0 127 ..." and "0.1 0.25 0.5 0.75"); `seg_suffix` takes those or numeric tensors (TFDS).
Mask files are paths relative to the jsonl file's folder (or absolute), read by `decode_mask`
with `root` = that folder. On TFDS RefCOCO data the target is computed on the fly:
`mask_seg_codes(vae=...)` encodes the ground-truth mask with the VQ-VAE's encoder (in TF).
"""
import numpy as np
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


def _tf_conv(x: tf.Tensor, layer: dict, stride: int, padding) -> tf.Tensor:
  """A PyTorch-layout conv layer ({"weight": [O, I, k, k], "bias": [O]}) on NHWC `x`."""
  kernel = tf.constant(np.transpose(np.asarray(layer["weight"]), (2, 3, 1, 0)))
  return tf.nn.conv2d(x, kernel, stride, padding) + np.asarray(layer["bias"])


def _tf_res_block(x: tf.Tensor, block: dict) -> tf.Tensor:
  net = block["net"]
  k = np.asarray(net["0"]["weight"]).shape[-1]
  pad = [[0, 0], [k // 2, k // 2], [k // 2, k // 2], [0, 0]]  # torch's padding k // 2
  y = tf.nn.relu(_tf_conv(x, net["0"], 1, pad))
  y = tf.nn.relu(_tf_conv(y, net["2"], 1, pad))
  return x + _tf_conv(y, net["4"], 1, "VALID")


def tf_mask_encoder(vae_path: str):
  """masks [B, 64, 64] float in [0, 1] -> seg codes [B, 16] int32, in TensorFlow.

  The same network and weights as `segmentation.load_mask_encoder` (which reads and checks the
  vae-oid.npz file): 4 stride-2 convs with TF "SAME" padding and relu, two residual blocks, a 1x1
  conv to the code width, then the nearest codebook row of each 4x4 cell (squared L2). Here so
  the training pp can encode ground-truth masks (TensorFlow only, no JAX in tf.data).
  """
  _, params = segmentation.load_mask_encoder(vae_path)
  enc = params["encoder"]
  emb = np.asarray(params["_vq_vae"]["_embedding"], np.float32)  # [V, E]

  def encode(masks: tf.Tensor) -> tf.Tensor:
    x = 2.0 * (tf.cast(masks, tf.float32)[..., None] - 0.5)
    for n in range(4):
      x = tf.nn.relu(_tf_conv(x, enc[str(2 * n)], 2, "SAME"))
    x = _tf_conv(_tf_res_block(_tf_res_block(x, enc["8"]), enc["9"]), enc["10"], 1, "VALID")
    flat = tf.reshape(x, [-1, segmentation.NUM_MASK_TOKENS, emb.shape[1]])  # [B,16,E]
    dist = (tf.reduce_sum(flat**2, -1, keepdims=True) + np.sum(emb**2, -1)
            - 2.0 * tf.einsum("bte,ve->btv", flat, emb))  # [B,16,V]
    return tf.cast(tf.argmin(dist, axis=-1), tf.int32)
  return encode


def crop_mask64(mask: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
  """mask [H, W(, C)] (> 0 inside; channel 0) cropped to box (normalised y0 x0 y1 x1; pixel
  corners round(v * size), at least one pixel) -> [64, 64] float32 in [0, 1], as big_vision's
  refcoco_mask2str: antialiased bilinear resize of the 0/255 crop, divided by 255."""
  mask = tf.cast(tf.reshape(mask, tf.concat([tf.shape(mask)[:2], [-1]], 0))[..., :1], tf.float32)
  mask = tf.cast(mask > 0, tf.float32) * 255.0
  size = tf.cast(tf.shape(mask)[:2], tf.float32)
  box = tf.reshape(tf.cast(box, tf.float32), [4])
  y0, x0 = (tf.cast(tf.round(box[i] * size[i]), tf.int32) for i in (0, 1))
  y1, x1 = (tf.cast(tf.round(box[i + 2] * size[i]), tf.int32) for i in (0, 1))
  crop = mask[y0:tf.maximum(y1, y0 + 1), x0:tf.maximum(x1, x0 + 1)]
  resized = tf.image.resize(crop[None], [segmentation.MASK_SIZE] * 2, method="bilinear",
                            antialias=True)
  return resized[0, ..., 0] / 255.0


@register("pp.mask_seg_codes")
def mask_seg_codes(vae: str, mask_key: str = "objects/mask", box_key: str = "objects/bbox",
                   outkey: str = "seg_codes"):
  """Writes the 16 vae-oid codes (int32 [16]) of the ground-truth mask `mask_key` ([H, W(, C)],
  > 0 inside) cropped to its box `box_key` to `outkey` (see `crop_mask64`): the training target
  of big_vision's RefCOCO transfer, computed on the fly; then `seg_suffix(box_key=...)`."""
  encode = tf_mask_encoder(vae)

  def _mask_seg_codes(example):
    mask64 = crop_mask64(get(example, mask_key), get(example, box_key))
    return {**example, outkey: encode(mask64[None])[0]}
  return _mask_seg_codes
