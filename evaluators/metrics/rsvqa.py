"""RSVQA (LR / HR) accuracy per question type, overall (OA) and averaged over types (AA).

Definitions of the RSVQA paper (Lobry et al., TGRS 2020, "RSVQA: Visual Question Answering for
Remote Sensing Data", Sec. V): a question is right when the answer equals its reference; OA is the
mean over questions, AA the mean over question types of each type's accuracy. big_vision's RSVQA
evaluator (`evaluators/proj/paligemma/transfers/rsvqa.py`) computes the same: per type it averages
"acc_any" (the answer equals one of the references, after lower-casing both when `to_lower`, as its
RSVQA configs set), `acc_avg` over the types present, and `acc_avg_nonum` over the non-numeric types
(comp, presence, rural_urban for LR; comp, presence for HR), the published PaliGemma number.
"""
from typing import Hashable, Sequence

from evaluators.metrics import grouped

NON_NUMERIC_TYPES = {"lr": ("comp", "presence", "rural_urban"), "hr": ("comp", "presence")}


def answer_match(references: Sequence[str], pred: str, to_lower: bool = True) -> bool:
  """The answer equals one of the references (both lower-cased when `to_lower`)."""
  if not references:
    raise ValueError(f"A question has no reference answer (prediction {pred!r}).")
  if to_lower:
    return pred.lower() in [r.lower() for r in references]
  return pred in references


def type_accuracies(correct: Sequence[bool], types: Sequence[Hashable]) -> dict:
  """{question type: accuracy} over the types that have questions."""
  return grouped.group_means([float(c) for c in correct], types)


def average_accuracy(per_type: dict, types: Sequence[Hashable] | None = None) -> float:
  """AA: the mean of the per-type accuracies over `types` (default: every type present)."""
  types = list(per_type) if types is None else list(types)
  missing = [t for t in types if t not in per_type]
  if missing or not types:
    raise ValueError(f"No question of the types {missing or types} to average over; the split "
                     f"has the types {sorted(per_type)}.")
  return sum(per_type[t] for t in types) / len(types)
