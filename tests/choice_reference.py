"""big_vision's choice_no_replacement, as its formula, for the tests of pp.choice_no_replacement."""
import tensorflow as tf


def big_vision_no_replacement(n: int, base: list[int], times_seen: int) -> int:
  """The element big_vision's choice_no_replacement takes of an example's n elements the
  `times_seen`-th time (from 0) it sees the example: its pp/ops_general.py shuffles range(n) with
  the seed fold_in(example seed, count // n) and takes element count % n; `base` = [op seed,
  example key] stands for its example seed fold_in(op seed, _id)."""
  seed = tf.random.experimental.stateless_fold_in(tf.constant(base, tf.int64),
                                                  tf.constant(times_seen // n, tf.int64))
  return int(tf.random.experimental.stateless_shuffle(tf.range(n), seed)[times_seen % n])
