"""The VQA transfer configs: every model and published resolution builds and validates with its
published row (configs/published.py) and big_vision's prompts and splits; each `:demo` reads its
demo set through its training pp and builds its evaluators, whose eval batches carry the fields
they score; one short trainer run (vqav2 :demo) scores the VQAv2 accuracy per answer type."""
import json
import os
import re

import pytest

from big_paligemma import config as cs
from big_paligemma import registry
from big_paligemma import sharding
from big_paligemma.data import input_pipeline
from big_paligemma.models import build
from big_paligemma.tokenizer import Tokenizer
from configs import common
from configs import published
from configs.transfer import ai2d
from configs.transfer import aokvqa_da
from configs.transfer import aokvqa_mc
from configs.transfer import chartqa
from configs.transfer import docvqa
from configs.transfer import gqa
from configs.transfer import infovqa
from configs.transfer import ocrvqa
from configs.transfer import okvqa
from configs.transfer import stvqa
from configs.transfer import textvqa
from configs.transfer import vizwizvqa
from configs.transfer import vqav2
import evaluators
import pp
from tests import tokenizer_fixture
from tools import average_metrics
from tools import make_demo_data

# config -> its demo set (tools/demo_data).
CONFIGS = {vqav2: "vqav2", textvqa: "textvqa", okvqa: "okvqa", aokvqa_da: "aokvqa",
           aokvqa_mc: "aokvqa", gqa: "gqa", vizwizvqa: "vizwizvqa", ai2d: "ai2d", stvqa: "stvqa",
           infovqa: "infovqa", ocrvqa: "ocrvqa"}
# The prefixes as big_vision's pp writes them (read from its transfer configs by hand).
BIG_VISION_PROMPTS = {
    "vqav2": "answer en {question_text}", "textvqa": "answer en {question}",
    "okvqa": "answer en {question}", "aokvqa_da": "answer en {question}",
    "aokvqa_mc": "answer en  {question} choose from: {ansstr}", "gqa": "answer en {question}",
    "vizwizvqa": "answer en {question}", "ai2d": "answer en  {question} choose from: {ansstr}",
    "stvqa": "answer en {question}", "infovqa": "answer en {question}",
    "ocrvqa": "answer en {question}",
    # big_vision's docvqa and chartqa copy the question into the prefix: the bare question.
    "docvqa": "{question}", "chartqa": "{question}"}
# The metric each config's scored eval reports under the row's metric name.
SCORING = {"vqav2": "vqav2", "textvqa": "vqav2", "okvqa": "vqa", "aokvqa_da": "vqa",
           "aokvqa_mc": "aokvqa_mc", "gqa": "vqa", "vizwizvqa": "vqa", "ai2d": "vqa",
           "stvqa": "anls", "infovqa": "anls", "ocrvqa": "vqa"}


def _name(module) -> str:
  return module.__name__.rsplit(".", 1)[-1]


def _decode_evals(c) -> dict:
  return {n: e for n, e in c.evals.items() if e.type != "perplexity"}


@pytest.mark.parametrize("module", list(CONFIGS) + [docvqa, chartqa], ids=_name)
def test_every_model_and_published_res_matches_the_row(module):
  row = published.TRANSFERS[_name(module)]
  assert row.prompt == BIG_VISION_PROMPTS[row.name]
  for model in published.MODELS:
    for res in sorted(row.recipes):
      c = module.get_config(f"model={model},res={res}")
      cs.validate(c)
      recipe = row.recipe(model, res)
      assert c.model.preset == common.preset_for(res, model)
      assert (c.total_epochs, c.optim.lr, c.optim.wd, c.input.batch_size) == (
          recipe.epochs, recipe.lr, recipe.wd, recipe.batch_size)
      assert c.loss.label_smoothing == recipe.label_smoothing
      assert c.model.overrides.llm.get("dropout", 0.0) == recipe.llm_dropout
      assert c.optim.get("frozen", []) == ([r"img/.*"] if recipe.freeze_vit else [])
      assert f"strfmt({row.prompt!r}" in c.input.pp
      assert f"tolen({row.text_len + 1}," in c.input.pp  # big_vision's +1: the model reads text_len
      assert f"resize({res}," in c.input.pp
      for name, ev in _decode_evals(c).items():
        assert f"strfmt({row.prompt!r}" in ev.pp and ev.max_decode_len == row.text_len, name
        assert ev.get("to_lower", False) == row.to_lower, name
        assert "sampler" not in ev  # greedy, as every row of this family
  unpublished = sorted({224, 448, 896} - set(row.recipes))
  for res in unpublished:
    with pytest.raises(cs.ConfigError, match=f"no published recipe at res={res}"):
      module.get_config(f"res={res}")


