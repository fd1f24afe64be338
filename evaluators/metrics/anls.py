"""ANLS (Average Normalized Levenshtein Similarity) as the official DocVQA (RRC) evaluation.

The RRC script, per question:
  * both strings are stripped, lower-cased and their inner whitespace runs collapsed to one space;
  * NL = levenshtein(gt, pred) / max(len(gt_raw), len(pred_raw)); note the denominator uses the
    RAW (unstripped) lengths (`len(x.upper())`), an upstream quirk kept so scores match the server;
    NL = 0 when that length is 0 (so an empty prediction for an empty answer scores 1);
  * score = 1 - min NL over the ground truths, set to 0 when below the threshold 0.5. So
    NL == 0.5 exactly scores 0.5 (the paper's formula "1 - NL if NL < 0.5" would give 0; the
    server, which produced the published test numbers, gives 0.5; big_vision's val evaluator 0).
ANLS is the mean over questions.

The edit distance is rapidfuzz's (C++): on a DocVQA-sized set (5000 questions, 10k answer /
prediction pairs of 5-40 characters) it is ~100x faster than the pure-Python dynamic programme we
had, with equal distances (tools/bench_metrics.py, BENCHMARKS.md).
"""
from typing import Sequence

from rapidfuzz.distance import Levenshtein


def levenshtein(a: str, b: str) -> int:
  """Edit distance (unit-cost insertions, deletions, substitutions) over code points."""
  return Levenshtein.distance(a, b)


def _normalize(s: str) -> str:
  return " ".join(s.strip().lower().split())


def normalized_distance(gt: str, pred: str) -> float:
  """The RRC normalized Levenshtein distance NL of one ground truth and one prediction."""
  length = max(len(gt.upper()), len(pred.upper()))
  if length == 0:
    return 0.0
  return levenshtein(_normalize(gt), _normalize(pred)) / length


def anls_one(gt_answers: Sequence[str], pred: str, threshold: float = 0.5) -> float:
  """ANLS score of one prediction against the ground-truth answers of its question."""
  if not gt_answers:
    raise ValueError(f"A question has no ground-truth answer (prediction {pred!r}); "
                     "ANLS needs at least one per question.")
  score = 1.0 - min(normalized_distance(gt, pred) for gt in gt_answers)
  return 0.0 if score < threshold else score


def anls(gt_answers: Sequence[Sequence[str]], preds: Sequence[str],
         threshold: float = 0.5) -> float:
  """Mean ANLS over questions; `gt_answers[i]` are the answers to the question of `preds[i]`."""
  if len(gt_answers) != len(preds) or not preds:
    raise ValueError(f"Need as many ground-truth lists as predictions, at least one; got "
                     f"{len(gt_answers)} and {len(preds)}.")
  return sum(anls_one(g, p, threshold) for g, p in zip(gt_answers, preds)) / len(preds)
