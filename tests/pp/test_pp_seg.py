"""Referring-segmentation pp ops: decode_mask, keep_size, seg_suffix (expected values by hand)."""
import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

import pp

CODES = list(range(0, 128, 8))  # 0, 8, ..., 120
# Box (0.1, 0.25, 0.6, 1.0): round(102.3) = 102, round(255.75) = 256, round(613.8) = 614, 1023.
WANT = ("<loc0102><loc0256><loc0614><loc1023>"
        "<seg000><seg008><seg016><seg024><seg032><seg040><seg048><seg056>"
        "<seg064><seg072><seg080><seg088><seg096><seg104><seg112><seg120>")


def _png(array) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, "PNG")
  return buf.getvalue()


def _run(spec, example):
  out = pp.get_preprocess_fn(spec)({k: tf.constant(v) for k, v in example.items()})
  return {k: v.numpy() for k, v in out.items()}


def _mask_3x5():
  rgb = np.zeros((3, 5, 3), np.uint8)
  rgb[1, 2:4, 0] = 255  # inside: channel 0 only
  rgb[0, 0, 1] = 255  # channel 1 is not the mask
  want = np.zeros((3, 5), np.uint8)
  want[1, 2:4] = 1
  return rgb, want


def test_decode_mask_from_bytes_rgb_and_grey():
  rgb, want = _mask_3x5()
  out = _run("decode_mask", {"mask": _png(rgb)})["mask"]
  assert out.dtype == np.uint8 and out.shape == (3, 5)
  np.testing.assert_array_equal(out, want)
  grey = _run('decode_mask(outkey="m")', {"mask": _png(want)})  # values 0/1 as stored
  np.testing.assert_array_equal(grey["m"], want)


def test_decode_mask_from_path_relative_and_absolute(tmp_path):
  rgb, want = _mask_3x5()
  (tmp_path / "masks").mkdir()
  (tmp_path / "masks" / "0.png").write_bytes(_png(rgb))
  rel = _run(f"decode_mask(root={str(tmp_path)!r})", {"mask": "masks/0.png"})["mask"]
  np.testing.assert_array_equal(rel, want)
  absolute = _run('decode_mask(root="/elsewhere")', {"mask": str(tmp_path / "masks/0.png")})
  np.testing.assert_array_equal(absolute["mask"], want)
  with pytest.raises(tf.errors.NotFoundError):
    _run(f"decode_mask(root={str(tmp_path)!r})", {"mask": "masks/1.png"})


def test_keep_size_before_resize():
  image = np.zeros((7, 5, 3), np.uint8)
  out = _run("decode|keep_size|resize(4)", {"image": _png(image)})
  assert out["image"].shape == (4, 4, 3)
  np.testing.assert_array_equal(out["size"], [7, 5])
  with pytest.raises(Exception, match="still encoded bytes; put keep_size after decode"):
    _run("keep_size", {"image": _png(image)})


def test_seg_suffix_numbers_and_strings():
  box = [0.1, 0.25, 0.6, 1.0]
  out = _run("seg_suffix", {"seg_codes": np.array(CODES, np.int64), "box": np.array(box)})
  assert out["suffix"].decode() == WANT
  text = _run('seg_suffix(outkey="target")',
              {"seg_codes": " ".join(map(str, CODES)), "box": " ".join(map(str, box))})
  assert text["target"].decode() == WANT


@pytest.mark.parametrize("codes,box,message", [
    (CODES[:15], [0.1, 0.2, 0.3, 0.4], "must have 16 values"),
    (CODES[:15] + [128], [0.1, 0.2, 0.3, 0.4], "seg code > 127"),
    (CODES, [0.1, 0.2, 0.3], "must have 4 values"),
    (CODES, [0.1, 0.2, 0.3, 1.5], "box coordinate > 1"),
])
def test_seg_suffix_rejects_bad_codes_and_boxes(codes, box, message):
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    _run("seg_suffix", {"seg_codes": np.array(codes), "box": np.array(box, np.float32)})
