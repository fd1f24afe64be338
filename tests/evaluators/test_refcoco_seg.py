"""The refcoco_seg evaluator on hand-made masks, with scores derived by hand.

The decoder checkpoint has zero weights and output bias +1, so every decoded 64x64 mask is +1
everywhere and a valid answer's mask is exactly its box. On 10x10 images, loc 512 -> int(512 / 1023
* 10) = 5 and loc 1023 -> 10, so the answer box (0, 0, 512, 1023) covers rows 0..4: 50 pixels.
"""
import numpy as np
from PIL import Image
import pytest

from big_paligemma import sharding
from big_paligemma.tokenizer import Tokenizer
from evaluators import common
from evaluators import refcoco_seg
import pp
from tests.evaluators import stub_model
from tests.test_segmentation import _layout

CODES = "".join(f"<seg{i:03d}>" for i in range(16))
TOP_HALF = "<loc0000><loc0000><loc0512><loc1023>" + CODES + " the cat"


def _rect(rows, cols, hw=(10, 10)):
  m = np.zeros(hw, np.uint8)
  m[rows[0]:rows[1], cols[0]:cols[1]] = 1
  return m


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
  weights = {k: np.zeros(s, np.float32) for k, s in _layout().items()}
  weights["decoder.12.bias"][:] = 1.0
  path = str(tmp_path_factory.mktemp("vae") / "vae-oid.npz")
  np.savez(path, **weights)
  return path


@pytest.fixture(scope="module")
def evaluator(vae_path, paligemma_tokenizer_path):
  tok = paligemma_tokenizer_path
  cfg = {"type": "refcoco_seg", "data": {"jsonl": "unused.jsonl"}, "batch_size": 8,
         "pp": pp.paligemma_eval_pp(16, 32, "{prefix}", keep_keys=("mask",)),
         "max_decode_len": 24, "vae_path": vae_path}
  return common.make_evaluator("seg", cfg, model=None, tokenizer_path=tok,
                               mesh=sharding.make_mesh([("data", -1)]))


def _records():
  """Full overlap (I 50, U 50), half (50, 100), malformed: 15 codes (0, 30), empty GT (0, 50),
  malformed: no box (0, 20). mIoU = (1 + 0.5) / 5 = 0.3; cIoU = 100 / 250 = 0.4."""
  return [
      {"prediction": TOP_HALF, "mask": _rect((0, 5), (0, 10))},
      {"prediction": TOP_HALF, "mask": _rect((0, 10), (0, 10))},
      {"prediction": TOP_HALF.replace("<seg015>", ""), "mask": _rect((0, 3), (0, 10))},
      {"prediction": TOP_HALF, "mask": np.zeros((10, 10), np.uint8)},
      {"prediction": "the cat", "mask": _rect((2, 4), (0, 10))},
  ]


WANT = {"miou": 0.3, "ciou": 0.4, "invalid": 2.0, "total": 5.0}


def test_scores_by_hand(evaluator):
  records = [{**r, "mask": r["mask"].tolist()} for r in _records()]  # as gathered: JSON lists
  assert evaluator.score(records) == pytest.approx(WANT)


def test_padded_masks_are_cropped_to_the_image_size(vae_path, evaluator):
  """Masks padded to 12x12 (as a batch with a larger image pads them) score the same with their
  size; taken at 12x12 the box would reach row int(512 / 1023 * 12) = 6 instead."""
  padded = [{**r, "mask": np.pad(r["mask"], ((0, 2), (0, 2))), "hw": [10, 10]} for r in _records()]
  gts = [refcoco_seg.gt_mask(r["mask"], r["hw"]) for r in padded]
  preds, invalid = refcoco_seg.predicted_masks([r["prediction"] for r in padded],
                                               [g.shape for g in gts], evaluator.decoder_params)
  assert refcoco_seg.iou_scores(preds, gts, invalid) == pytest.approx(WANT)
  preds, _ = refcoco_seg.predicted_masks([TOP_HALF], [(12, 12)], evaluator.decoder_params)
  assert preds[0].sum() == 6 * 12


