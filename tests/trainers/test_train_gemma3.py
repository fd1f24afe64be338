"""The trainer on a tiny Gemma 3 multimodal: loss falls, checkpoint restores, resume, decoding
evaluator, model_init from an HF Gemma3ForConditionalGeneration directory and its errors."""
import dataclasses
import json
import os
import textwrap

import jax
import numpy as np
import pytest

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf_save
from configs import common
from tests import data_fixtures
from tools import make_tokenizer
from big_paligemma import config as config_lib
from big_paligemma.models import build
from big_paligemma import loading
from trainers import train

VOCAB = 1666  # make_gemma3_tokenizer's pieces; the image token is the next id
TINY_CONFIG = textwrap.dedent('''
    from configs import common
    from pp import builder_gemma3
    from big_paligemma import config as config_lib

    def get_config(arg=None):
      args = config_lib.parse_arg(arg, data="", tokenizer="", steps=2, evals=True)
      c = common.base_config()
      c.model = common.gemma3_preset_model(
          "gemma3_4b", 16, llm=dict(vocab_size=1666, num_layers=2, num_heads=2, num_kv_heads=1,
                                    width=32, mlp_dim=64, head_dim=16,
                                    layer_pattern=("local", "global"), sliding_window=8),
          img=dict(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8),
          tokens_per_image=4, image_token_id=1666)
      c.tokenizer = args.tokenizer
      c.input.data = {"jsonl": args.data}
      prefix = builder_gemma3.BOI + "{prefix}"
      c.input.pp = builder_gemma3.gemma3_train_pp(16, 24, prefix, "suffix", 4, 1666)
      c.input.batch_size = 8
      c.input.num_parallel = 1
      c.total_steps = args.steps
      c.log_every = 1
      c.optim.lr = 3e-3
      c.optim.wd = 0.0
      c.optim.schedule.warmup = "0 steps"
      c.ckpt.every = 10
      if args.evals:
        c.evals = {"val": dict(type="vqa", data={"jsonl": args.data}, answers_key="suffix",
                               metrics=("exact",), batch_size=8, every="100%", max_decode_len=4,
                               pp=builder_gemma3.gemma3_eval_pp(16, 24, prefix, 4, 1666,
                                                            keep_keys=("suffix",)))}
      return c
''')


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  root = tmp_path_factory.mktemp("g3run")
  data = data_fixtures.write_jsonl(str(root / "data"), n=8)
  tok = str(root / "gemma3.model")
  make_tokenizer.make_gemma3_tokenizer(tok)
  path = root / "g3_config.py"
  path.write_text(TINY_CONFIG)
  return f"{path}:data={data},tokenizer={tok}"


def _rows(workdir) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.mark.slow
def test_loss_falls_checkpoint_restores_resumes_and_evaluates(spec, tmp_path):
  state = train.main(["--config", spec + ",steps=20", "--workdir", str(tmp_path)])
  rows = _rows(tmp_path)
  losses = [r["loss"] for r in rows if "loss" in r]
  assert len(losses) == 20 and np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
  assert [r["step"] for r in rows if "val/exact" in r] == [20]  # decoded through decode.generate
  config = config_lib.load_config(spec)
  model_cfg = build.model_config(config)
  restored = ckpt_lib.restore_params(str(tmp_path), build.abstract_params(model_cfg))
  for path, value in tree_lib.flatten(jax.device_get(state.params)).items():
    np.testing.assert_array_equal(np.asarray(tree_lib.flatten(restored)[path]), value, path)
  state = train.main(["--config", spec + ",steps=22,evals=False", "--workdir", str(tmp_path)])
  assert int(state.step) == 22 and sorted(r["step"] for r in _rows(tmp_path) if "loss" in r)[-2:] \
      == [21, 22]


def _tiny_cfg(**fields):
  c = common.base_config()
  c.model = common.gemma3_preset_model(
      "gemma3_4b", 16, llm=dict(vocab_size=64, num_layers=1, num_heads=2, num_kv_heads=1, width=16,
                                mlp_dim=32, head_dim=8),
      img=dict(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8),
      tokens_per_image=4, image_token_id=64, **fields)
  return build.model_config(c)


def test_model_init_from_hf_gemma3_dir_and_wrong_kinds(tmp_path):
  model_cfg = _tiny_cfg()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  shardings = jax.tree.map(lambda _: device, build.abstract_params(model_cfg))
  params = build.init_params(model_cfg, jax.random.key(1), shardings)
  path = hf_save.save_hf(str(tmp_path / "hf"), "gemma3", model_cfg, jax.device_get(params))

  loaded = loading.load_params(path, model_cfg, shardings)
  want = tree_lib.flatten(jax.device_get(params))
  assert set(tree_lib.flatten(loaded)) == set(want) and any(p.startswith("mm/") for p in want)
  for p, value in tree_lib.flatten(loaded).items():
    np.testing.assert_array_equal(np.asarray(value), want[p], p)

  with pytest.raises(ValueError, match="image_token_id=64 but config.model has 63"):
    loading.load_params(path, dataclasses.replace(model_cfg, image_token_id=63), shardings)
  c = common.base_config()
  c.model = common.demo_model()
  pali = build.model_config(c)
  with pytest.raises(ValueError, match=r"Gemma3ForConditionalGeneration.*PaliGemmaConfig.*"
                                       r"PaliGemmaForConditionalGeneration"):
    loading.load_params(path, pali, None)
  with pytest.raises(ValueError, match="big_vision .npz files hold PaliGemma"):
    loading.load_params(str(tmp_path / "x.npz"), model_cfg, shardings)


def test_text_only_and_unknown_models_are_refused():
  c = common.base_config()
  c.model = dict(preset="gemma3_4b_text", overrides={}, img=None, llm=None)
  with pytest.raises(ValueError, match="text-only GemmaConfig.*gemma3_4b"):
    build.model_config(c)
  with pytest.raises(config_lib.ConfigError, match="not a Gemma 3 multimodal preset"):
    common.gemma3_preset_model("pali_gemma_3b_224", 224)
