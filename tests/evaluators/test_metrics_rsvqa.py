"""RSVQA accuracy per question type, OA and AA on a hand-derived set."""
import pytest

from evaluators.metrics import rsvqa

_REFS = [["yes"], ["no"], ["yes"], ["rural"], ["3"]]
_PREDS = ["Yes", "yes", "yes", "urban", "3"]
_TYPES = ["comp", "comp", "presence", "rural_urban", "count"]


def test_per_type_overall_and_average():
  correct = [rsvqa.answer_match(r, p) for r, p in zip(_REFS, _PREDS)]
  assert correct == [True, False, True, False, True]  # "Yes" matches "yes" lower-cased.
  per_type = rsvqa.type_accuracies(correct, _TYPES)
  assert per_type == {"comp": 0.5, "presence": 1.0, "rural_urban": 0.0, "count": 1.0}
  assert sum(correct) / len(correct) == 0.6  # OA
  assert rsvqa.average_accuracy(per_type) == pytest.approx((0.5 + 1 + 0 + 1) / 4)  # AA
  nonum = rsvqa.average_accuracy(per_type, rsvqa.NON_NUMERIC_TYPES["lr"])
  assert nonum == pytest.approx((0.5 + 1 + 0) / 3)
  assert rsvqa.average_accuracy(per_type, rsvqa.NON_NUMERIC_TYPES["hr"]) == 0.75


def test_case_sensitive_without_to_lower_and_any_reference():
  assert not rsvqa.answer_match(["yes"], "Yes", to_lower=False)
  assert rsvqa.answer_match(["10", "between 10 and 100"], "10", to_lower=False)


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match=r"types \['area'\] .* has the types \['comp'\]"):
    rsvqa.average_accuracy({"comp": 1.0}, ["area"])
  with pytest.raises(ValueError, match="no reference"):
    rsvqa.answer_match([], "yes")
