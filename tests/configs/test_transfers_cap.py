"""The caption and referring-expression transfer configs: every model and published resolution
builds and validates with its published row (configs/published.py) and big_vision's prompts,
splits, monitors and decoding; each `:demo` reads its demo set through its training pp and builds
its evaluators, whose eval batches carry the fields they score; one short trainer run
(refcoco_seg :demo, the hand-set VQ-VAE of the demo set) scores mIoU end to end."""
import json
import os
import re

import numpy as np
import pytest

from big_paligemma import config as cs
from big_paligemma import sharding
from big_paligemma.data import input_pipeline
from big_paligemma.models import build
from big_paligemma.tokenizer import Tokenizer
from configs import common
from configs import published
from configs.transfer import coco35l
from configs.transfer import cococap
from configs.transfer import nocaps
from configs.transfer import refcoco_det
from configs.transfer import refcoco_seg
from configs.transfer import scicap
from configs.transfer import screen2words
from configs.transfer import textcaps
from configs.transfer import widgetcap
from configs.transfer import xm3600
import evaluators
import pp
from tests import tokenizer_fixture
from tools import make_demo_data

# config -> its demo sets (tools/demo_data).
CONFIGS = {cococap: ("coco", "nocaps"), nocaps: ("coco", "nocaps"),
           coco35l: ("coco35l", "xm3600"), xm3600: ("coco35l", "xm3600"),
           textcaps: ("textcaps",), scicap: ("scicap",), screen2words: ("rico",),
           widgetcap: ("rico",), refcoco_seg: ("refcoco",), refcoco_det: ("refcoco",)}
# The prefixes as big_vision's pp writes them (read from its transfer configs by hand;
# refcoco_det: PaliGemma's detection prompt, big_vision has no such config).
BIG_VISION_PROMPTS = {
    "cococap": "caption en", "nocaps": "caption en", "coco35l": "caption {language}",
    "xm3600": "caption {language}", "textcaps": "caption en", "scicap": "caption en",
    "screen2words": "caption en", "widgetcap": "caption en", "refcoco_seg": "{expression}",
    "refcoco_det": "detect {expression}"}
EVALUATOR = {"refcoco_seg": "refcoco_seg", "refcoco_det": "refcoco_det"}  # else coco_caption


def _name(module) -> str:
  return module.__name__.rsplit(".", 1)[-1]


def _decode_evals(c) -> dict:
  return {n: e for n, e in c.evals.items() if e.type != "perplexity"}


@pytest.mark.parametrize("module", list(CONFIGS), ids=_name)
def test_every_model_and_published_res_matches_the_row(module):
  row = published.TRANSFERS[_name(module)]
  assert row.prompt == BIG_VISION_PROMPTS[row.name]
  for model in published.MODELS:
    for res in sorted(row.recipes):
      c = module.get_config(f"model={model},res={res}")
      cs.validate(c)
      recipe = row.recipe(model, res)
      assert c.model.preset == common.preset_for(res, model)
      assert (c.total_epochs, c.total_examples, c.optim.lr, c.optim.wd, c.input.batch_size) == (
          recipe.epochs, recipe.examples, recipe.lr, recipe.wd, recipe.batch_size)
      assert c.loss.label_smoothing == recipe.label_smoothing
      assert c.model.overrides.llm.get("dropout", 0.0) == recipe.llm_dropout
      assert f"strfmt({row.prompt!r}" in c.input.pp
      assert f"tolen({row.text_len + 1}," in c.input.pp  # big_vision's +1: the model reads text_len
      antialias = row.name == "widgetcap"  # big_vision's resize(res) elsewhere
      assert f"resize({res}, antialias={antialias})" in c.input.pp
      for name, ev in _decode_evals(c).items():
        assert f"strfmt({row.prompt!r}" in ev.pp and ev.max_decode_len == row.text_len, name
        assert f"resize({res}, antialias={antialias})" in ev.pp, name
        assert ev.type == EVALUATOR.get(row.name, "coco_caption"), name
        assert dict(ev.get("sampler", {})) == dict(row.decode), name
  for res in sorted({224, 448, 896} - set(row.recipes)):
    with pytest.raises(cs.ConfigError, match=f"no published recipe at res={res}"):
      module.get_config(f"res={res}")


def test_pg2_rows_take_the_per_size_learning_rates_on_the_224_recipe():
  seg = published.TRANSFERS["refcoco_seg"]
  assert [seg.recipe(m, 448).lr for m in ("pg2_3b", "pg2_10b", "pg2_28b")] == [1e-5, 3e-6, 1e-6]
  assert seg.recipe("pg2_10b", 448).llm_dropout == 0.1  # the 224 recipe at 448 too
  assert seg.recipe("pg1_3b", 448).llm_dropout == 0.0 and seg.recipe("pg2_3b", 896).lr == 1e-5
  c = cococap.get_config("model=pg2_28b,res=448")
  assert (c.optim.lr, c.total_epochs) == (6e-7, 5)
  assert scicap.get_config("model=pg2_10b").optim.lr == 3e-5