def test_gt_mask_channel_and_degenerate_box(evaluator):
  rgb = np.repeat(_rect((0, 5), (0, 10))[..., None] * 255, 3, axis=-1)
  assert refcoco_seg.gt_mask(rgb).sum() == 50
  flat = "<loc0512><loc0000><loc0512><loc1023>" + CODES  # y0 == y1: no pixels, invalid
  preds, invalid = refcoco_seg.predicted_masks([flat], [(10, 10)], evaluator.decoder_params)
  assert invalid == [True] and not preds[0].any()


def test_config_needs_vae_path(paligemma_tokenizer_path):
  tok = paligemma_tokenizer_path
  cfg = {"type": "refcoco_seg", "data": {"jsonl": "x"}, "batch_size": 8, "max_decode_len": 24,
         "pp": pp.paligemma_eval_pp(16, 32, "{prefix}")}
  with pytest.raises(ValueError, match="vae_path"):
    common.make_evaluator("seg", cfg, model=None, tokenizer_path=tok,
                          mesh=sharding.make_mesh([("data", -1)]))


def test_no_valid_answer_scores_zero(evaluator):
  """An untrained model's batch: no answer is a box + 16 codes; every one counts as invalid."""
  records = [{"prediction": "the cat", "mask": _rect((0, 5), (0, 10)).tolist()},
             {"prediction": "", "mask": _rect((2, 4), (0, 10)).tolist()}]
  assert evaluator.score(records) == {"miou": 0.0, "ciou": 0.0, "invalid": 2.0, "total": 2.0}


def test_run_streams_masks_batch_by_batch(vae_path, paligemma_tokenizer_path, tmp_path):
  """End to end with the copying stub (its prediction is the row's prefix): 13 rows cycling
  through `_records()` as PNG masks, batch 8. Scores as by hand, counting each record i % 5:
  I = 3 x 50 + 3 x 50 = 300, U = 3 x 50 + 3 x 100 + 3 x 30 + 2 x 50 + 2 x 20 = 680, mIoU =
  (3 x 1 + 3 x 0.5) / 13, 3 + 2 invalid. The masks reach the evaluator one batch at a time and
  none is kept in the gathered records."""
  (tmp_path / "masks").mkdir()
  rows = []
  for i in range(13):
    r = _records()[i % 5]
    Image.fromarray(r["mask"] * 255).save(tmp_path / "masks" / f"{i}.png")
    rows.append({"prefix": r["prediction"], "suffix": "", "mask": f"masks/{i}.png"})
  path = stub_model.write_jsonl(str(tmp_path), rows)
  tok = paligemma_tokenizer_path
  cfg = {"type": "refcoco_seg", "data": {"jsonl": path}, "batch_size": 8,
         "pp": pp.paligemma_eval_pp(16, 32, "{prefix}", keep_keys=("mask",),
                                    before=(f"decode_mask(root={str(tmp_path)!r})",)),
         "max_decode_len": 28, "vae_path": vae_path}
  model = stub_model.make_stub(Tokenizer.load(tok).vocab_size)
  ev = common.make_evaluator("seg", cfg, model=model,
                             tokenizer_path=tok, mesh=sharding.make_mesh([("data", -1)]))
  sizes, overlaps = [], ev.overlaps

  def spy(records):
    sizes.append(len(records))
    return overlaps(records)
  ev.overlaps = spy
  records = ev.predict({}, per_batch=ev.overlaps)
  assert sizes == [8, 5] and [r["_index"] for r in records] == list(range(13))
  assert not any("mask" in r or "tokens" in r for r in records)
  ev.overlaps = overlaps
  assert ev.evaluate({}) == pytest.approx(
      {"miou": 4.5 / 13, "ciou": 300 / 680, "invalid": 5.0, "total": 13.0})
