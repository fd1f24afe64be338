"""tools.convert on a tiny PaliGemma 2 (tests/interop/test_hf_save.py's): HF dir (written by
transformers) -> .npz -> HF dir with identical params and logits in transformers; our run's
checkpoints and LoRA export with a trainer config; --dtype; the refusal to overwrite; the errors."""
import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import transformers

from big_paligemma import checkpoint
from big_paligemma import tree as tree_lib
from big_paligemma.interop import big_vision
from big_paligemma.interop import hf
from big_paligemma.interop import hf_save
from big_paligemma.models import build
from big_paligemma import config as config_lib
from tests.interop import test_big_vision_npz as npz_tests
from tests.interop import test_hf_save as hf_save_tests
from tools import convert
from trainers import state as state_lib
from trainers import train

_CFG = hf_save_tests._PG[2]  # Gemma 2 decoder: soft-caps, a window, query_scale, 2 kv heads.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CONFIG = textwrap.dedent("""
    from configs import common

    def get_config(arg=None):
      c = common.base_config()
      c.model = dict(preset=None, overrides={{}}, img={img}, llm={llm})
      c.total_steps = 1
      return c
""")


def _fields(cfg) -> dict:
  """The dataclass fields of `cfg` that differ from their defaults (all plain values here)."""
  return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
          if getattr(cfg, f.name) != f.default}


@pytest.fixture(scope="module")
def config_spec(tmp_path_factory) -> str:
  """A trainer config file whose `model` is _CFG in explicit img/llm fields."""
  path = tmp_path_factory.mktemp("config") / "tiny.py"
  path.write_text(_CONFIG.format(img=_fields(_CFG.img), llm=_fields(_CFG.llm)))
  assert build.model_config(config_lib.load_config(str(path))) == _CFG
  return str(path)


@pytest.fixture(scope="module")
def hf_src(tmp_path_factory) -> str:
  """A random PaliGemma with _CFG's architecture, written by transformers' save_pretrained."""
  config = transformers.PaliGemmaConfig.from_dict(hf_save.paligemma_config_to_hf(_CFG))
  torch.manual_seed(0)
  model = transformers.PaliGemmaForConditionalGeneration(config).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.normal_(0.0, 0.3 if "norm" in name else 0.15)
  path = tmp_path_factory.mktemp("hf") / "pg"
  model.save_pretrained(str(path))
  return str(path)


@pytest.fixture(scope="module")
def siglip_src(tmp_path_factory) -> str:
  """An HF SiglipVisionModel directory: a kind that neither destination format holds."""
  config = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32,
                                           num_hidden_layers=1, num_attention_heads=2,
                                           image_size=16, patch_size=8, vision_use_head=False)
  path = tmp_path_factory.mktemp("siglip") / "vit"
  transformers.SiglipVisionModel(config).save_pretrained(str(path))
  return str(path)


def _params(seed: int) -> dict:
  """Random numpy params of _CFG (a nested tree)."""
  return tree_lib.unflatten(npz_tests._random_params(_CFG, seed=seed))


def _hf_logits(path: str) -> np.ndarray:
  """transformers' text logits [B,T,V] of the checkpoint at `path` on test_hf_save's batch."""
  _, theirs = hf_save_tests._pg_batch()
  model = hf_save_tests._hf_model(transformers.PaliGemmaForConditionalGeneration, path)
  with torch.no_grad():
    return model(**theirs).logits[:, hf_save_tests._P:].float().numpy()


def _fails(argv, capsys) -> str:
  """Runs the tool expecting a user error; returns its message (stderr)."""
  with pytest.raises(SystemExit) as e:
    convert.main(argv)
  assert e.value.code == 2
  return capsys.readouterr().err


def test_hf_to_npz_to_hf_keeps_params_and_logits(hf_src, config_spec, tmp_path, capsys):
  npz, back = str(tmp_path / "pg.npz"), str(tmp_path / "back")
  first = convert.main(["--src", hf_src, "--dst", npz])
  second = convert.main(["--src", npz, "--dst", back, "--config", config_spec])

  out = capsys.readouterr().out.splitlines()
  count = build.num_params(_CFG)
  assert out == [f"converted paligemma (PaliGemmaConfig, {count:,} params, float32) -> npz {npz}",
                 f"converted paligemma (PaliGemmaConfig, {count:,} params, float32) -> hf {back}"]
  assert first["num_params"] == second["num_params"] == count
  _, cfg, want = hf.load_hf(hf_src)
  kind, cfg_back, got = hf.load_hf(back)
  assert kind == "paligemma" and cfg_back == cfg == _CFG
  hf_save_tests._assert_same_params(got, want)
  hf_save_tests._assert_same_params(big_vision.load_npz(npz, _CFG), want)
  valid = hf_save_tests._pg_batch()[0]["mask_input"].astype(bool)
  original, converted = _hf_logits(hf_src), _hf_logits(back)
  assert np.abs(original).max() > 1.0  # not a degenerate model
  np.testing.assert_allclose(converted[valid], original[valid], atol=1e-4, rtol=0)


def test_hf_to_hf_in_bfloat16_keeps_the_image_token(tmp_path):
  params = _params(seed=1)
  src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
  hf_save.save_hf(src, "paligemma", _CFG, params, image_token_index=90)

  result = convert.main(["--src", src, "--dst", dst, "--dtype", "bfloat16"])

  assert result["dtypes"] == ["bfloat16"]
  config = json.loads((tmp_path / "dst" / "config.json").read_text())
  assert config["image_token_index"] == 90 and config["dtype"] == "bfloat16"
  _, _, got = hf.load_hf(dst, dtype="bfloat16")
  hf_save_tests._assert_same_params(got, jax.tree.map(lambda x: x.astype(jnp.bfloat16), params))


def _train_state(params, step: int) -> state_lib.TrainState:
  """A trainer state as trainers.train saves it (Adam state, rng key data, no LoRA)."""
  return state_lib.TrainState(step=jnp.int32(step), params=params,
                              opt_state=optax.adam(1e-3).init(params),
                              rng=jax.random.key_data(jax.random.key(step)))


def test_run_checkpoints_and_lora_export_convert_with_the_config(config_spec, tmp_path):
  work = tmp_path / "work"
  by_step = {3: _params(seed=3), 5: _params(seed=5)}
  ckpt = checkpoint.Checkpointer(str(work / "ckpt"), async_save=False)
  for step, params in by_step.items():
    ckpt.save(step, _train_state(params, step), metadata={"step": step})
  ckpt.close()
  train.export_merged(str(work / "merged"), _train_state(by_step[5], 5), alpha=None)
  spec = ["--config", config_spec]

  latest = convert.main(["--src", str(work), "--dst", str(tmp_path / "latest")] + spec)
  convert.main(["--src", str(work), "--dst", str(tmp_path / "step3"), "--step", "3"] + spec)
  merged = str(tmp_path / "merged.npz")
  convert.main(["--src", str(work / "merged"), "--dst", merged] + spec)

  assert latest["kind"] == "paligemma" and latest["format"] == "hf"
  hf_save_tests._assert_same_params(hf.load_hf(str(tmp_path / "latest"))[2], by_step[5])
  hf_save_tests._assert_same_params(hf.load_hf(str(tmp_path / "step3"))[2], by_step[3])
  hf_save_tests._assert_same_params(big_vision.load_npz(merged, _CFG), by_step[5])


def test_existing_destinations_are_replaced_only_with_overwrite(hf_src, tmp_path, capsys):
  npz = tmp_path / "pg.npz"
  npz.write_bytes(b"old")
  assert "pass --overwrite" in _fails(["--src", hf_src, "--dst", str(npz)], capsys)
  assert npz.read_bytes() == b"old"
  dst = str(tmp_path / "hf")
  old = _params(seed=7)
  hf_save.save_hf(dst, "paligemma", _CFG, old)
  assert f"--dst {dst!r} exists" in _fails(["--src", hf_src, "--dst", dst], capsys)
  hf_save_tests._assert_same_params(hf.load_hf(dst)[2], old)

  convert.main(["--src", hf_src, "--dst", dst, "--overwrite"])

  hf_save_tests._assert_same_params(hf.load_hf(dst)[2], hf.load_hf(hf_src)[2])
  notes = tmp_path / "notes"
  notes.mkdir()
  (notes / "a.txt").write_text("keep")
  message = _fails(["--src", hf_src, "--dst", str(notes), "--overwrite"], capsys)
  assert "not an HF directory (no config.json)" in message
  assert (notes / "a.txt").read_text() == "keep"
  assert sorted(os.listdir(tmp_path)) == ["hf", "notes", "pg.npz"]  # no temporaries left


def test_npz_source_without_a_model_config_exits_naming_the_options(tmp_path):
  npz, dst = tmp_path / "pg.npz", tmp_path / "out"
  big_vision.save_npz(_params(seed=0), str(npz))
  proc = subprocess.run([sys.executable, "-m", "tools.convert", "--src", str(npz), "--dst",
                         str(dst)], cwd=_REPO, capture_output=True, text=True, check=False)
  assert proc.returncode == 2
  assert f"--src {str(npz)!r} is a big_vision .npz file, which holds no model config" in proc.stderr
  assert "pass --preset NAME" in proc.stderr and "--config FILE.py[:args]" in proc.stderr
  assert "Traceback" not in proc.stderr and not dst.exists()


@pytest.mark.parametrize("argv,message", [
    (["--src", "{tmp}/missing", "--dst", "{tmp}/x"], "'{tmp}/missing' does not exist"),
    (["--src", "{tmp}/other", "--dst", "{tmp}/x"], "neither config.json"),
    (["--src", "{run}", "--dst", "{tmp}/x"], "is one of our runs, which holds no model config"),
    (["--src", "{siglip}", "--dst", "{tmp}/x"],
     "holds a 'siglip' model, which an HF directory does not hold"),
    (["--src", "{siglip}", "--dst", "{tmp}/x.npz"],
     "'siglip' model, which a big_vision .npz file does not hold.*writes it in neither format"),
    (["--src", "{hf}", "--dst", "{tmp}/x", "--to", "npz"], "does not end in .npz"),
    (["--src", "{hf}", "--dst", "{tmp}/x", "--preset", "gemma_2b_en"], "drop --preset"),
    (["--src", "{hf}", "--dst", "{tmp}/x", "--step", "2"], "drop --step"),
    (["--src", "{hf}", "--dst", "{hf}/"], "is --src"),
    (["--src", "{npz}", "--dst", "{tmp}/x", "--preset", "pali_gemma_3b"], "Close names"),
    (["--src", "{npz}", "--dst", "{tmp}/x", "--preset", "pali_gemma_3b_224"],
     "does not fit the model:.*shape: llm/embedder/input_embedding: file \\(96, 32\\), model "
     "\\(257152, 2048\\)"),
], ids=["missing", "unknown_dir", "run_no_config", "siglip_to_hf", "siglip_to_npz", "npz_name",
        "hf_with_preset", "hf_with_step", "dst_is_src", "unknown_preset", "preset_mismatch"])
def test_user_errors_name_the_value_and_the_fix(argv, message, hf_src, siglip_src, tmp_path,
                                                capsys):
  (tmp_path / "other").mkdir()
  (tmp_path / "other" / "notes.txt").write_text("")
  (tmp_path / "run" / "ckpt" / "1").mkdir(parents=True)
  big_vision.save_npz(_params(seed=0), str(tmp_path / "pg.npz"))
  paths = dict(tmp=str(tmp_path), run=str(tmp_path / "run"), siglip=siglip_src, hf=hf_src,
               npz=str(tmp_path / "pg.npz"))
  err = _fails([a.format(**paths) for a in argv], capsys)
  pattern = message.format(**{k: re.escape(v) for k, v in paths.items()})
  assert re.search(pattern, err, flags=re.S), err
  assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "x.npz")