def test_big_vision_splits_holdouts_and_monitors():
  pplx = lambda c: {n: e.data.split for n, e in c.evals.items() if e.type == "perplexity"}
  c = cococap.get_config()
  assert c.input.data.split == "train[:98%]+restval"
  assert pplx(c) == {"cococap_minitrain_pplx": "train[:2%]", "cococap_minival_pplx": "train[-2%:]"}
  assert {n: (e.data.name, e.data.split) for n, e in _decode_evals(c).items()} == {
      "cococap_val": ("coco_captions", "val"), "nocaps_val": ("nocaps", "val")}
  assert 'copy(inkey="texts", outkey="captions")' in c.evals.nocaps_val.pp
  f = cococap.get_config("final_split")
  assert f.input.data.split == "train+restval" and not pplx(f)
  assert list(nocaps.get_config().evals) == ["nocaps_val"]
  m = coco35l.get_config()
  assert [s["split"] for s in m.input.data.mixture] == [f"train_{l}" for l in coco35l.LANGUAGES]
  assert {s["weight"] for s in m.input.data.mixture} == {1.0} and len(coco35l.LANGUAGES) == 35
  assert m.total_examples == 5 * 566_435 and m.total_epochs is None
  assert pplx(m) == {"coco35l_minitrain_pplx": "train_en[:2%]",
                     "coco35l_minival_pplx": "dev_en[:5%]"}
  assert m.evals.coco35l_sw.every == "25%" and m.evals.coco35l_de.every == "100%"
  assert m.evals.coco35l_de.data.split == "dev_de" and m.evals.xm3600_quz.data.split == "quz"
  assert len([n for n in m.evals if n.startswith("xm3600_")]) == 36
  assert not any(n.startswith("xm3600_") for n in coco35l.get_config("eval_xm3600=False").evals)
  assert sorted(xm3600.get_config().evals) == sorted(n for n in m.evals if "xm3600" in n)
  t = textcaps.get_config()
  assert t.input.data.split == "train[:98%]" and 'lower(key="texts")' in t.input.pp
  assert "lower" not in t.evals.textcaps_val.pp and t.evals.textcaps_val.data.split == "val"
  s = scicap.get_config()
  assert s.input.data.to_dict() == {"name": "scicap/first_sentence_subfig_no", "split": "train"}
  assert s.evals.scicap_test.metrics == ("cider", "bleu4")
  assert pplx(s) == {"scicap_minitrain_pplx": "train[:5%]", "scicap_val_pplx": "val",
                     "scicap_test_pplx": "test"}
  assert scicap.get_config("final_split").input.data.split == "train+val"
  for module, name in ((screen2words, "screen2_words"), (widgetcap, "widgetcap")):
    c = module.get_config()
    assert (c.input.data.name, c.input.data.split) == (name, "train")
    assert module.get_config("final_split").input.data.split == "train+dev"
    assert sorted(e.data.split for e in _decode_evals(c).values()) == ["dev", "test"]
  w = widgetcap.get_config()
  assert 'draw_bbox(bbox_key="bbox", color=(1.0, -1.0, -1.0))' in w.input.pp
  assert "draw_bbox" in w.evals.widgetcap_test.pp


