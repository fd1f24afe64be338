"""pp ops of the caption and referring-expression transfers: draw_bbox (widgetcap), choice over
several fields (RefCOCO's object pick), mask_seg_codes (RefCOCO's targets, the vae-oid encoder in
TensorFlow) against segmentation.encode_masks on the same weights."""
import numpy as np
import pytest
import tensorflow as tf

from big_paligemma import segmentation
from pp import ops_general
from pp import ops_image
from pp import ops_seg
from tests.test_segmentation import _random_weights


def test_draw_bbox_after_value_range_equals_big_vision_order():
  rng = np.random.default_rng(0)
  image = tf.constant(rng.integers(0, 256, (20, 30, 3)), tf.uint8)
  box = tf.constant([0.1, 0.2, 0.6, 0.9])
  to_range = ops_image.value_range(-1, 1)
  big_vision = to_range(ops_image.draw_bbox()({"image": image, "bbox": box}))["image"]
  ours = ops_image.draw_bbox(color=(1, -1, -1))(to_range({"image": image, "bbox": box}))
  np.testing.assert_allclose(ours["image"], big_vision, atol=1e-6)
  drawn = ops_image.draw_bbox()({"image": tf.zeros([20, 30, 3], tf.uint8), "bbox": box})["image"]
  red = np.all(drawn.numpy() == (255, 0, 0), axis=-1)
  # tf.image.draw_bounding_boxes: corners at int(v * (size - 1)); the outline, not filled.
  assert red[1, 5:27].all() and red[11, 5:27].all() and red[1:12, 5].all()
  assert red[1:12, 26].all() and red.sum() == 2 * 22 + 2 * 9 and not red[5, 10]
  with pytest.raises(ValueError, match="color must be 3 values"):
    ops_image.draw_bbox(color=(1, 2))


def test_choice_over_fields_picks_one_index():
  ex = {"a": tf.range(5), "b": tf.reshape(tf.range(10), [5, 2]), "_id": tf.constant("x1"),
        "r": tf.ragged.constant([["p"], ["q", "r"], ["s"], ["t"], ["u", "v"]])}
  for seed in range(6):
    out = ops_general.choice(["a", "b", "r"], seed=seed)(ex)
    i = int(out["a"])
    assert list(out["b"].numpy()) == [2 * i, 2 * i + 1]
    assert list(out["r"].numpy()) == list(ex["r"][i].numpy())
  with pytest.raises(ValueError, match="picks in place"):
    ops_general.choice(["a", "b"], outkey="c")
  with pytest.raises(tf.errors.InvalidArgumentError, match="differ in length"):
    ops_general.choice(["a", "b"])({**ex, "b": tf.range(4)})


def test_mask_seg_codes_equal_the_jax_encoder(tmp_path):
  path = str(tmp_path / "vae-oid.npz")
  np.savez(path, **_random_weights(seed=2))
  module, params = segmentation.load_mask_encoder(path)
  rng = np.random.default_rng(1)
  op = ops_seg.mask_seg_codes(vae=path, mask_key="m", box_key="b")
  for h, w in ((40, 30), (17, 64)):
    mask = np.zeros((h, w, 1), np.uint8)
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    mask[y0:h - 2, x0:w - 1] = 255
    mask[y0 + 3:y0 + 6, x0 + 2:x0 + 5] = 0  # a hole, so the codes are not all alike
    box = np.array([y0 / h, x0 / w, (h - 2) / h, (w - 1) / w], np.float32)
    codes = op({"m": tf.constant(mask), "b": tf.constant(box)})["seg_codes"].numpy()
    # The target as big_vision builds it, by hand: crop at round(v * size), resize, / 255.
    crop = mask[round(box[0] * h):round(box[2] * h), round(box[1] * w):round(box[3] * w)]
    mask64 = tf.image.resize(tf.constant(crop[None], tf.float32), [64, 64], "bilinear",
                             antialias=True)[0, ..., 0].numpy() / 255.0
    np.testing.assert_array_equal(codes, segmentation.encode_masks(module, params,
                                                                   mask64[None])[0])
    assert codes.shape == (16,) and codes.dtype == np.int32
