"""Evaluators end to end: a copying stub model with known scores, and a tiny random PaliGemma.

The stub's decoder outputs the prompt's prefix tokens then EOS, so each prediction is the jsonl
row's `prefix`, and the expected scores are computed by hand from the rows written here. 13
examples with a global batch of 8 (on 8 devices): the second batch has 3 padding rows.
"""
import json
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from pycocoevalcap.bleu import bleu
from pycocoevalcap.cider import cider

from big_paligemma import sharding
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from big_paligemma.tokenizer import Tokenizer
from evaluators import common
import pp
from tests.evaluators import stub_model

N = 13
_EVAL_PP = pp.paligemma_eval_pp(16, 16, "{prefix}", keep_keys=("answers", "question_id"))


def _qa_rows():
  """Answer i is "cat i" (plus "dog" when i % 3 == 1); the prompt (= prediction) is wrong
  ("xxxxxxxx") when i % 4 == 0, "dog" when i % 3 == 1, else "cat i". 9 of 13 are right."""
  rows = []
  for i in range(N):
    answers = [f"cat {i}", "dog"] if i % 3 == 1 else [f"cat {i}"]
    prompt = "xxxxxxxx" if i % 4 == 0 else ("dog" if i % 3 == 1 else f"cat {i}")
    rows.append({"prefix": prompt, "suffix": f"cat {i}", "answers": answers,
                 "question_id": 100 + i})
  return rows


def _cfg(path, **kwargs):
  return {"data": {"jsonl": path}, "pp": _EVAL_PP, "batch_size": 8, "max_decode_len": 12,
          **kwargs}


def _run(kind, cfg, tok_path, mesh, model=None, params=None):
  model = model or stub_model.make_stub(Tokenizer.load(tok_path).vocab_size)
  ev = common.make_evaluator("ev", {"type": kind, **cfg}, model=model, tokenizer_path=tok_path,
                             mesh=mesh)
  return ev.run({} if params is None else params)


def test_anls_and_exact_on_known_predictions(tmp_path, tok_path, mesh):
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  out = _run("anls", _cfg(path), tok_path, mesh)
  assert out == pytest.approx({"ev/anls": 9 / 13, "ev/exact": 9 / 13})


def test_predictions_are_whitespace_trimmed_before_scoring(tmp_path, tok_path, mesh):
  """The stub decodes "cat i" followed by newlines: trimmed, every answer is exact (untrimmed,
  the official ANLS would divide by the raw length and exact match would be 0)."""
  rows = [{"prefix": f"cat {i}" + "\n" * 4, "suffix": f"cat {i}", "answers": [f"cat {i}"],
           "question_id": 100 + i} for i in range(N)]
  path = stub_model.write_jsonl(str(tmp_path), rows)
  out = _run("anls", _cfg(path, max_decode_len=24), tok_path, mesh)
  assert out == pytest.approx({"ev/anls": 1.0, "ev/exact": 1.0})


def test_exclude_key_also_scores_the_questions_it_does_not_mark(tmp_path, tok_path, mesh):
  """A-OKVQA's official direct-answer score leaves out the difficult questions: with the odd
  ones marked, 7 unmarked (the even ones), of which 3 are right (0, 4, 8 and 12 are wrong)."""
  rows = [{**r, "hard": i % 2 == 1} for i, r in enumerate(_qa_rows())]
  path = stub_model.write_jsonl(str(tmp_path), rows)
  spec = pp.paligemma_eval_pp(16, 16, "{prefix}", keep_keys=("answers", "question_id", "hard"))
  out = _run("vqa", _cfg(path, pp=spec, metrics=("exact",), exclude_key="hard"), tok_path, mesh)
  assert out == pytest.approx({"ev/exact": 9 / 13, "ev/exact/without_hard": 3 / 7,
                               "ev/num/without_hard": 7.0})
  with pytest.raises(KeyError, match="keep"):
    _run("vqa", _cfg(path, metrics=("exact",), exclude_key="hard"), tok_path, mesh)


