"""A mixture source's own "pp" (input_pipeline, trainers.train's source_pp): each source's
examples go through its pp, the others through input.pp; mismatched outputs and misplaced pps
are errors."""
import os

import pytest

from big_paligemma.data import input_pipeline
import pp
from tests import data_fixtures

PP = 'decode|resize(8)|strfmt("{tag} {{id}}", outkey="prompt")|keep("image", "prompt")'


def _mixture(tmp_path, pps):
  sources = []
  for i, spec in enumerate(pps):
    source = {"jsonl": data_fixtures.write_jsonl(str(tmp_path / f"s{i}"), n=4), "weight": 1.0}
    if spec is not None:
      source["pp"] = spec
    sources.append(source)
  return {"mixture": sources}


def _build(spec):
  return pp.get_preprocess_fn(spec)


def test_each_source_has_its_prompt(tmp_path):
  data = _mixture(tmp_path, [None, PP.format(tag="caption de"), PP.format(tag="caption fr")])
  it = input_pipeline.make_train_iterator(data, _build(PP.format(tag="caption en")),
                                          global_batch_size=24, seed=0, num_parallel=1,
                                          source_pp=_build)
  prompts = [p.decode() for p in next(it)["prompt"]]
  assert {p.rsplit(" ", 1)[0] for p in prompts} == {"caption en", "caption de", "caption fr"}
  assert all(p.rsplit(" ", 1)[1] in "0123" for p in prompts)


def test_misplaced_or_mismatched_source_pps_are_errors(tmp_path):
  data = _mixture(tmp_path, [None, PP.format(tag="x")])
  with pytest.raises(ValueError, match="must pass source_pp="):
    input_pipeline.make_train_iterator(data, _build(PP.format(tag="y")), global_batch_size=8,
                                       seed=0, num_parallel=1)
  other = 'decode|resize(8)|keep("image")'
  with pytest.raises(ValueError, match="must give the same fields"):
    input_pipeline.make_train_iterator(_mixture(tmp_path, [None, other]),
                                       _build(PP.format(tag="y")), global_batch_size=8, seed=0,
                                       num_parallel=1, source_pp=_build)
  source = {"jsonl": os.path.join(str(tmp_path / "s0"), "data.jsonl"), "pp": other}
  with pytest.raises(ValueError, match="an eval's pp is its own"):
    input_pipeline.make_eval_iterator(source, _build(other), global_batch_size=8)