# PaliGemma 2's learning rate per size (3B, 10B, 28B), read by hand from the PaliGemma 2 paper
# (arXiv 2412.03555v1) Table 14: the best rate of its 224 px sweep (3e-7 .. 3e-5) on the task's
# line (the validation split it names; ChartQA: its augmented line), the lower one on a tie.
PG2_LRS = {"docvqa": (6e-6, 3e-6, 3e-6), "chartqa": (3e-6, 1e-6, 3e-7),
           "vqav2": (3e-6, 1e-6, 6e-7), "textvqa": (3e-6, 6e-7, 1e-6),
           "okvqa": (3e-6, 1e-6, 1e-6), "aokvqa_da": (3e-6, 1e-6, 6e-7),
           "aokvqa_mc": (3e-6, 3e-7, 1e-6), "gqa": (3e-6, 1e-6, 3e-6),
           "vizwizvqa": (1e-5, 3e-6, 3e-6), "ai2d": (6e-6, 1e-6, 3e-6),
           "stvqa": (6e-6, 3e-6, 3e-6), "infovqa": (3e-6, 6e-7, 3e-7),
           "ocrvqa": (1e-6, 3e-7, 3e-7)}
# PaliGemma 2's scores, 3B / 10B / 28B at (224, 448), read by hand from the same paper's Table 13
# (the split it names: val/minival for docvqa, textvqa, vqav2, aokvqa_*, vizwizvqa, stvqa,
# infovqa; ChartQA augmented).
PG2_SCORES = {
    "docvqa": ((39.9, 73.6), (43.9, 76.6), (44.9, 76.1)),
    "chartqa": ((74.4, 89.2), (74.2, 90.1), (68.9, 85.1)),
    "vqav2": ((83.0, 84.8), (84.3, 85.8), (84.5, 85.8)),
    "textvqa": ((59.6, 75.2), (64.0, 76.6), (64.7, 76.2)),
    "okvqa": ((64.2, 64.1), (68.0, 68.6), (71.2, 70.6)),
    "aokvqa_da": ((64.2, 67.9), (68.9, 70.8), (70.2, 71.2)),
    "aokvqa_mc": ((79.7, 82.5), (83.7, 85.9), (84.7, 87.0)),
    "gqa": ((66.2, 68.1), (67.2, 68.3), (67.3, 68.3)),
    "vizwizvqa": ((76.4, 77.5), (78.1, 78.6), (78.7, 78.9)),
    "ai2d": ((74.7, 76.0), (83.1, 84.4), (83.2, 84.6)),
    "stvqa": ((61.9, 80.5), (64.3, 82.0), (65.1, 81.8)),
    "infovqa": ((25.2, 37.5), (33.6, 47.8), (36.4, 46.7)),
    "ocrvqa": ((73.4, 75.7), (74.7, 76.3), (75.3, 76.6))}


@pytest.mark.parametrize("module", list(CONFIGS) + [docvqa, chartqa], ids=_name)
def test_paligemma_2_takes_the_224_recipe_with_table_14_lr_and_has_table_13_scores(module):
  """PaliGemma 2 (paper Sec. 4.1): PaliGemma's 224 px recipe at 224 and 448 px, only the
  learning rate chosen per size; at 896 (not in the paper) PaliGemma 1 3B's 896 recipe."""
  row = published.TRANSFERS[_name(module)]
  base = row.recipes[224]
  for model, lr, scores in zip(published.MODELS[1:], PG2_LRS[row.name], PG2_SCORES[row.name]):
    assert row.scores[model] == dict(zip((224, 448), scores)), model
    for res in (224, 448):
      c = module.get_config(f"model={model},res={res}")
      assert (c.optim.lr, c.total_epochs, c.optim.wd, c.input.batch_size) == (
          lr, base.epochs, base.wd, base.batch_size), (model, res)
      assert c.loss.label_smoothing == base.label_smoothing
      assert c.optim.get("frozen", []) == ([r"img/.*"] if base.freeze_vit else [])
    if 896 in row.recipes:
      assert module.get_config(f"model={model},res=896").optim.lr == row.recipes[896].lr


