"""The counting-and-others transfers (tallyqa + countbenchqa, rsvqa_lr, rsvqa_hr, science_qa, pope,
nlvr2 + marvl): every config builds and validates for every model and published res, its prompt and
recipe equal its row of configs/published.py, its `:demo` reads demo data through its pp and builds
its evaluators, and the nlvr2 demo (two images per example) trains and scores end to end."""
import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from big_paligemma import config as cs
from big_paligemma import sharding
from big_paligemma.data import input_pipeline
from big_paligemma.models import build
from configs import common
from configs import published
from configs.transfer import nlvr2
from configs.transfer import pope
from configs.transfer import rsvqa_hr
from configs.transfer import rsvqa_lr
from configs.transfer import science_qa
from configs.transfer import tallyqa
import evaluators
import pp
from tests import tokenizer_fixture
from tools import make_demo_data
from tools.demo_data import common as demo_common

CONFIGS = {"tallyqa": tallyqa, "rsvqa_lr": rsvqa_lr, "rsvqa_hr": rsvqa_hr,
           "science_qa": science_qa, "pope": pope, "nlvr2": nlvr2}
DEMO_SETS = ("tallyqa", "rsvqa", "science_qa", "pope", "nlvr2")


def _published_res(name):
  row = published.TRANSFERS[name]
  return sorted(row.recipes) or sorted(row.scores["pg1_3b"])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_model_and_published_res_validates(name):
  module = CONFIGS[name]
  for model in published.MODELS:
    for res in _published_res(name):
      c = cs.validate(module.get_config(f"model={model},res={res}"))
      assert c.model.preset == common.preset_for(res, model)
      assert f"resize({res}" in c.input.pp
  bad = 896 if 896 not in _published_res(name) else 336
  with pytest.raises(cs.ConfigError, match=f"res={bad}"):
    module.get_config(f"res={bad}")


class _Hyper:
  """tools.sweep's `hyper` as get_hyper uses it: sweep(key, values) -> one dict per value."""

  @staticmethod
  def sweep(key, values):
    return [{key: v} for v in values]


@pytest.mark.parametrize("name", sorted(set(CONFIGS) - {"pope"}))  # pope trains nothing
def test_sweeps_are_the_published_resolutions(name):
  module = CONFIGS[name]
  assert module.get_hyper(_Hyper) == [{"res": r} for r in _published_res(name)]
  assert module.get_hyper(_Hyper, "demo") == [{"config.optim.lr": lr} for lr in (1e-3, 3e-3)]


def _strfmt(template):
  return f"strfmt({template!r}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_prompt_text_len_and_recipe_equal_the_published_row(name):
  row, module = published.TRANSFERS[name], CONFIGS[name]
  for res in _published_res(name):
    c = module.get_config(f"res={res}")
    decoding = [e for e in c.evals.values() if e.type != "perplexity"]
    for spec in [c.input.pp] + [e.pp for e in c.evals.values()]:
      assert _strfmt(row.prompt) + ', outkey="prefix")' in spec
      # Training-style texts (the perplexity evals' too) hold one token more (big_vision's +1).
      length = row.text_len + ('key="mask_loss"' in spec)
      assert f"tolen({length}," in spec
    assert {e.max_decode_len for e in decoding} == {row.text_len}
    assert all(e.get("sampler", "greedy") == "greedy" for e in decoding) and not row.decode
    if row.suffix:
      assert _strfmt(row.suffix) in c.input.pp
    if row.recipes:
      recipe = row.recipe("pg1_3b", res)
      assert (c.total_epochs, c.optim.lr, c.optim.wd, c.input.batch_size) == (
          recipe.epochs, recipe.lr, recipe.wd, recipe.batch_size)
      assert (c.loss.label_smoothing, c.model.overrides.llm.get("dropout", 0.0)) == (
          recipe.label_smoothing, recipe.llm_dropout)
      assert (c.optim.get("frozen") == [common.TOWERS["vit"]]) == recipe.freeze_vit
      assert (c.optim.optax.b2, c.optim.grad_clip_norm) == (0.999, 1.0)
    if name.startswith("rsvqa"):
      assert {e.to_lower for e in decoding} == {row.to_lower} == {True}
  scores = [row.scores] + list(row.other_scores.values())
  for value in (s for by_model in scores for by_res in by_model.values() for s in by_res.values()):
    assert f"{value:g}" in module.__doc__.replace("\n", " "), (name, value)