def test_to_lower_compares_answers_case_insensitively(tmp_path, tok_path, mesh):
  """Answers in capitals: exact match is 0 as given, and as the lower-case predictions with
  to_lower (big_vision's `to_lower`)."""
  rows = [{**r, "answers": [a.upper() for a in r["answers"]]} for r in _qa_rows()]
  path = stub_model.write_jsonl(str(tmp_path), rows)
  assert _run("vqa", _cfg(path, metrics=("exact",)), tok_path, mesh) == {"ev/exact": 0.0}
  out = _run("vqa", _cfg(path, metrics=("exact",), to_lower=True), tok_path, mesh)
  assert out == pytest.approx({"ev/exact": 9 / 13})


def test_vqa_beam_search_gives_the_same_predictions(tmp_path, tok_path, mesh):
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  cfg = _cfg(path, sampler={"name": "beam", "beam_size": 2}, metrics=("exact", "vqa_accuracy"))
  out = _run("vqa", cfg, tok_path, mesh)
  # vqa_accuracy = min(#matches / 3, 1): one match each -> 1/3 per right answer.
  assert out == pytest.approx({"ev/exact": 9 / 13, "ev/vqa_accuracy": 3 / 13})


def test_chartqa_relaxed_and_exact(tmp_path, tok_path, mesh):
  rows = []
  for i in range(N):  # i%3==0: within 5% but not equal; i%3==1: equal; i%3==2: wrong.
    target = str(10 + i)
    prompt = [f"{target}.3", target, "99"][i % 3]
    rows.append({"prefix": prompt, "suffix": target, "answer": target})
  path = stub_model.write_jsonl(str(tmp_path), rows)
  cfg = _cfg(path, pp=pp.paligemma_eval_pp(16, 16, "{prefix}", keep_keys=("answer",)))
  out = _run("chartqa", cfg, tok_path, mesh)
  assert out == pytest.approx({"ev/relaxed_accuracy": 9 / 13, "ev/exact": 4 / 13})


def test_chartqa_to_lower_makes_exact_match_case_insensitive(tmp_path, tok_path, mesh):
  """Targets "Yes"/"No" against lower-case predictions: exact match counts none of them as given
  and every one with to_lower (big_vision's ChartQA transfer sets it); relaxed accuracy compares
  non-numbers lower-cased either way. i % 4 == 0 predicts the wrong word: 9 of 13 are right."""
  rows = []
  for i in range(N):
    target = "Yes" if i % 2 else "No"
    prompt = ("no" if target == "Yes" else "yes") if i % 4 == 0 else target.lower()
    rows.append({"prefix": prompt, "suffix": target, "answer": target})
  path = stub_model.write_jsonl(str(tmp_path), rows)
  cfg = _cfg(path, pp=pp.paligemma_eval_pp(16, 16, "{prefix}", keep_keys=("answer",)))
  assert _run("chartqa", cfg, tok_path, mesh) == pytest.approx(
      {"ev/relaxed_accuracy": 9 / 13, "ev/exact": 0.0})
  assert _run("chartqa", {**cfg, "to_lower": True}, tok_path, mesh) == pytest.approx(
      {"ev/relaxed_accuracy": 9 / 13, "ev/exact": 9 / 13})