@pytest.mark.parametrize("module", list(CONFIGS), ids=_name)
def test_scored_eval_reports_the_row_metric_and_final_split_trains_on_all(module):
  row = published.TRANSFERS[_name(module)]
  c = module.get_config()
  scored = [e for e in _decode_evals(c).values() if e.type == SCORING[row.name]]
  assert scored, sorted(c.evals)
  defaults = registry.lookup(f"evaluator.{scored[0].type}").DEFAULTS
  metrics = scored[0].get("metrics", defaults.get("metrics", ("acc",)))
  assert row.metric in metrics
  f = module.get_config("final_split")
  cs.validate(f)
  assert "[" not in f.input.data.split and f.input.data.split != c.input.data.split
  assert not any(e.type == "perplexity" for e in f.evals.values())


def test_big_vision_splits_holdouts_and_monitors():
  pplx = lambda c: {n: e.data.split for n, e in c.evals.items() if e.type == "perplexity"}
  v = vqav2.get_config()
  assert v.input.data.split == "train+validation[:-10240]"
  assert v.evals.vqav2_minival.data.split == "validation[-10240:]"
  assert v.evals.vqav2_minival.answer_type_key == "answer_type"
  assert pplx(v) == {"vqav2_minitrain_pplx": "train[:20864]",
                     "vqav2_minival_pplx": "validation[-10240:]"}
  assert vqav2.get_config("final_split").evals.vqav2_test.format == "vqav2"
  assert okvqa.get_config().input.data.split == "train[:-10%]"
  assert pplx(okvqa.get_config())["okvqa_minival_pplx"] == "train[-10%:]"
  assert ai2d.get_config().input.data.split == "train[:-1024]"
  assert ai2d.get_config().evals.ai2d_test.data.split == "test"
  assert ocrvqa.get_config().input.data.split == "train+val[20000:]"
  assert sorted(ocrvqa.get_config().evals) == [
      "ocrvqa_minitrain_pplx", "ocrvqa_minival", "ocrvqa_minival_pplx", "ocrvqa_test"]
  g = gqa.get_config()
  assert sorted(n for n in g.evals if n.startswith("xgqa_")) == [
      f"xgqa_test_zs_{lang}" for lang in ("bn", "de", "en", "id", "ko", "pt", "ru", "zh")]
  assert "antialias=False" in g.input.pp and g.evals.gqa_testdev_balanced.every == "100%"
  assert "antialias=True" in vizwizvqa.get_config().input.pp
  assert "antialias=False" in vizwizvqa.get_config().evals.vizwizvqa_val.pp
  t = textvqa.get_config()
  assert 'strfmt("other", outkey="answer_type")' in t.evals.textvqa_val.pp
  for module, fmt in ((stvqa, "vqav2"), (infovqa, "docvqa"), (aokvqa_da, "aokvqa_da"),
                      (aokvqa_mc, "aokvqa_mc"), (textvqa, "vqav2")):
    (ev,) = module.get_config("final_split").evals.values()
    assert (ev.type, ev.format, ev.data.split) == ("storepreds", fmt, "test")
  assert 'lower(key="answers")' in stvqa.get_config().input.pp
  # ChartQA as big_vision: its test sets (published, with answers) in every run, monitors.
  q = chartqa.get_config()
  assert {n: e.data.split for n, e in q.evals.items() if e.type == "chartqa"} == {
      f"chartqa_{s}_{split}": split for s in ("human", "augmented")
      for split in ("validation", "test")}
  assert pplx(q)["chartqa_human_minitrain_pplx"] == "train[:5%]"
  assert published.TRANSFERS["chartqa"].to_lower  # big_vision's add_eval sets to_lower=True
  assert all(e.to_lower for e in q.evals.values() if e.type == "chartqa")
  assert sorted(chartqa.get_config("final_split").evals) == [
      "chartqa_augmented_test", "chartqa_human_test"]


