"""Fixtures shared by the evaluator tests: the session's tiny PaliGemma tokenizer and a data-parallel
mesh."""
import pytest

from big_paligemma import sharding


@pytest.fixture(scope="module")
def tok_path(paligemma_tokenizer_path):
  return paligemma_tokenizer_path


@pytest.fixture(scope="module")
def mesh():
  return sharding.make_mesh([("data", -1)])
