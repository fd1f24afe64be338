"""POPE scores on hand-derived cases, following the official POPE evaluate.py."""
import pytest

from evaluators.metrics import pope


def test_yes_no_parsing_of_the_official_script():
  assert pope.parse_yes_no("yes")
  assert pope.parse_yes_no("Yes, there is a dog.")
  assert not pope.parse_yes_no("No.")
  assert not pope.parse_yes_no("There is not a cat")
  assert not pope.parse_yes_no("no, there is none")  # The comma is removed first.
  # Only the first sentence counts, and only the exact words No / no / not.
  assert pope.parse_yes_no("I think so. But not sure")
  assert pope.parse_yes_no("NO")
  assert pope.parse_yes_no("Nope")
  assert pope.parse_yes_no("")
  assert pope.parse_yes_no("No,there")  # -> "Nothere": one word.


def test_scores_hand_derived():
  labels = ["yes", "yes", "no", "no", "yes"]
  answers = ["Yes, there is a dog.", "No.", "There is no cat.", "no", "I think so. But not sure"]
  # Parsed: yes, no, no, no, yes -> TP 2, FN 1, TN 2, FP 0.
  got = pope.pope_scores(labels, answers)
  assert got == pytest.approx({"acc": 4 / 5, "precision": 1.0, "recall": 2 / 3,
                               "f1": 2 * (2 / 3) / (1 + 2 / 3), "yes_ratio": 2 / 5})
  assert got["f1"] == pytest.approx(0.8)


def test_no_yes_answer_gives_zero_precision_instead_of_dividing_by_zero():
  got = pope.pope_scores(["yes", "no"], ["no", "no"])
  assert got == {"acc": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0, "yes_ratio": 0.0}


def test_label_other_than_no_is_positive_as_upstream():
  assert pope.label_is_yes("yes") and pope.label_is_yes("Yes") and not pope.label_is_yes("no")
  with pytest.raises(ValueError, match="as many"):
    pope.pope_scores(["yes"], [])
