"""Multiple-choice parsing (ScienceQA letters, A-OKVQA choices) on hand-derived cases."""
import pytest

from evaluators.metrics import choices


def test_science_qa_letter_as_big_vision():
  assert choices.science_qa_letter("The answer is B.") == "B"
  assert choices.science_qa_letter("the answer is c. BECAUSE: plants need light") == "C"
  assert choices.science_qa_letter("The answer is B") is None  # No period.
  assert choices.science_qa_letter("Answer: B") is None
  assert choices.science_qa_letter("I think the answer is B.") is None  # Must open the text.
  assert choices.science_qa_letter("The answer is AB.") is None


def test_science_qa_targets():
  assert choices.science_qa_target("The answer is D.") == "D"
  assert choices.science_qa_target("b") == "B"
  assert choices.letter_index("C") == 2
  with pytest.raises(ValueError, match="neither"):
    choices.science_qa_target("dog")


def test_choice_index_is_exact():
  opts = ["red", "green", "blue", "Red car"]
  assert choices.choice_index("blue", opts) == 2
  assert choices.choice_index("Blue", opts) is None
  assert choices.choice_index("red car", opts) is None


def test_direct_answer_accuracy():
  assert choices.direct_answer_accuracy(["dog", "dog", "cat", "dog"], "dog") == 1.0
  assert choices.direct_answer_accuracy(["dog", "cat", "cat"], "dog") == pytest.approx(1 / 3)
  assert choices.direct_answer_accuracy(["dog"], "Dog") == 0.0
