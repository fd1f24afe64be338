"""Box accuracy of referring-expression detection (RefCOCO, RefCOCO+, RefCOCOg) from <loc> answers.

The answer's first box (`<locY0><locX0><locY1><locX1> label`, read by `loc_tokens.parse_boxes`,
coordinates v / 1023) is compared with the one ground-truth box of the expression, both normalised
y0 x0 y1 x1 in [0, 1]. IoU is invariant to scaling each axis, so normalised coordinates give the
pixel IoU of the original image. The standard REC metric ("Acc@0.5", e.g. MDETR's RefExpEvaluator,
precision@1 at IoU >= 0.5) counts a prediction as right when IoU >= the threshold. An answer that
does not open with four loc tokens, or whose box has no area (y1 <= y0 or x1 <= x0), is invalid:
IoU 0, wrong, and counted.
"""
from typing import Sequence

import numpy as np

from big_paligemma import loc_tokens

_BOX_TEXT_LEN = 4 * len("<loc0000>")


def parse_answer_box(answer: str) -> tuple[float, float, float, float] | None:
  """The normalised box opening `answer` (after blanks), or None when it is malformed or empty."""
  boxes = loc_tokens.parse_boxes(answer.lstrip()[:_BOX_TEXT_LEN])
  if not boxes:
    return None
  y0, x0, y1, x1 = boxes[0][1]
  return (y0, x0, y1, x1) if y1 > y0 and x1 > x0 else None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
  """IoU of two boxes y0 x0 y1 x1 (0 when the union is empty)."""
  inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0])) *
           max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union > 0 else 0.0


def box_accuracy(answers: Sequence[str], gt_boxes: Sequence[Sequence[float]],
                 thresholds: Sequence[float] = (0.5, 0.75)) -> dict[str, float]:
  """{"acc_iou50": ..., "acc_iou75": ..., "miou", "invalid", "total"} of answers vs gt boxes [N, 4].

  acc_iouXX = fraction of answers whose box has IoU >= XX / 100 with the ground truth; miou = mean
  IoU (invalid answers 0); invalid = number of malformed or empty-box answers; total = N.
  """
  gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
  if len(answers) != len(gt) or not answers:
    raise ValueError(f"Need one ground-truth box per answer, at least one; got {len(answers)} "
                     f"answers and {len(gt)} boxes.")
  bad = np.flatnonzero((gt < 0).any(1) | (gt > 1).any(1))
  if bad.size:
    raise ValueError(f"Ground-truth box {gt[bad[0]].tolist()} (example {bad[0]}) is not normalised"
                     " y0 x0 y1 x1 in [0, 1]; divide by the image height and width.")
  boxes = [parse_answer_box(a) for a in answers]
  ious = np.array([box_iou(b, g) if b else 0.0 for b, g in zip(boxes, gt)])
  out = {f"acc_iou{round(t * 100)}": float((ious >= t).mean()) for t in thresholds}
  return {**out, "miou": float(ious.mean()), "invalid": float(sum(b is None for b in boxes)),
          "total": float(len(answers))}