def test_refcoco_trains_on_combined_and_scores_every_dataset_split():
  for module in (refcoco_seg, refcoco_det):
    c = module.get_config()
    assert c.input.data.to_dict() == {"name": "ref_coco_bv/refcocox_combined", "split": "train"}
    assert {n: (e.data.name.split("/")[1], e.data.split)
            for n, e in _decode_evals(c).items()} == {
        "refcoco_val": ("refcoco_unc", "validation_flat"),
        "refcoco_testA": ("refcoco_unc", "testA_flat"),
        "refcoco_testB": ("refcoco_unc", "testB_flat"),
        "refcocoplus_val": ("refcocoplus_unc", "validation_flat"),
        "refcocoplus_testA": ("refcocoplus_unc", "testA_flat"),
        "refcocoplus_testB": ("refcocoplus_unc", "testB_flat"),
        "refcocog_val": ("refcocog_umd", "validation_flat"),
        "refcocog_test": ("refcocog_umd", "test_flat")}
    assert c.evals.refcoco_val.every == "20%" and c.evals.refcocog_test.every == "100%"
  s = refcoco_seg.get_config("vae=/x/vae-oid.npz")
  assert "mask_seg_codes(vae='/x/vae-oid.npz')" in s.input.pp
  assert (s.evals.refcoco_val.vae_path, s.evals.refcoco_val.mask_key,
          s.evals.refcoco_val.size_key) == ("/x/vae-oid.npz", "objects/mask", "size")
  assert refcoco_det.get_config().evals.refcoco_val.box_key == "objects/bbox"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  """(demo data dir, tokenizer path): every demo set of this family, tiny."""
  out = str(tmp_path_factory.mktemp("cap_demo"))
  sets = sorted({s for v in CONFIGS.values() for s in v})
  make_demo_data.make_demo_data(out, num_train=32, num_eval=8, size=32, tokenizer=False,
                                sets=sets)
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
  if module not in (nocaps, xm3600):  # their training is cococap's / coco35l's
    _check_train_batch(c, row, tok_path)
  # coco35l's 35 languages: a few of its evals stand for the rest (same builder and pp).
  keep = [n for n in c.evals if not re.match(r"(coco35l|xm3600)_(?!(en|de|quz)$)", n)]
  c.evals = {n: c.evals[n] for n in keep}
  model = build.make_model(build.model_config(c))
  mesh = sharding.make_mesh([("data", -1)])
  evs = evaluators.make_evaluators(c, model=model, mesh=mesh)
  assert [e.name for e in evs] == keep
  seen = set()  # one eval batch per (evaluator type, pp): the others differ only in the split
  for ev in evs:
    if c.evals[ev.name].type == "perplexity" or (ev.cfg["type"], ev.cfg["pp"]) in seen:
      continue
    seen.add((ev.cfg["type"], ev.cfg["pp"]))
    eval_batch = next(iter(ev.iterator()))
    keep_keys = re.search(r"keep\((.*)\)$", ev.cfg["pp"]).group(1)
    for key in re.findall(r"'([^']+)'", keep_keys):
      assert key in eval_batch, (ev.name, key, sorted(eval_batch))


def _check_train_batch(c, row, tok_path):
  """A training batch of the demo through the pp: shapes, nothing cut, the published prompt."""
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


def test_demo_targets_read_the_data(demo):
  """The training targets are the picked reference / expression / box, as the files say."""
  out, tok_path = demo
  tok = Tokenizer.load(tok_path)
  target = lambda b, i: tok.decode(b["text"][i][b["mask_loss"][i] == 1][:-1].tolist())
  c = coco35l.get_config(f"demo,demo_data={out},tokenizer={tok_path}")
  c.input.data = c.input.data.mixture[2]  # train_cs
  fn = pp.get_preprocess_fn(c.input.pp, tokenizer_path=tok_path)
  batch = next(input_pipeline.make_train_iterator(c.input.data, fn, global_batch_size=16,
                                                  seed=0, num_parallel=1))
  prompt = tok.decode(batch["text"][0][batch["mask_ar"][0] == 0][1:].tolist())
  assert prompt == "caption cs\n" and target(batch, 0).startswith("cs ")
  d = refcoco_det.get_config(f"demo,demo_data={out},tokenizer={tok_path}")
  fn = pp.get_preprocess_fn(d.input.pp, tokenizer_path=tok_path)
  batch = next(input_pipeline.make_train_iterator(d.input.data, fn, global_batch_size=16,
                                                  seed=0, num_parallel=1))
  for i in range(4):
    prompt = tok.decode(batch["text"][i][batch["mask_ar"][i] == 0][1:].tolist())
    assert prompt.startswith("detect ") and re.fullmatch(
        r"(<loc\d{4}>){4} " + re.escape(prompt[len("detect "):-1]), target(batch, i))


RUN_CONFIG = """
from configs.transfer import refcoco_seg

def get_config(arg=None):
  c = refcoco_seg.get_config(arg)  # its demo model, one layer per tower; one scored eval
  c.model.llm.num_layers = c.model.img.depth = 1
  c.evals = {"refcoco_val": {**c.evals.refcoco_val.to_dict(), "every": "100%",
                             "batch_size": 8}}
  c.total_steps, c.eval_at_start, c.log_every = 2, False, 1
  c.input.batch_size = 8
  c.ckpt.async_save = False
  return c
"""


@pytest.mark.slow
def test_trainer_runs_the_refcoco_seg_demo_and_scores_miou(demo, tmp_path):
  from trainers import train  # pylint: disable=import-outside-toplevel
  out, tok_path = demo
  (tmp_path / "run_config.py").write_text(RUN_CONFIG)
  workdir = str(tmp_path / "work")
  train.main(["--config", f"{tmp_path / 'run_config.py'}:demo,demo_data={out},"
              f"tokenizer={tok_path}", "--workdir", workdir])
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  (scored,) = [r for r in rows if "refcoco_val/miou" in r]
  # num_eval=8: 4 validation images x 2 objects, one expression each.
  assert scored["step"] == 2 and scored["refcoco_val/total"] == 8
  assert 0.0 <= scored["refcoco_val/miou"] <= 1.0
  assert np.isfinite([r["train/loss"] for r in rows if "train/loss" in r]).all()
