"""ANLS on hand-derived cases, following the official DocVQA (RRC) evaluation script."""
import random

import pytest

from evaluators.metrics import anls


def test_levenshtein():
  assert anls.levenshtein("kitten", "sitting") == 3
  assert anls.levenshtein("", "abc") == 3
  assert anls.levenshtein("abc", "") == 3
  assert anls.levenshtein("same", "same") == 0
  assert anls.levenshtein("café", "cafe") == 1  # Code points, not bytes.


def _dp_levenshtein(a, b):
  """The textbook dynamic programme, the reference for the library's distance."""
  table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
  for i in range(1, len(a) + 1):
    for j in range(1, len(b) + 1):
      table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                        table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
  return table[-1][-1]


def test_levenshtein_equals_the_dynamic_programme_on_random_strings():
  rng = random.Random(0)
  alphabet = "abcxyz ÄéΩ中文"
  for _ in range(300):
    a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
    b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
    assert anls.levenshtein(a, b) == _dp_levenshtein(a, b), (a, b)


def test_exact_and_case_and_whitespace():
  assert anls.anls_one(["Hello World"], "hello   world") == 1.0
  assert anls.anls_one(["abc"], " ABC ") == 1.0


def test_one_edit_in_three():
  assert anls.anls_one(["abc"], "abd") == pytest.approx(2 / 3)


def test_distance_exactly_half_keeps_half():
  # NL = 1 / 2: the server keeps 1 - NL = 0.5 (it zeroes only scores below 0.5).
  assert anls.anls_one(["ab"], "ax") == 0.5


def test_distance_above_half_is_zero():
  assert anls.anls_one(["abc"], "xyc") == 0.0  # NL = 2/3.


def test_empty_strings():
  assert anls.anls_one([""], "") == 1.0  # max length 0 -> NL 0.
  assert anls.anls_one([""], "abc") == 0.0  # NL = 3/3.
  assert anls.anls_one(["abc"], "") == 0.0


def test_denominator_uses_raw_lengths():
  # Normalised "abcd" vs "abce": distance 1; denominator max(len("abcd"), len("  abce  ")) = 8.
  assert anls.anls_one(["abcd"], "  abce  ") == pytest.approx(1 - 1 / 8)


def test_max_over_ground_truths_and_mean_over_questions():
  assert anls.anls_one(["xyz", "abd", "abc"], "abc") == 1.0
  assert anls.anls_one(["xyz", "abcd"], "abc") == pytest.approx(0.75)
  assert anls.anls([["abc"], ["abc"]], ["abc", "xyz"]) == pytest.approx(0.5)


def test_errors():
  with pytest.raises(ValueError, match="no ground-truth"):
    anls.anls_one([], "a")
  with pytest.raises(ValueError, match="as many"):
    anls.anls([["a"]], ["a", "b"])