# PaliGemma 2, read by hand from the PaliGemma 2 paper (arXiv 2412.03555v1): the learning rate per
# size (3B, 10B, 28B) from Table 14 (the best of its 224 px sweep on the task's validation line,
# TallyQA's simple one; the lower one on a tie) and the scores 3B / 10B / 28B at (224, 448) from
# Table 13 (pope: not in the paper).
PG2_LRS = {"tallyqa": (6e-6, 6e-7, 3e-6), "rsvqa_lr": (3e-6, 1e-5, 6e-6),
           "rsvqa_hr": (1e-5, 6e-6, 6e-7), "science_qa": (6e-6, 1e-6, 1e-6),
           "nlvr2": (6e-6, 1e-6, 3e-6)}
PG2_SCORES = {
    "tallyqa": ((81.8, 85.3), (83.2, 86.2), (83.4, 85.7)),
    "tallyqa_test/acc/complex": ((70.3, 73.6), (73.4, 76.7), (74.2, 76.8)),
    "countbenchqa/acc": ((81.0, 82.0), (84.0, 85.3), (86.4, 87.4)),
    "rsvqa_lr": ((93.0, 92.7), (92.8, 93.1), (93.5, 93.7)),
    "rsvqa_hr": ((92.7, 92.8), (92.6, 92.8), (92.7, 92.8)),
    "rsvqa_hr_test_2/acc_avg": ((90.9, 90.7), (90.8, 90.7), (90.9, 90.8)),
    "science_qa": ((96.1, 96.2), (98.2, 98.5), (98.2, 98.6)),
    "nlvr2": ((91.4, 91.6), (93.9, 93.7), (94.2, 94.1)),
    "marvl_mean/acc": ((83.5, 82.7), (89.5, 89.1), (90.6, 89.7))}


@pytest.mark.parametrize("name", sorted(PG2_LRS))
def test_paligemma_2_takes_the_224_recipe_with_table_14_lr_and_has_table_13_scores(name):
  row, module = published.TRANSFERS[name], CONFIGS[name]
  base = row.recipes[224]
  for model, lr in zip(published.MODELS[1:], PG2_LRS[name]):
    for res in (224, 448):
      c = module.get_config(f"model={model},res={res}")
      assert (c.optim.lr, c.total_epochs, c.optim.wd, c.input.batch_size) == (
          lr, base.epochs, base.wd, base.batch_size), (model, res)
      assert (c.optim.get("frozen") == [common.TOWERS["vit"]]) == base.freeze_vit
  for key, by_model in [(name, row.scores), *row.other_scores.items()]:
    if key in PG2_SCORES:
      for model, scores in zip(published.MODELS[1:], PG2_SCORES[key]):
        assert by_model[model] == dict(zip((224, 448), scores)), (key, model)
  assert "pg2_3b" not in published.TRANSFERS["pope"].scores


