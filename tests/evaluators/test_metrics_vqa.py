"""VQA metrics on hand-derived cases, following the official vqaEval.py (GT-Vision-Lab/VQA master,
as big_vision's vqav2 evaluator)."""
import pytest

from evaluators.metrics import vqa


def test_leave_one_out_three_of_ten():
  # Leaving out one of the 3 "yes" (3 subsets): 2 matches -> 2/3; one of the 7 "no": 3 -> 1.
  gts = ["yes"] * 3 + ["no"] * 7
  assert vqa.vqav2_accuracy(gts, "yes") == pytest.approx((3 * 2 / 3 + 7) / 10)
  assert vqa.vqav2_accuracy(gts, "no") == 1.0
  assert vqa.vqav2_accuracy(gts, "maybe") == 0.0


def test_one_and_four_matches():
  assert vqa.vqav2_accuracy(["cat"] + ["dog"] * 9, "cat") == pytest.approx(9 * (1 / 3) / 10)
  assert vqa.vqav2_accuracy(["cat"] * 4 + ["dog"] * 6, "cat") == 1.0


def test_answer_normalisation():
  assert vqa.normalize_answer("Two") == "2"
  assert vqa.normalize_answer("the Dog.") == "dog"
  assert vqa.normalize_answer("yes!") == "yes"
  assert vqa.normalize_answer("1,000") == "1000"
  assert vqa.normalize_answer("3.5") == "3.5"
  assert vqa.normalize_answer("dont") == "don't"
  assert vqa.normalize_answer("black-and-white") == "black and white"
  assert vqa.normalize_answer("black - white") == "black white"
  assert vqa.normalize_answer(" a\tcat\n") == "cat"


def test_both_sides_normalised_only_when_the_answers_disagree():
  # All ten agree: both sides are only stripped, so "two" is not "2" and case counts.
  assert vqa.vqav2_accuracy(["2"] * 10, "two") == 0.0
  assert vqa.vqav2_accuracy(["2"] * 10, " 2\n") == 1.0
  assert vqa.vqav2_accuracy(["dog "] * 10, "dog") == 1.0
  assert vqa.vqav2_accuracy(["Dog"] * 10, "Dog") == 1.0
  assert vqa.vqav2_accuracy(["Dog"] * 10, "dog") == 0.0
  # They disagree: answers and prediction alike lose punctuation, case, articles, number words.
  assert vqa.vqav2_accuracy(["1,000"] * 9 + ["cat"], "1000") == 1.0
  assert vqa.vqav2_accuracy(["dog!"] * 9 + ["cat"], "dog") == 1.0
  assert vqa.vqav2_accuracy(["Dog"] * 9 + ["cat"], "the dog") == 1.0
  assert vqa.vqav2_accuracy(["The dog"] * 5 + ["cat"] * 5, "dog") == 1.0
  assert vqa.vqav2_accuracy(["yes!"] * 8 + ["yes"] * 2, "yes") == 1.0
  # "Two" -> "2" matches three of ten: leaving one of them out leaves 2 -> 2/3.
  assert vqa.vqav2_accuracy(["2"] * 3 + ["3"] * 7, "Two") == pytest.approx((3 * 2 / 3 + 7) / 10)


def test_simple_accuracy_and_exact_match():
  assert vqa.vqa_accuracy(["a", "a", "b"], "a") == pytest.approx(2 / 3)
  assert vqa.vqa_accuracy(["a"] * 5, "a") == 1.0
  assert vqa.vqa_accuracy(["a"], "A") == 0.0
  assert vqa.exact_match(["x", "y"], "y") == 1.0
  assert vqa.exact_match(["x"], "x ") == 0.0


def test_no_answers_is_an_error():
  with pytest.raises(ValueError, match="no ground-truth"):
    vqa.vqav2_accuracy([], "a")
