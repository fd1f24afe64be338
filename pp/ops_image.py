"""Image pp ops: decode, resize, value_range, draw_bbox, stack_images. Images are [h, w, 3]
tensors; a model's "images" field holds M of them, [M, h, w, 3]."""
import tensorflow as tf

from big_paligemma.registry import register
from pp.ops_general import get

_METHODS = ("bilinear", "bicubic", "nearest", "area", "lanczos3", "lanczos5")


@register("pp.decode")
def decode(key: str = "image", channels: int = 3):
  """Decodes JPEG/PNG/GIF (first frame)/BMP bytes to uint8 [h, w, channels]."""
  def _decode(example):
    image = tf.io.decode_image(get(example, key), channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return {**example, key: image}
  return _decode


def _size_pair(size) -> tuple[int, int]:
  pair = (size, size) if isinstance(size, int) else tuple(size)
  if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
    raise ValueError(f"size must be a positive int or (h, w), got {size!r}.")
  return pair


@register("pp.resize")
def resize(size, key: str = "image", method: str = "bilinear", antialias: bool = False):
  """Resizes to `size` (int or (h, w)) with tf.image.resize, keeping the input dtype as big_vision.

  The float result is clipped to the input dtype's range and cast back, so uint8 stays uint8
  (the cast truncates toward zero, as in big_vision).
  """
  size = _size_pair(size)
  if method not in _METHODS:
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")

  def _resize(example):
    image = get(example, key)
    out = tf.image.resize(image, size, method=method, antialias=antialias)
    if image.dtype != out.dtype:
      out = tf.cast(tf.clip_by_value(out, image.dtype.min, image.dtype.max), image.dtype)
    return {**example, key: out}
  return _resize


@register("pp.value_range")
def value_range(vmin: float = -1.0, vmax: float = 1.0, in_min: float = 0.0, in_max: float = 255.0,
                key: str = "image", clip_values: bool = False):
  """Maps [in_min, in_max] linearly to [vmin, vmax] as float32 (optionally clipped)."""
  if in_max == in_min:
    raise ValueError(f"in_min and in_max must differ, both are {in_min}.")

  def _value_range(example):
    x = tf.cast(get(example, key), tf.float32)
    x = vmin + (x - in_min) * ((vmax - vmin) / (in_max - in_min))
    if clip_values:
      x = tf.clip_by_value(x, min(vmin, vmax), max(vmin, vmax))
    return {**example, key: x}
  return _value_range


@register("pp.draw_bbox")
def draw_bbox(key: str = "image", bbox_key: str = "bbox", color=(255.0, 0.0, 0.0)):
  """Draws the outline of the one box `bbox_key` ([4] normalised y_min x_min y_max x_max) on the
  image in `color` (big_vision's widgetcap op: red on 0..255 images; after value_range(-1, 1)
  give color=(1, -1, -1) for the same pixels). Output: the image as float32 [h, w, 3]."""
  color = tuple(float(c) for c in color)
  if len(color) != 3:
    raise ValueError(f"color must be 3 values (R, G, B), got {color!r}.")

  def _draw_bbox(example):
    image = tf.cast(get(example, key), tf.float32)
    box = tf.reshape(tf.cast(get(example, bbox_key), tf.float32), [1, 1, 4])
    drawn = tf.image.draw_bounding_boxes(image[None], box, tf.constant([color], tf.float32))
    return {**example, key: drawn[0]}
  return _draw_bbox


@register("pp.stack_images")
def stack_images(inkey="image", outkey: str = "images"):
  """Images -> `outkey` [M, h, w, 3], the model's images of one example: `inkey` names one field
  [h, w, 3] (M = 1, e.g. Gemma 3's image) or a list of M fields of one size, stacked in that order
  (e.g. NLVR2's ["image_left", "image_right"], each resized first)."""
  keys = [inkey] if isinstance(inkey, str) else list(inkey)
  if not keys or not all(isinstance(k, str) for k in keys):
    raise ValueError(f"inkey must be a field name or a non-empty list of them, got {inkey!r}.")

  def _stack_images(example):
    images = [get(example, k) for k in keys]
    shapes = [tuple(im.shape) for im in images]
    if len(set(shapes)) > 1 and all(None not in s for s in shapes):
      raise ValueError(f"stack_images: the fields {keys} have the shapes {shapes}; resize them to "
                       "one size first, e.g. resize(224, key=...) for each.")
    return {**example, outkey: tf.stack(images)}
  return _stack_images
