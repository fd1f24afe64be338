"""POPE (object hallucination) scores as the official script of the POPE paper computes them.

RUCAIBox/POPE `evaluate.py` (Li et al., EMNLP 2023): a free-form answer is cut at its first "."
(the first sentence), its commas are removed and it is split on single spaces; it is "no" when one
of the words is exactly "No", "no" or "not", otherwise "yes" (an empty or unrelated answer counts as
"yes"). A label is "no" or else "yes". With "yes" as the positive class:
  accuracy = (TP + TN) / N, precision = TP / (TP + FP), recall = TP / (TP + FN),
  F1 = 2 P R / (P + R), yes ratio = #answers parsed "yes" / N.
Where the script divides by zero (no "yes" answer, no "yes" label) we report 0 instead of failing.
"""
from typing import Sequence

_NO_WORDS = ("No", "no", "not")


def parse_yes_no(answer: str) -> bool:
  """True ("yes") unless the answer's first sentence has the word "No", "no" or "not"."""
  words = answer.split(".")[0].replace(",", "").split(" ")
  return not any(w in _NO_WORDS for w in words)


def label_is_yes(label: str) -> bool:
  """A POPE label: "no" is negative; anything else positive (as the script)."""
  return label != "no"


def _ratio(num: int, den: int) -> float:
  return num / den if den else 0.0


def pope_scores(labels: Sequence[str], answers: Sequence[str]) -> dict[str, float]:
  """acc, precision, recall, f1, yes_ratio of free-form `answers` against "yes"/"no" `labels`."""
  if len(labels) != len(answers) or not answers:
    raise ValueError(f"Need as many labels as answers, at least one; got {len(labels)} and "
                     f"{len(answers)}.")
  preds = [parse_yes_no(a) for a in answers]
  gts = [label_is_yes(l) for l in labels]
  tp = sum(p and g for p, g in zip(preds, gts))
  fp = sum(p and not g for p, g in zip(preds, gts))
  tn = sum(not p and not g for p, g in zip(preds, gts))
  fn = sum(not p and g for p, g in zip(preds, gts))
  precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
  return {"acc": (tp + tn) / len(preds), "precision": precision, "recall": recall,
          "f1": _ratio(2 * precision * recall, precision + recall),
          "yes_ratio": sum(preds) / len(preds)}
