"""Referring-expression box accuracy from <loc> answers on hand-derived cases."""
import pytest

from evaluators.metrics import boxes


def _loc(*values):
  return "".join(f"<loc{v:04d}>" for v in values)


def test_iou_hand_values():
  assert boxes.box_iou((0, 0, 0.5, 0.5), (0, 0, 0.5, 0.5)) == 1.0
  assert boxes.box_iou((0, 0, 0.5, 0.25), (0, 0, 0.5, 0.5)) == 0.5
  # Overlap 0.25 x 0.25 of two 0.5 x 0.5 boxes: 0.0625 / (0.25 + 0.25 - 0.0625) = 1 / 7.
  assert boxes.box_iou((0, 0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)) == pytest.approx(1 / 7)
  assert boxes.box_iou((0, 0, 0.1, 0.1), (0.5, 0.5, 1, 1)) == 0.0


def test_parse_answer_box():
  assert boxes.parse_answer_box(_loc(0, 0, 1023, 1023) + " cat") == (0.0, 0.0, 1.0, 1.0)
  assert boxes.parse_answer_box(" " + _loc(0, 0, 1023, 1023)) == (0.0, 0.0, 1.0, 1.0)
  assert boxes.parse_answer_box(_loc(0, 0, 1023) + " cat") is None  # Three tokens.
  assert boxes.parse_answer_box("a " + _loc(0, 0, 1023, 1023)) is None  # Text before the box.
  assert boxes.parse_answer_box(_loc(600, 0, 600, 1023)) is None  # No height.
  assert boxes.parse_answer_box("") is None


def test_box_accuracy_hand_derived():
  gt = [0.0, 0.0, 1.0, 0.5]
  answers = [
      _loc(0, 0, 1023, 1023) + " cat",  # IoU 0.5: counts at 0.5 (>=), not at 0.75.
      _loc(0, 0, 1023, 0) + " cat",  # No width: invalid.
      "a cat",  # No box: invalid.
      _loc(0, 0, 1023, 1023) + " cat ; " + _loc(0, 0, 1, 1) + " dog",  # The first box counts.
  ]
  gts = [gt, gt, gt, [0.0, 0.0, 1.0, 1.0]]  # The last one: IoU 1.
  got = boxes.box_accuracy(answers, gts)
  assert got == {"acc_iou50": 0.5, "acc_iou75": 0.25, "miou": 1.5 / 4, "invalid": 2.0,
                 "total": 4.0}
  assert set(boxes.box_accuracy(answers, gts, thresholds=(0.3,))) == {
      "acc_iou30", "miou", "invalid", "total"}


def test_box_accuracy_errors():
  with pytest.raises(ValueError, match=r"\[0.0, 0.0, 400.0, 300.0\] .* not normalised"):
    boxes.box_accuracy(["x"], [[0, 0, 400, 300]])
  with pytest.raises(ValueError, match="one ground-truth box per answer"):
    boxes.box_accuracy(["x", "y"], [[0, 0, 1, 1]])