def test_splits_monitors_and_evaluators_as_big_vision():
  t = tallyqa.get_config()
  assert t.input.data.split == "train"  # big_vision holds nothing out of TallyQA
  assert {n: e.data.split for n, e in t.evals.items() if e.type == "perplexity"} == {
      "tallyqa_minitrain_pplx": "train[:5%]", "tallyqa_test_pplx": "test"}
  assert t.evals.tallyqa_test.simple_key == "issimple"
  assert "antialias=True" in t.evals.tallyqa_test.pp
  assert (t.evals.countbenchqa.data.name, t.evals.countbenchqa.data.split) == (
      "countbenchqa", "huggingface")
  assert t.evals.countbenchqa.answer_key == "number"
  for module, name, source in ((rsvqa_lr, "rsvqa_lr", "rsvqa/lr_nonum"),
                               (rsvqa_hr, "rsvqa_hr", "rsvqa/hr_nonum")):
    c, final = module.get_config(), module.get_config("final_split")
    assert (c.input.data.name, c.input.data.split, final.input.data.split) == (
        source, "train", "train+val")
    assert 'lower(key="answers")' in c.input.pp
    assert "choice_no_replacement(inkey='answers'" in c.input.pp  # big_vision's pick
    assert "antialias=False" in c.evals[f"{name}_test"].pp  # big_vision's eval resize
    assert c.evals[f"{name}_minival_pplx"].data.split == "val"
    assert c.evals[f"{name}_minitrain"].data.split == "train[:1280]"
  assert rsvqa_hr.get_config().evals.rsvqa_hr_test_2.data.split == "test_2"
  s = science_qa.get_config()
  assert s.optim.frozen == [common.TOWERS["vit"]] and "shuffle_choices" in s.input.pp
  assert "frozen" not in science_qa.get_config("freeze_vit=False").optim
  assert "shuffle_choices" not in s.evals.science_qa_test.pp  # eval keeps the dataset's order
  assert science_qa.get_config("final_split").input.data.split == "train+val"
  p = pope.get_config()
  assert (p.total_steps, p.optim.lr, p.eval_at_start) == (0, 0.0, True)
  assert [m["name"] for m in p.input.data.mixture] == [
      "pope/random", "pope/popular", "pope/adversarial"]
  assert {e.type for e in p.evals.values()} == {"pope"}
  n = nlvr2.get_config()
  assert "stack_images(['image_left', 'image_right'])" in n.input.pp and "'images'" in n.input.pp
  assert n.evals.nlvr2_test.id_key == "example_id" and "id_key" not in n.evals.marvl_test_zh
  assert n.evals.marvl_test_sw.data.split == "test_sw"
  assert nlvr2.get_config("final_split").input.data.split == "train+dev"


# ------------------------------------------------------------------------------ demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  """(demo data dir, tokenizer path): the family's demo sets, tiny."""
  out = str(tmp_path_factory.mktemp("demo"))
  make_demo_data.make_demo_data(out, num_train=160, num_eval=8, size=64, tokenizer=False,
                                sets=DEMO_SETS)
  tok = tokenizer_fixture.make_tiny_paligemma_tokenizer(os.path.join(out, "tok"))
  return out, tok


def _demo_config(name, demo):
  out, tok = demo
  return cs.validate(CONFIGS[name].get_config(f"demo,demo_data={out},tokenizer={tok}"))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_demo_batch_through_the_pp_and_evaluators_built(name, demo):
  c = _demo_config(name, demo)
  fn = pp.get_preprocess_fn(c.input.pp, tokenizer_path=c.tokenizer)
  batch = next(iter(input_pipeline.make_train_iterator(
      c.input.data, fn, global_batch_size=4, seed=0, num_parallel=1)))
  image = batch["images"] if name == "nlvr2" else batch["image"]
  res = common.DEMO_RES
  assert image.shape == ((4, 2, res, res, 3) if name == "nlvr2" else (4, res, res, 3))
  assert batch["text"].shape == (4, published.TRANSFERS[name].text_len + 1)
  assert (batch["mask_loss"].sum(axis=1) >= 2).all()  # a target and its EOS in every example
  model = build.make_model(build.model_config(c))
  evs = evaluators.make_evaluators(c, model=model, mesh=sharding.make_mesh([("data", -1)]))
  assert [e.name for e in evs] == list(c.evals)
  decoding = next(e for e in evs if c.evals[e.name].type != "perplexity")
  host = next(iter(decoding.iterator()))
  kept = set(pp.parse_spec(decoding.cfg["pp"])[-1].args)
  assert kept <= set(host) and "_mask" in host


def _examples(builder, split):
  """Every example of `split`, read by index (the demo builds ArrayRecord files)."""
  images = {k: tfds.decode.SkipDecoding() for k, f in builder.info.features.items()
            if isinstance(f, tfds.features.Image)}
  source = builder.as_data_source(split, decoders=images)
  return [source[i] for i in range(len(source))]


def _has(encoded, rgb, tol=40):
  pixels = tfds.core.lazy_imports.PIL_Image.open(__import__("io").BytesIO(encoded))
  pixels = np.asarray(pixels.convert("RGB")).reshape(-1, 3).astype(int)
  return bool((np.abs(pixels - np.array(rgb)).max(axis=1) < tol).any())


