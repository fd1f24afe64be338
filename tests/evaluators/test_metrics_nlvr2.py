"""NLVR2 accuracy and consistency on hand-derived cases, following the official metrics.py."""
import pytest

from evaluators.metrics import nlvr2


def test_correct_ignores_case_and_takes_bools():
  assert nlvr2.is_correct("True", "true")
  assert nlvr2.is_correct(False, "False")
  assert not nlvr2.is_correct("False", "True")
  assert not nlvr2.is_correct("True", "yes")
  assert nlvr2.is_valid("FALSE") and not nlvr2.is_valid("yes")


def test_consistency_groups_by_sentence():
  ids = ["dev-1-0-0", "dev-1-1-0", "dev-1-2-0", "dev-2-0-1", "dev-2-1-1"]
  # Sentence dev-1--0 has a wrong pair, dev-2--1 is all right: 1 of 2 sentences.
  assert nlvr2.consistency(ids, [True, True, False, True, True]) == 0.5
  assert nlvr2.sentence_key("test1-850-3-2") == "test1-850--2"
  with pytest.raises(ValueError, match="split-set-pair-sentence"):
    nlvr2.sentence_key("marvl-zh-1")
