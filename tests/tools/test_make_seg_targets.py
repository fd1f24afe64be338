"""tools/make_seg_targets on 2 hand-made masks with a random vae-oid.npz: boxes, codes, errors.

Images are 16x10 (h x w). Row 0: a filled rectangle, rows 2..6 and columns 3..8 -> box
(2/16, 3/10, 7/16, 9/10), loc round(127.875) = 128, round(306.9) = 307, round(447.5625) = 448,
round(920.7) = 921; its crop is all inside, so its 64x64 encoder input is all ones. Row 1: two
pixels (5, 1) and (10, 6) in channel 0 of an RGB mask -> box (5/16, 1/10, 11/16, 7/10).
"""
import json
import os

import numpy as np
from PIL import Image
import pytest

from big_paligemma import segmentation as seg
from big_paligemma.data import jsonl
import pp
from tests.test_segmentation import _random_weights
from tools import make_seg_targets

H, W = 16, 10


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("vae") / "vae-oid.npz")
  np.savez(path, **_random_weights(seed=3))
  return path


def _masks():
  rect = np.zeros((H, W), np.uint8)
  rect[2:7, 3:9] = 255
  dots = np.zeros((H, W, 3), np.uint8)
  dots[5, 1, 0] = dots[10, 6, 0] = 200
  dots[0, 0, 1] = 255  # channel 1 is ignored
  return rect, dots


def _write_input(root, masks=None, names=("0.png", "1.png")):
  os.makedirs(root / "data", exist_ok=True)
  lines = []
  for i, (mask, name) in enumerate(zip(masks or _masks(), names)):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "data" / f"img{i}.png")
    if mask is not None:
      Image.fromarray(mask).save(root / "data" / name)
    lines.append({"image": f"img{i}.png", "mask": name, "expression": f"thing {i}", "id": i})
  path = root / "data" / "in.jsonl"
  path.write_text("".join(json.dumps(line) + "\n" for line in lines))
  return str(path)


def test_boxes_codes_suffix_and_jsonl_round_trip(tmp_path, vae_path):
  out = str(tmp_path / "out" / "seg.jsonl")
  assert make_seg_targets.make_targets(_write_input(tmp_path), vae_path, out, batch_size=4) == 2
  rows = [json.loads(line) for line in open(out)]
  boxes = [[float(v) for v in r["box"].split()] for r in rows]
  np.testing.assert_allclose(boxes, [[2 / 16, 3 / 10, 7 / 16, 9 / 10],
                                     [5 / 16, 1 / 10, 11 / 16, 7 / 10]], rtol=0, atol=1e-12)
  codes = np.array([[int(c) for c in r["seg_codes"].split()] for r in rows])
  assert codes.shape == (2, 16) and codes.min() >= 0 and codes.max() < 128
  module, params = seg.load_mask_encoder(vae_path)
  np.testing.assert_array_equal(codes[0], seg.encode_masks(module, params, np.ones((1, 64, 64)))[0])
  segs = "".join(f"<seg{c:03d}>" for c in codes[0])
  assert rows[0]["suffix"] == "<loc0128><loc0307><loc0448><loc0921>" + segs
  assert [r["prefix"] for r in rows] == ["segment thing 0", "segment thing 1"]
  assert rows[1]["id"] == 1
  # The output is a valid jsonl source whose mask paths pp.decode_mask reads under its folder.
  ex = next(iter(jsonl.load(out)))
  spec = (f"decode_mask(root={os.path.dirname(out)!r})|keep_size(key=\"mask\")"
          "|seg_suffix(outkey=\"s\")")
  got = pp.get_preprocess_fn(spec)(ex)
  np.testing.assert_array_equal(got["mask"].numpy(), _masks()[0] > 0)
  assert list(got["size"].numpy()) == [H, W] and got["s"].numpy().decode() == rows[0]["suffix"]


def test_deterministic(tmp_path, vae_path):
  src = _write_input(tmp_path)
  a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
  make_seg_targets.make_targets(src, vae_path, a, batch_size=1)
  make_seg_targets.make_targets(src, vae_path, b, batch_size=3)
  assert open(a).read() == open(b).read()


def test_errors_name_the_line_and_file(tmp_path, vae_path):
  rect, _ = _masks()
  missing = _write_input(tmp_path / "m", masks=[rect, None])
  with pytest.raises(FileNotFoundError, match=r"in.jsonl:2: mask file .*1.png does not exist"):
    make_seg_targets.make_targets(missing, vae_path, str(tmp_path / "o.jsonl"))
  empty = _write_input(tmp_path / "e", masks=[rect, np.zeros((H, W), np.uint8)])
  with pytest.raises(ValueError, match=r"in.jsonl:2: mask .*1.png is empty"):
    make_seg_targets.make_targets(empty, vae_path, str(tmp_path / "o.jsonl"))
  small = _write_input(tmp_path / "s", masks=[rect, np.ones((H, W - 1), np.uint8)])
  with pytest.raises(ValueError, match=r"in.jsonl:2: mask .*1.png is 9x16 \(w x h\), its image"):
    make_seg_targets.make_targets(small, vae_path, str(tmp_path / "o.jsonl"))
  assert not os.path.exists(tmp_path / "o.jsonl")
