"""Referring-expression detection evaluator (type "refcoco_det"): box accuracy at IoU 0.5 / 0.75.

Each answer's first box (`<locY0><locX0><locY1><locX1> label`) is compared with the expression's
ground-truth box, both normalised y0 x0 y1 x1 (see metrics/boxes.py). Metrics: acc_iou50 and
acc_iou75 (fraction with IoU >= 0.5 / 0.75; one key per threshold), miou, invalid (answers that do
not open with a box with area; wrong), total.

Config keys (besides the common ones, see common.py): max_decode_len, sampler, box_key (the host
field with the ground-truth box, [4] or [1, 4] normalised y0 x0 y1 x1 as TFDS `objects/bbox`; rows
of zeros are batch padding and dropped; default "objects/bbox"), thresholds (default (0.5, 0.75)).
"""
import numpy as np

from big_paligemma import registry
from evaluators import common
from evaluators.metrics import boxes


def gt_box(value, key: str) -> np.ndarray:
  """The one ground-truth box [4] of a record's box field ([4] or [N, 4] with zero padding)."""
  rows = np.asarray(value, np.float64).reshape(-1, 4)
  rows = rows[(rows != 0).any(1)]
  if len(rows) != 1:
    raise ValueError(f"Field {key!r} must hold one box per example, got {np.asarray(value)!r}.")
  return rows[0]


@registry.register("evaluator.refcoco_det")
class RefCocoDetEvaluator(common.DecodingEvaluator):
  """Decoded "detect <expression>" answers vs the ground-truth box: acc_iou50/75, miou, invalid."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "box_key": "objects/bbox",
              "thresholds": (0.5, 0.75)}

  def __init__(self, name: str, cfg, **kwargs):
    super().__init__(name, cfg, **kwargs)
    t = self.cfg["thresholds"]
    if not (isinstance(t, (list, tuple)) and t and all(
        isinstance(v, (int, float)) and 0 < v <= 1 for v in t)):
      raise ValueError(f"evals.{name}.thresholds={t!r}: give a list of IoU thresholds in (0, 1], "
                       "e.g. (0.5, 0.75).")

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["box_key"]
    self.require_fields(records, key)
    return boxes.box_accuracy([r["prediction"] for r in records],
                              [gt_box(r[key], key) for r in records], self.cfg["thresholds"])