def test_xgqa_mean_over_the_8_languages_is_the_published_key(tmp_path, capsys):
  """big_vision's README publishes xGQA as the mean accuracy over bn, de, en, id, ko, pt, ru, zh:
  tools.average_metrics over the gqa config's xgqa evals (run as its docstring says) prints that
  mean under the published row's key; the GQA evals are not in it."""
  names = [n for n in gqa.get_config().evals if n.startswith("xgqa_")]
  row = {"step": 7, "gqa_testdev_balanced/exact": 0.0,
         **{f"{n}/exact": i / 10 for i, n in enumerate(names)}}  # mean 0.35
  (tmp_path / "metrics.jsonl").write_text(json.dumps(row) + "\n")
  doc = " ".join(next(p for p in gqa.__doc__.split("\n\n") if "tools.average_metrics" in p).split())
  command = doc[doc.index("python -m tools.average_metrics") + len("python -m tools."):]
  argv = command.replace("WORKDIR/metrics.jsonl", str(tmp_path / "metrics.jsonl")).split()[1:]
  assert argv[-4:] == ["--metric", "exact", "--expect", "8"], argv
  average_metrics.main(argv)
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  key = "xgqa_test_zs_avg/exact"
  assert key in published.TRANSFERS["gqa"].other_scores
  assert printed == {"step": 7, key: pytest.approx(0.35), "evals": 8}
  # The papers' avg7 (English left out), as the docstring says to run it.
  average_metrics.main(argv[:-1] + ["7", "--exclude", "xgqa_test_zs_en"])
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  english = names.index("xgqa_test_zs_en") / 10
  assert printed[key] == pytest.approx((sum(i / 10 for i in range(8)) - english) / 7)
  assert "`--exclude xgqa_test_zs_en --expect 7`" in doc
  assert published.TRANSFERS["gqa"].other_scores["xgqa_avg7"]["pg2_10b"] == {224: 61.4, 448: 62.6}


def test_gqa_freezes_the_vision_tower_at_448_as_published():
  assert gqa.get_config("res=448").optim.frozen == [r"img/.*"]
  assert "frozen" not in gqa.get_config("res=224").optim
  # PaliGemma 2 trains with the 224 recipe at 448 too (its paper, Sec. 4.1): nothing frozen.
  assert "frozen" not in gqa.get_config("res=448,model=pg2_10b").optim
  assert "frozen" not in gqa.get_config("res=448,freeze_vit=False").optim
  assert gqa.get_config("res=224,freeze_vit").optim.frozen == [r"img/.*"]
  assert gqa.get_config("res=448,freeze_llm=True,freeze_vit=False").optim.frozen == [r"llm/.*"]
  with pytest.raises(cs.ConfigError, match="leave nothing to train"):
    gqa.get_config("res=448,freeze_llm")  # the published frozen ViT plus the LLM


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  """(demo data dir, tokenizer path): every demo set of this family, tiny."""
  out = str(tmp_path_factory.mktemp("vqa_demo"))
  make_demo_data.make_demo_data(out, num_train=64, num_eval=8, size=32, tokenizer=False,
                                sets=sorted(set(CONFIGS.values())))
  return out, tokenizer_fixture.make_tiny_paligemma_tokenizer(os.path.join(out, "tok"))


def _prompt_pattern(template: str) -> re.Pattern:
  parts = re.split(r"\{\w+\}", template)
  return re.compile("^" + ".+".join(re.escape(p) for p in parts) + "\n$", re.S)


@pytest.mark.parametrize("module", list(CONFIGS), ids=_name)
def test_demo_trains_through_the_pp_and_builds_its_evaluators(module, demo):
  out, tok_path = demo
  c = module.get_config(f"demo,demo_data={out},tokenizer={tok_path}")
  cs.validate(c)
  row = published.TRANSFERS[_name(module)]
  fn = pp.get_preprocess_fn(c.input.pp, tokenizer_path=tok_path)
  iterator = input_pipeline.make_train_iterator(
      c.input.data, fn, global_batch_size=c.input.batch_size, seed=0,
      skip_bad_examples=False, num_parallel=1)
  batch = next(iterator)
  assert batch["image"].shape == (16, common.DEMO_RES, common.DEMO_RES, 3)
  assert batch["text"].shape == (16, row.text_len + 1) and iterator.truncated_examples == 0
  tok = Tokenizer.load(tok_path)
  prefix = batch["text"][0][(batch["mask_ar"][0] == 0)][1:]  # after BOS
  assert _prompt_pattern(row.prompt).match(tok.decode(prefix.tolist())), tok.decode(
      prefix.tolist())
  model = build.make_model(build.model_config(c))
  mesh = sharding.make_mesh([("data", -1)])
  evs = evaluators.make_evaluators(c, model=model, mesh=mesh)
  assert [e.name for e in evs] == list(c.evals)
  for ev in evs:
    if c.evals[ev.name].type == "perplexity":
      continue
    eval_batch = next(iter(ev.iterator()))
    keep = re.search(r"keep\((.*)\)$", ev.cfg["pp"]).group(1)
    for key in re.findall(r"'([^']+)'", keep):
      assert key in eval_batch, (ev.name, key, sorted(eval_batch))


