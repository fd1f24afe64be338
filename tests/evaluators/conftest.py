"""Fixtures shared by the evaluator tests: a tiny PaliGemma tokenizer and a data-parallel mesh."""
import pytest

from big_paligemma import sharding
from tests import tokenizer_fixture


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return tokenizer_fixture.make_tiny_paligemma_tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="module")
def mesh():
  return sharding.make_mesh([("data", -1)])