def test_coco_caption_equals_pycocoevalcap(tmp_path, tok_path, mesh):
  colours = ["red", "blue", "green", "white"]
  rows, refs, cands = [], {}, {}
  for i in range(N):
    caption = f"a {colours[i % 4]} cat on a mat"
    refs[i] = [caption, f"a {colours[i % 4]} cat", f"the {colours[(i + 1) % 4]} dog"]
    cands[i] = caption if i % 2 else f"a {colours[(i + 2) % 4]} dog"
    rows.append({"prefix": cands[i], "suffix": caption, "captions": refs[i], "image_id": i})
  path = stub_model.write_jsonl(str(tmp_path), rows)
  cfg = _cfg(path, pp=pp.paligemma_eval_pp(16, 16, "{prefix}", keep_keys=("captions", "image_id")),
             metrics=("cider", "bleu4"), tokenize=False)
  out = _run("coco_caption", cfg, tok_path, mesh)
  want_cider, _ = cider.Cider().compute_score(refs, {k: [v] for k, v in cands.items()})
  want_bleu, _ = bleu.Bleu(4).compute_score(refs, {k: [v] for k, v in cands.items()}, verbose=0)
  assert out == pytest.approx({"ev/cider": want_cider, "ev/bleu4": want_bleu[3]})


def test_perplexity_of_uniform_logits_is_the_vocab_size(tmp_path, tok_path, mesh):
  rows = _qa_rows()
  path = stub_model.write_jsonl(str(tmp_path), rows)
  tok = Tokenizer.load(tok_path)
  cfg = {"data": {"jsonl": path}, "batch_size": 8,
         "pp": pp.paligemma_train_pp(16, 24, "{prefix}", "suffix")}
  out = _run("perplexity", cfg, tok_path, mesh)
  num_tokens = sum(len(tok.encode(r["suffix"])) + 1 for r in rows)  # suffix + EOS
  assert out == pytest.approx({"ev/nll": math.log(tok.vocab_size),
                               "ev/perplexity": tok.vocab_size, "ev/num_tokens": num_tokens})


def test_storepreds_writes_docvqa_submission(tmp_path, tok_path, mesh):
  rows = _qa_rows()
  path = stub_model.write_jsonl(str(tmp_path / "data"), rows)
  outfile = str(tmp_path / "out" / "docvqa_test.json")
  out = _run("storepreds", _cfg(path, format="docvqa", outfile=outfile), tok_path, mesh)
  assert out == {"ev/num_predictions": 13.0}
  with open(outfile) as f:
    written = json.load(f)
  assert written == [{"questionId": r["question_id"], "answer": r["prefix"]} for r in rows]


def _tiny_paligemma(tok_path, num_layers=1, num_kv_heads=1):
  """(model, random params) of a tiny PaliGemma over the session tokenizer's vocabulary."""
  vocab = Tokenizer.load(tok_path).vocab_size
  config = paligemma.PaliGemmaConfig(
      img=siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                              image_size=16),
      llm=gemma.GemmaConfig(vocab_size=vocab, num_layers=num_layers, num_heads=2,
                            num_kv_heads=num_kv_heads, width=16, mlp_dim=32, head_dim=8))
  model = paligemma.PaliGemma(config)
  batch = {"image": jnp.zeros((1, 16, 16, 3)), "text": jnp.ones((1, 4), jnp.int32),
           "mask_ar": jnp.zeros((1, 4), jnp.int32), "mask_input": jnp.ones((1, 4), jnp.int32)}
  return model, jax.jit(model.init)(jax.random.key(0), batch)["params"]


