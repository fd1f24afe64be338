"""Config validation, get_config argument parsing, durations and the published transfer settings."""
import pytest

from big_paligemma import config as cs
from big_paligemma import registry
from configs.transfer import chartqa
from configs.transfer import cococap
from configs.transfer import docvqa
import evaluators  # noqa: F401  (registers the evaluator types)


def test_parse_arg_kinds_and_bare_words():
  args = cs.parse_arg("res=448,final_split=True,demo,name=x", res=896, final_split=False,
                      demo=False, name="")
  assert (args.res, args.final_split, args.demo, args.name) == (448, True, True, "x")
  with pytest.raises(cs.ConfigError, match=r"Unknown config argument 'rez'; allowed: .*'res'"):
    cs.parse_arg("rez=448", res=896)
  with pytest.raises(cs.ConfigError, match=r"res='big' should be a int"):
    cs.parse_arg("res=big", res=896)


@pytest.mark.parametrize("value,want", [(7, 7), ("7 steps", 7), ("64 examples", 2),
                                        ("65 examples", 3), ("2 epochs", 7), ("0.5 epochs", 2),
                                        ("5%", 5), ("12.5%", 13)])
def test_durations_in_steps(value, want):
  # batch 32, 100 steps in all, an epoch of 100 examples (= 3.125 steps).
  assert cs.parse_duration(value, total_steps=100, batch_size=32, epoch_examples=100) == want


def test_bad_duration_names_the_key():
  with pytest.raises(cs.ConfigError, match=r"config.log_every='ten' is not a duration"):
    cs.parse_duration("ten", total_steps=1, batch_size=1, epoch_examples=1, key="log_every")


def test_unknown_and_wrong_kind_keys_name_the_key_and_allowed():
  c = docvqa.get_config("res=224")
  c.optim.unlikely = 1
  with pytest.raises(cs.ConfigError, match=r"Unknown key\(s\) \['unlikely'\] in config.optim; "
                     r"allowed: .*'grad_clip_norm'"):
    cs.validate(c)
  c = docvqa.get_config("res=224")
  with pytest.raises(cs.ConfigError, match=r"config.loss.normalisation='mean'; allowed"):
    cs.apply_override(c, "loss.normalisation", "mean")
  with pytest.raises(cs.ConfigError, match=r"unknown key 'lrate' in config.optim"):
    cs.apply_override(c, "optim.lrate", "1e-4")
  with pytest.raises(cs.ConfigError, match=r"config.input.batch_size='many' has the wrong kind"):
    cs.apply_override(c, "input.batch_size", "many")
  cs.apply_override(c, "optim.lr", "2e-5")
  assert c.optim.lr == 2e-5


def test_removed_shuffle_buffer_is_an_error_naming_the_removal(tmp_path):
  c = docvqa.get_config("res=224")
  assert "shuffle_buffer" not in c.input
  c.input.shuffle_buffer = 10_000  # what configs before grain set
  with pytest.raises(cs.ConfigError, match=r"config.input.shuffle_buffer was removed: .*shuffles "
                     r"each epoch whole.*delete the line"):
    cs.validate(c)
  path = tmp_path / "old.py"
  path.write_text("from configs.transfer import docvqa\ndef get_config(arg=None):\n"
                  "  c = docvqa.get_config(arg)\n  c.input.shuffle_buffer = 256\n  return c\n")
  with pytest.raises(cs.ConfigError, match=r"config.input.shuffle_buffer was removed"):
    cs.load_config(str(path))
  with pytest.raises(cs.ConfigError, match=r"config.input.shuffle_buffer was removed"):
    cs.apply_override(docvqa.get_config("res=224"), "input.shuffle_buffer", "16")


def test_eval_types_are_the_registered_evaluators():
  assert cs.eval_types() == registry.names("evaluator")
  assert {"anls", "vqav2", "refcoco_seg", "storepreds"} <= set(cs.eval_types())
  with pytest.raises(cs.ConfigError, match=r"config.evals.v.type='vqa2'; allowed: .*'vqav2'"):
    cs._check_eval("v", {"type": "vqa2"})  # pylint: disable=protected-access
  registry.register("evaluator.test_only_kind")(lambda *a, **k: None)
  cs._check_eval("v", {"type": "test_only_kind"})  # pylint: disable=protected-access


def test_load_config_spec_overrides_and_errors(tmp_path):
  path = tmp_path / "my.cfg.py"
  path.write_text("from configs.transfer import docvqa\n"
                  "def get_config(arg=None):\n  return docvqa.get_config(arg)\n")
  config = cs.load_config(f"{path}:res=448", [("optim.lr", "3e-5")])
  assert (config.model.preset, config.optim.lr) == ("pali_gemma_3b_448", 3e-5)
  assert cs.split_spec("a/b.py:x=1,y=a:b") == ("a/b.py", "x=1,y=a:b")
  assert cs.split_spec("a/b.py") == ("a/b.py", None)
  with pytest.raises(FileNotFoundError, match=r"'nope.py' does not exist"):
    cs.load_config("nope.py:res=448")
  with pytest.raises(cs.ConfigError, match=r"unknown key 'lrate' in config.optim"):
    cs.load_config(str(path), [("optim.lrate", "1")])
  assert cs.parse_overrides(["--config.optim.lr=1e-4", "--config.seed=3"]) == [
      ("optim.lr", "1e-4"), ("seed", "3")]
  with pytest.raises(cs.ConfigError, match=r"unrecognised argument '--lr=1'"):
    cs.parse_overrides(["--lr=1"])


