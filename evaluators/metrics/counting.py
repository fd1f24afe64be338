"""Counting accuracy (TallyQA, CountBenchQA) as big_vision's TallyQA evaluator computes it.

big_vision `evaluators/proj/paligemma/transfers/tallyqa.py`: the decoded answer and the ground truth
each go through the number-word table (looked up lower-cased: "Two" -> "2", "twenty" -> "20"; any
other text is kept as it is) and are then compared as strings: "2" == "2", "02" != "2",
"2 cats" != "2". The TallyQA paper's accuracy is this exact match of the predicted count.
"""
from typing import Sequence

NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
    "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16",
    "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}


def to_numeral(text: str) -> str:
  """A number word (any case, up to "twenty") as its numeral; other text unchanged."""
  return NUMBER_WORDS.get(text.lower(), text)


def count_match(target, pred: str) -> bool:
  """Whether the predicted count equals the target (an int or its text)."""
  return to_numeral(pred) == to_numeral(str(target))


def count_accuracy(targets: Sequence, preds: Sequence[str]) -> float:
  """Mean `count_match` over questions."""
  if len(targets) != len(preds) or not preds:
    raise ValueError(f"Need as many targets as predictions, at least one; got {len(targets)} "
                     f"and {len(preds)}.")
  return sum(count_match(t, p) for t, p in zip(targets, preds)) / len(preds)