def test_tiny_paligemma_runs_every_type_of_decoding(tmp_path, tok_path, mesh):
  model, params = _tiny_paligemma(tok_path)
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  for sampler in ("greedy", {"name": "sample", "temperature": 2.0, "seed": 3},
                  {"name": "beam", "beam_size": 2}):
    out = _run("anls", _cfg(path, sampler=sampler, max_decode_len=3), tok_path, mesh,
               model=model, params=params)
    assert set(out) == {"ev/anls", "ev/exact"}
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_an_eval_batch_smaller_than_the_fsdp_mesh_decodes_as_on_a_data_mesh(tmp_path, tok_path,
                                                                            mesh):
  """Params FSDP-sharded over 8 devices and an eval batch of 4 (fewer rows than devices, as an
  eval batch of 64 on a 128-chip slice): the evaluator decodes on fsdp 4 x tensor 2 over the same
  devices, the params moved there, and predicts what the data-parallel mesh predicts."""
  model, params = _tiny_paligemma(tok_path, num_layers=2, num_kv_heads=2)
  fsdp = sharding.make_mesh([("data", 1), ("fsdp", -1), ("tensor", 1)])
  rules = [(".*/(bias|scale)", "replicate"), (".*", "fsdp")]
  sharded = jax.device_put(params, sharding.infer_param_shardings(params, rules, fsdp,
                                                                  strict=False))
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  evs = {m: common.make_evaluator("ev", {"type": "anls", **_cfg(path, batch_size=b)}, model=model,
                                  tokenizer_path=tok_path, mesh=m)
         for m, b in ((fsdp, 4), (mesh, 8))}
  assert dict(evs[fsdp].mesh.shape) == {"data": 1, "fsdp": 4, "tensor": 2}
  assert evs[mesh].mesh is mesh
  moved = sharding.onto_mesh(sharded, evs[fsdp].mesh)
  preds = {m: [r["tokens"] for r in ev.predict(moved if m is fsdp else params)]
           for m, ev in evs.items()}
  assert len(preds[fsdp]) == N and preds[fsdp] == preds[mesh]
  assert evs[fsdp].run(sharded) == evs[mesh].run(params)


def test_make_evaluators_from_config_and_errors(tmp_path, tok_path, mesh):
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  config = ml_collections.ConfigDict({"tokenizer": tok_path, "evals": {
      "a": {"type": "anls", **_cfg(path), "every": "10 steps"},
      "b": {"type": "vqav2", **_cfg(path)}}})
  evs = common.make_evaluators(config, model=stub_model.make_stub(10), mesh=mesh)
  assert [(e.name, type(e).__name__, e.every) for e in evs] == [
      ("a", "ANLSEvaluator", "10 steps"), ("b", "VQAv2Evaluator", None)]
  with pytest.raises(ValueError, match=r"unknown keys \['answer_kye'\]"):
    common.make_evaluator("x", {"type": "anls", "answer_kye": 1, **_cfg(path)},
                          model=None, tokenizer_path=tok_path, mesh=mesh)
  with pytest.raises(ValueError, match=r"needs the keys \['max_decode_len'\]"):
    cfg = _cfg(path)
    del cfg["max_decode_len"]
    common.make_evaluator("x", {"type": "anls", **cfg}, model=None, tokenizer_path=tok_path,
                          mesh=mesh)
  with pytest.raises(KeyError, match="Did you mean"):
    common.make_evaluator("x", {"type": "anl", **_cfg(path)}, model=None,
                          tokenizer_path=tok_path, mesh=mesh)
  with pytest.raises(ValueError, match=r"evals.x.batch_size=3 does not split .* multiple of"):
    common.make_evaluator("x", {"type": "anls", **_cfg(path), "batch_size": 3}, model=None,
                          tokenizer_path=tok_path, mesh=mesh)


def test_to_python_converts_batch_values():
  assert common.to_python(np.array([b"a", b""], object)) == ["a", ""]
  assert common.to_python(np.int64(7)) == 7 and isinstance(common.to_python(np.int64(7)), int)


def test_bad_sampler_fails_when_built(tmp_path, tok_path, mesh):
  path = stub_model.write_jsonl(str(tmp_path), _qa_rows())
  with pytest.raises(ValueError, match=r"evals.x: sampler keys \['num_beams'\] are unknown"):
    common.make_evaluator("x", {"type": "anls", **_cfg(path, sampler={"name": "beam",
                                                                      "num_beams": 2})},
                          model=None, tokenizer_path=tok_path, mesh=mesh)
  with pytest.raises(ValueError, match="evals.x: beam_size=2 needs sampler='beam'"):
    common.make_evaluator("x", {"type": "anls", **_cfg(path, sampler={"beam_size": 2})},
                          model=None, tokenizer_path=tok_path, mesh=mesh)