def test_demo_answers_are_in_the_pictures(demo):
  """Learnable: POPE's "yes" objects are drawn and its "no" colours often absent; RSVQA's road
  answer follows the grey band; CountBenchQA counts only circles."""
  data_dir = os.path.join(demo[0], "tfds")
  from big_paligemma.data import datasets  # pylint: disable=import-outside-toplevel
  for ex in _examples(datasets.BUILDERS["pope"](config="random", data_dir=data_dir), "test"):
    colour = ex["thing"].decode().split()[0]
    if ex["answer"] == b"yes":
      assert _has(ex["image"], demo_common.COLOURS[colour])
  rs = _examples(datasets.BUILDERS["rsvqa"](config="lr_nonum", data_dir=data_dir), "train")
  roads = [(ex["answers"][0], _has(ex["image"], (128, 128, 128), tol=3)) for ex in rs
           if ex["question"] == b"Is a road present?"]
  assert roads and all((a == b"yes") == seen for a, seen in roads)
  cb = _examples(datasets.BUILDERS["countbenchqa"](data_dir=data_dir), "huggingface")
  assert cb and all(2 <= ex["number"] <= 6 for ex in cb)


RUN_CONFIG = '''
from configs.transfer import nlvr2

def get_config(arg=None):
  c = nlvr2.get_config(arg)
  c.total_steps = 3
  c.input.update(batch_size=8, num_parallel=1)
  c.log_every = 1
  c.eval_at_start = False
  c.evals = {k: dict(v, batch_size=8, every="100%") for k, v in c.evals.items()
             if k in ("nlvr2_dev", "marvl_test_tr")}
  return c
'''


@pytest.mark.slow  # ~1 min alone; ~3 min on the loaded 2-core machine (compiles dominate)
def test_nlvr2_demo_trains_and_scores_two_images(demo, tmp_path):
  """trainers.train runs the nlvr2 demo (images [B,2,h,w,3] through the model, decoding and the
  evaluators' batch split) for 3 steps and scores NLVR2 dev and one MaRVL language."""
  from trainers import train  # pylint: disable=import-outside-toplevel
  out, tok = demo
  (tmp_path / "run_config.py").write_text(RUN_CONFIG)
  spec = f"{tmp_path / 'run_config.py'}:demo,demo_data={out},tokenizer={tok}"
  train.main(["--config", spec, "--workdir", str(tmp_path / "work"),
              "--config.ckpt.async_save=False"])
  lines = (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()
  rows = [json.loads(line) for line in lines]
  losses = [r["loss"] for r in rows if "loss" in r]
  assert len(losses) == 3 and all(np.isfinite(losses))
  scores = {k: v for r in rows if "nlvr2_dev/acc" in r or "marvl_test_tr/acc" in r
            for k, v in r.items()}
  assert scores["step"] == 3 and scores["nlvr2_dev/num"] == scores["marvl_test_tr/num"] == 8
  for key in ("nlvr2_dev/acc", "nlvr2_dev/consistency", "marvl_test_tr/acc"):
    assert 0.0 <= scores[key] <= 1.0


POPE_CONFIG = '''
from configs.transfer import pope

def get_config(arg=None):
  c = pope.get_config(arg)
  real = pope.get_config()  # the published run: 0 steps at lr 0, one eval at the start
  c.total_steps, c.optim, c.eval_at_start = real.total_steps, real.optim, real.eval_at_start
  c.input.update(batch_size=8, num_parallel=1)
  c.evals = {"pope_random": dict(c.evals.pope_random, batch_size=8)}
  return c
'''


@pytest.mark.slow  # ~1.5 min on the loaded 2-core machine
def test_pope_is_evaluated_once_without_training(demo, tmp_path):
  from trainers import train  # pylint: disable=import-outside-toplevel
  out, tok = demo
  (tmp_path / "pope_config.py").write_text(POPE_CONFIG)
  spec = f"{tmp_path / 'pope_config.py'}:demo,demo_data={out},tokenizer={tok}"
  train.main(["--config", spec, "--workdir", str(tmp_path / "work"),
              "--config.ckpt.async_save=False"])
  rows = [json.loads(line)
          for line in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
  assert not [r for r in rows if "loss" in r]
  (scores,) = [r for r in rows if "pope_random/acc" in r]
  assert scores["step"] == 0 and scores["pope_random/num"] == 8
  for key in ("acc", "precision", "recall", "f1", "yes_ratio"):
    assert 0.0 <= scores[f"pope_random/{key}"] <= 1.0
