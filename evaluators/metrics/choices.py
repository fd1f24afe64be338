r"""Multiple-choice answers: ScienceQA's "The answer is X." letters and A-OKVQA's choice texts.

ScienceQA. big_vision's evaluator (`evaluators/proj/paligemma/transfers/science_qa.py`, after the
official `models/run_gpt3.py` of lupantech/ScienceQA) lower-cases the decoded text and takes the
letter of `re.match(r"the answer is ([a-z])\.")`: the sentence must open the answer; anything else
is a parse failure, which is wrong (the official script guesses a random choice instead; big_vision
and we do not). The target is the same sentence made from the right letter ("The answer is B.").
The official results file holds the chosen index per problem, scored against `answer` (an index).

A-OKVQA (allenai/aokvqa `evaluation/eval_predictions.py`): multiple choice is right when the
prediction equals the text of the correct choice (`choices[correct_choice_idx]`, exact string
equality, as big_vision's vqa evaluator on `aokvqa_mc`); a prediction that is none of the choices is
"invalid" (the official strict mode refuses it) and wrong. Direct answer: min(1, #references equal
to the prediction / 3), over the questions not marked `difficult_direct_answer`.
"""
import re
import string
from typing import Sequence

_SCIENCE_QA = re.compile(r"the answer is ([a-z])\.")
LETTERS = string.ascii_uppercase


def science_qa_letter(text: str) -> str | None:
  """The upper-case letter of "The answer is X." opening `text` (any case), else None."""
  m = _SCIENCE_QA.match(text.lower())
  return m.group(1).upper() if m else None


def science_qa_target(value) -> str:
  """The letter of a target: the sentence "The answer is X." or the bare letter "X"."""
  text = str(value).strip()
  if len(text) == 1 and text.upper() in LETTERS:
    return text.upper()
  letter = science_qa_letter(text)
  if letter is None:
    raise ValueError(f"ScienceQA target {value!r} is neither 'The answer is X.' nor a letter.")
  return letter


def letter_index(letter: str) -> int:
  """"A" -> 0, "B" -> 1, ..."""
  return LETTERS.index(letter)


def choice_index(pred: str, choices: Sequence[str]) -> int | None:
  """The index of the choice whose text equals the prediction exactly, else None."""
  return list(choices).index(pred) if pred in choices else None


def direct_answer_accuracy(direct_answers: Sequence[str], pred: str) -> float:
  """A-OKVQA direct answer: min(1, #exact matches / 3) (no leave-one-out averaging)."""
  if not direct_answers:
    raise ValueError(f"A question has no direct answer (prediction {pred!r}).")
  return min(1.0, sum(pred == a for a in direct_answers) / 3.0)
