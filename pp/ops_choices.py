"""Lettered, shuffled choices of multiple-choice prompts.

`shuffle_choices` writes ScienceQA's prompt fields as its dataset builder does ("indexed_choices"
"(A) apple, (B) banana", "indexed_answer" "B"), with the choices in a per-example order (as
big_vision's sci_qa_choices_shuffle, but a stateless function of the example like pp.choice).
"""
import tensorflow as tf

from big_paligemma.registry import register
from pp import ops_general
from pp.ops_general import get

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _indexed(choices: tf.Tensor, answer: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """choices [n] strings, answer int (its index) -> ("(A) c0, (B) c1, ...", the answer's letter)."""
  n = tf.shape(choices)[0]
  tf.debugging.assert_less_equal(n, len(LETTERS), message="more choices than letters")
  letters = tf.constant(list(LETTERS))[:n]
  text = tf.strings.reduce_join(tf.strings.join(["(" + letters + ")", choices], " "),
                                separator=", ")
  return text, tf.gather(letters, tf.cast(answer, tf.int32))


@register("pp.shuffle_choices")
def shuffle_choices(choices_key: str = "choices", answer_key: str = "answer",
                    choices_outkey: str = "indexed_choices",
                    answer_outkey: str = "indexed_answer", seed: int = 0):
  """The choices (strings [n]) in a shuffled order, lettered, into `choices_outkey`, and the letter
  of the right one (`answer_key`: its index among the choices) into `answer_outkey`.

  The order is a stateless function of (`seed`, the example's `_seed` or `_id`), as pp.choice.
  """
  def _shuffle_choices(example):
    choices, answer = get(example, choices_key), get(example, answer_key)
    n = tf.shape(choices)[0]
    tf.debugging.assert_less(tf.cast(answer, tf.int32), n,
                             message=f"pp.shuffle_choices: {answer_key!r} is not a choice index")
    key = ops_general._example_seed(example, choices_key, seed)  # pylint: disable=protected-access
    order = tf.argsort(tf.random.stateless_uniform([n], key))
    new_answer = tf.argmax(tf.cast(tf.equal(order, tf.cast(answer, tf.int32)), tf.int32))
    text, letter = _indexed(tf.gather(choices, order), new_answer)
    return {**example, choices_outkey: text, answer_outkey: letter}
  return _shuffle_choices