def test_aokvqa_mc_eval_pp_targets_the_correct_choice(demo):
  out, tok_path = demo
  c = aokvqa_mc.get_config(f"demo,demo_data={out},tokenizer={tok_path}")
  ev = c.evals.aokvqa_mc_val
  fn = pp.get_preprocess_fn(ev.pp, tokenizer_path=tok_path)
  it = input_pipeline.make_eval_iterator(ev.data, fn, global_batch_size=8)
  batch = next(iter(it))
  with open(os.path.join(out, "raw", "aokvqa", "aokvqa_v1p0_val.json")) as f:
    want = {e["question_id"]: e["choices"][e["correct_choice_idx"]] for e in json.load(f)}
  got = {q.decode(): a.decode() for q, a, m in zip(batch["question_id"], batch["answer"],
                                                    batch["_mask"]) if m}
  assert got and got == {q: want[q] for q in got}
  tok = Tokenizer.load(tok_path)
  prompt = tok.decode(batch["text"][0][batch["mask_input"][0] == 1][1:].tolist())
  assert prompt.startswith("answer en  ") and " choose from: " in prompt and " \t " in prompt


def test_vizwiz_final_split_stores_test_predictions_by_image_name(demo):
  """big_vision's test eval writes {"image": file name, "answer"}, the official results format:
  final_split's storepreds eval reads the test split with each example's file name."""
  out, tok_path = demo
  assert "vizwizvqa_test" not in vizwizvqa.get_config().evals
  c = vizwizvqa.get_config(f"demo,final_split,demo_data={out},tokenizer={tok_path}")
  cs.validate(c)
  ev = c.evals.vizwizvqa_test
  assert (ev.type, ev.format, ev.data.split) == ("storepreds", "vizwiz", "test")
  assert c.evals.vizwizvqa_val.type == "vqa"  # val still scored, as big_vision
  fn = pp.get_preprocess_fn(ev.pp, tokenizer_path=tok_path)
  batch = next(iter(input_pipeline.make_eval_iterator(ev.data, fn, global_batch_size=8)))
  with open(os.path.join(out, "raw", "vizwizvqa", "annotations", "test.json")) as f:
    want = {e["image"] for e in json.load(f)}
  got = {n.decode() for n, m in zip(batch["image/filename"], batch["_mask"]) if m}
  assert got and got <= want


RUN_CONFIG = """
from configs.transfer import vqav2

def get_config(arg=None):
  c = vqav2.get_config(arg)  # its demo model, one layer per tower; the scored eval only
  c.model.llm.num_layers = c.model.img.depth = 1
  c.evals = {"vqav2_minival": {**c.evals.vqav2_minival.to_dict(), "every": "100%"}}
  c.total_steps, c.eval_at_start, c.log_every = 2, False, 1
  c.ckpt.async_save = False
  return c
"""


@pytest.mark.slow
def test_trainer_runs_the_vqav2_demo_and_scores_per_answer_type(demo, tmp_path):
  from trainers import train  # pylint: disable=import-outside-toplevel
  out, tok_path = demo
  (tmp_path / "run_config.py").write_text(RUN_CONFIG)
  workdir = str(tmp_path / "work")
  train.main(["--config", f"{tmp_path / 'run_config.py'}:demo,demo_data={out},tokenizer={tok_path}",
              "--workdir", workdir])
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    final = {k: v for line in f for k, v in json.loads(line).items()}
  for key in ("vqav2/yesno", "vqav2/number", "vqav2/other", "vqav2", "exact"):
    assert f"vqav2_minival/{key}" in final, sorted(final)
  counts = [final[f"vqav2_minival/num/{t}"] for t in ("yesno", "number", "other")]
  assert sum(counts) == 12 and min(counts) >= 1  # validation[-50%:] of 8 images x 3 questions
