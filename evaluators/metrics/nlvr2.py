"""NLVR2 (and MaRVL) accuracy and consistency, as the official NLVR2 evaluation.

lil-lab/nlvr `nlvr2/eval/metrics.py`: a prediction is right when `prediction.lower() ==
label.lower()` (labels "True" / "False"); accuracy is the mean over examples. Consistency is the
fraction of sentences all of whose examples are right, a sentence being the identifier
"split-set-pair-sentence" with its third part (the image pair) blanked. big_vision scores NLVR2 and
MaRVL with its vqa evaluator (exact match of the decoded text with the label string), which equals
this whenever the model writes the label's case, as it learns to.
"""
from typing import Sequence


def label_text(label) -> str:
  """A label as text: a bool (MaRVL's JSON) -> "True" / "False"; a string as it is."""
  return str(label) if isinstance(label, bool) else label


def is_correct(label, pred: str) -> bool:
  """Case-insensitive equality of the prediction with the label."""
  return pred.lower() == label_text(label).lower()


def is_valid(pred: str) -> bool:
  """The prediction is "true" or "false" in any case."""
  return pred.lower() in ("true", "false")


def sentence_key(identifier: str) -> str:
  """The NLVR2 sentence of an example identifier: "dev-850-1-0" -> "dev-850--0"."""
  parts = identifier.split("-")
  if len(parts) != 4:
    raise ValueError(f"NLVR2 identifier {identifier!r} is not 'split-set-pair-sentence'.")
  parts[2] = ""
  return "-".join(parts)


def consistency(identifiers: Sequence[str], correct: Sequence[bool]) -> float:
  """Fraction of sentences whose examples are all right."""
  sentences = {}
  for ident, ok in zip(identifiers, correct):
    key = sentence_key(ident)
    sentences[key] = sentences.get(key, True) and bool(ok)
  if not sentences:
    raise ValueError("No examples to score.")
  return sum(sentences.values()) / len(sentences)
