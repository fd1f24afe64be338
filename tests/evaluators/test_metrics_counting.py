"""Counting accuracy on hand-derived cases, following big_vision's TallyQA evaluator."""
import pytest

from evaluators.metrics import counting


def test_number_words_to_numerals():
  assert counting.to_numeral("Two") == "2"
  assert counting.to_numeral("none") == "0"
  assert counting.to_numeral("twenty") == "20"
  assert counting.to_numeral("twenty-one") == "twenty-one"  # The table stops at twenty.
  assert counting.to_numeral("21") == "21"


def test_count_match_is_exact_after_the_table():
  assert counting.count_match(3, "three")
  assert counting.count_match("0", "None")
  assert counting.count_match("seven", "7")  # A word target is converted too.
  assert not counting.count_match(2, "02")
  assert not counting.count_match(2, "2 dogs")
  assert not counting.count_match(2, "2.0")


def test_count_accuracy():
  # Right: "one"=1, "2"=2, "four"=4; wrong: "4" for 3.
  assert counting.count_accuracy([1, 2, 3, 4], ["one", "2", "4", "four"]) == 0.75
  with pytest.raises(ValueError, match="as many"):
    counting.count_accuracy([1], [])