def test_keep_last_below_one_is_an_error_naming_the_value(tmp_path):
  path = tmp_path / "my.cfg.py"
  path.write_text("from configs.transfer import docvqa\n"
                  "def get_config(arg=None):\n  return docvqa.get_config(arg)\n")
  for value in ("0", "-1"):
    with pytest.raises(cs.ConfigError, match=rf"config.ckpt.keep_last={value} must be >= 1"):
      cs.load_config(str(path), [("ckpt.keep_last", value)])
  assert cs.load_config(str(path), [("ckpt.keep_last", "1")]).ckpt.keep_last == 1


def test_exactly_one_total():
  c = docvqa.get_config()
  c.total_steps = 10
  with pytest.raises(cs.ConfigError, match=r"exactly one of config.total_steps"):
    cs.validate(c)


def test_model_choice_and_freezing():
  c = docvqa.get_config("res=448,model=pg2_10b")
  assert c.model.preset == "pali_gemma2_pt_10b_448"
  assert (c.model.overrides.final_logit_softcap, c.model.overrides.all_global) == (None, True)
  assert docvqa.get_config("res=224").model.preset == "pali_gemma_3b_224"
  with pytest.raises(cs.ConfigError, match=r"model='pg3_3b'; allowed: \['pg1_3b', 'pg2_10b'"):
    docvqa.get_config("model=pg3_3b")
  with pytest.raises(cs.ConfigError, match=r"res=336; allowed: \[224, 448, 896\]"):
    docvqa.get_config("res=336")
  assert docvqa.get_config("freeze_vit").optim.frozen == [r"img/.*"]
  assert docvqa.get_config("freeze_llm").optim.frozen == [r"llm/.*"]
  with pytest.raises(cs.ConfigError, match=r"leave nothing to train"):
    docvqa.get_config("freeze_vit,freeze_llm")
  with pytest.raises(cs.ConfigError, match=r"chartqa has no published recipe at res=896; "
                     r"published: \[224, 448\]"):
    chartqa.get_config("res=896")


def test_published_settings():
  d = docvqa.get_config()
  assert d.model.preset == "pali_gemma_3b_896" and d.total_epochs == 10
  # big_vision prompts DocVQA with the bare question (not "answer en ...").
  assert d.input.batch_size == 256 and "strfmt('{question}'" in d.input.pp
  assert "answer en" not in d.input.pp and d.evals.docvqa_validation.to_lower
  assert d.input.data.split == "train[:-5%]"
  assert {n: e.data.split for n, e in d.evals.items() if e.type == "perplexity"} == {
      "docvqa_minitrain_pplx": "train[:5%]", "docvqa_minival_pplx": "train[-5%:]"}
  assert "tolen(33" in d.input.pp and "choice(" in d.input.pp  # text_len 32 + 1
  assert (d.optim.optax_name, d.optim.optax.b2, d.optim.lr, d.optim.wd, d.optim.grad_clip_norm) \
      == ("adam", 0.999, 1e-5, 1e-6, 1.0)
  assert d.optim.schedule.to_dict() == {"decay_type": "cosine", "warmup": "5%"}
  assert docvqa.get_config("res=448").model.preset == "pali_gemma_3b_448"
  # final_split: train on train+validation, write the test server's RRC file with every key the
  # storepreds evaluator requires.
  from evaluators import storepreds  # pylint: disable=import-outside-toplevel
  f = docvqa.get_config("final_split")
  (name, ev), = f.evals.items()
  assert name == "docvqa_test" and ev.type == "storepreds" and ev.format in storepreds.WRITERS
  required = [k for k, v in storepreds.StorePredsEvaluator.DEFAULTS.items()
              if v is storepreds.common.REQUIRED]
  assert all(k in ev for k in required), (required, sorted(ev))
  c = chartqa.get_config()
  assert c.total_epochs == 30 and c.loss.label_smoothing == 0.2 and "tolen(49" in c.input.pp
  assert c.model.overrides.llm.dropout == 0.1 and len(c.input.data.mixture) == 2
  k = cococap.get_config()
  assert k.model.preset == "pali_gemma_3b_224" and k.total_epochs == 5
  assert "caption en" in k.input.pp and k.evals.cococap_val.sampler.beam_size == 2
  for module in (docvqa, chartqa, cococap):
    for arg in ("", "demo", "res=448,final_split"):
      cs.validate(module.get_config(arg))
    demo = module.get_config("demo")
    assert demo.model.img.image_size <= 64 and demo.model.llm.width <= 64


class _Hyper:
  """The axis algebra's `sweep`, enough for the published sweeps (tools.sweep.Hyper is whole)."""

  @staticmethod
  def sweep(key, values):
    return [{key: v} for v in values]


def test_every_published_transfer_sweeps_its_published_resolutions():
  """Each transfer config with a published row defines get_hyper (tools.sweep): the published
  resolutions, each trained with its recipe; its demo sweeps two learning rates. pope trains
  nothing (evaluation only)."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  import pathlib  # pylint: disable=import-outside-toplevel
  from configs import published  # pylint: disable=import-outside-toplevel
  seen = []
  for path in sorted(pathlib.Path("configs/transfer").glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"_cfg_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    row = getattr(module, "PUBLISHED", None)
    if row is None or path.stem == "pope":
      continue
    assert hasattr(module, "get_hyper"), f"{path} has a published row but no get_hyper"
    assert module.get_hyper(_Hyper(), None) == [{"res": r} for r in sorted(row.recipes)], path
    assert module.get_hyper(_Hyper(), "demo") == [{"config.optim.lr": 1e-3},
                                                  {"config.optim.lr": 3e-3}], path
    assert row is published.TRANSFERS[row.name]
    seen.append(path.stem)
  assert {"docvqa", "chartqa", "cococap", "vqav2", "tallyqa", "nlvr2"} <= set(seen)
