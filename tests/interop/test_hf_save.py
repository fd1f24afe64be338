"""hf_save.save_hf: our random params -> HF checkpoint -> transformers logits equal ours (float32,
eager), and save_hf -> hf.load_hf gives back identical params and config."""
import json
import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf
from big_paligemma.interop import hf_save
from big_paligemma.models import build
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip

_VOCAB = 96
_GEMMA = {
    1: gemma.GemmaConfig.tiny(1, vocab_size=_VOCAB),
    2: gemma.GemmaConfig.tiny(2, vocab_size=_VOCAB, attn_logit_softcap=5.0,
                              final_logit_softcap=3.0, query_scale=12 ** -0.5),
    3: gemma.GemmaConfig.tiny(3, vocab_size=_VOCAB, query_scale=16 ** -0.5),
}
_PG_IMG = siglip.SigLIPConfig(width=32, depth=2, mlp_dim=48, num_heads=4, patch_size=8,
                              image_size=32)
# PaliGemma 2: window 8 < image + prefix (16 + 4) exercises HF's window-exempt prefix block.
_PG = {
    1: paligemma.PaliGemmaConfig(img=_PG_IMG, llm=gemma.GemmaConfig.tiny(1, vocab_size=_VOCAB)),
    2: paligemma.PaliGemmaConfig(img=_PG_IMG, llm=gemma.GemmaConfig.tiny(
        2, vocab_size=_VOCAB, sliding_window=8, attn_logit_softcap=5.0, final_logit_softcap=3.0,
        query_scale=12 ** -0.5, window_exempt_blocks=True)),
}
_P, _T = 16, 14  # image tokens, text length


def _random_params(shapes, seed=0):
  """Every leaf N(0, 0.15) (norm scales N(0, 0.3)): large enough to reach the soft-caps."""
  flat = tree_lib.flatten(shapes)
  keys = jax.random.split(jax.random.key(seed), len(flat))
  out = {p: (0.3 if "norm" in p.lower() else 0.15) * jax.random.normal(k, s.shape, s.dtype)
         for k, (p, s) in zip(keys, sorted(flat.items()))}
  return tree_lib.unflatten(out)


def _assert_same_params(a, b):
  fa, fb = tree_lib.flatten(a), tree_lib.flatten(b)
  assert sorted(fa) == sorted(fb)
  for p in fa:
    assert fa[p].dtype == fb[p].dtype, p
    np.testing.assert_array_equal(np.asarray(fa[p]), np.asarray(fb[p]), err_msg=p)


def _gemma_logits(cfg, params, tokens):
  model = gemma.Gemma(cfg)
  x = model.apply({"params": params}, jnp.asarray(tokens), method=gemma.Gemma.embed)
  positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
  mask = gemma.make_attn_mask(jnp.ones(tokens.shape, bool), jnp.ones(tokens.shape, jnp.int32))
  logits, _ = model.apply({"params": params}, x, positions, mask)
  return np.asarray(logits, np.float32)


def _hf_model(cls, path):
  return cls.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_gemma_logits_match_transformers_and_reload(tmp_path, version):
  cfg = _GEMMA[version]
  params = _random_params(build.abstract_params(cfg), seed=version)
  hf_save.save_hf(str(tmp_path / "ckpt"), "gemma", cfg, params)
  config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
  assert config["architectures"] == [["GemmaForCausalLM", "Gemma2ForCausalLM",
                                      "Gemma3ForCausalLM"][version - 1]]
  tokens = np.random.RandomState(0).randint(1, _VOCAB, (2, 11))
  ours = _gemma_logits(cfg, params, tokens)
  model = _hf_model(transformers.AutoModelForCausalLM, tmp_path / "ckpt")
  with torch.no_grad():
    theirs = model(input_ids=torch.tensor(tokens)).logits.float().numpy()
  assert np.abs(theirs).max() > 1.0  # not a degenerate model
  np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
  model_type, cfg_back, params_back = hf.load_hf(str(tmp_path / "ckpt"))
  assert model_type == "gemma" and cfg_back == cfg
  _assert_same_params(params_back, params)


def _pg_batch(seed=0):
  """Our batch and the HF inputs (image token = vocab size, the save_hf default) for two
  right-padded examples with prefixes of 4 and 5 tokens and 11 and 14 valid tokens."""
  rng = np.random.RandomState(seed)
  pos = np.arange(_T)[None]
  prefix, valid = np.array([[4], [5]]), np.array([[11], [14]])
  mask_input = (pos < valid).astype(np.int32)
  mask_ar = (pos >= prefix).astype(np.int32) * mask_input
  text = (rng.randint(1, _VOCAB, (2, _T)) * mask_input).astype(np.int32)
  image = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  ours = dict(image=image, text=text, mask_ar=mask_ar, mask_input=mask_input)
  image_ids = np.full((2, _P), _VOCAB)
  not_prefix = 1 - mask_input + mask_ar  # HF token_type_ids: 0 on the image and the prefix
  join = lambda a, b: torch.tensor(np.concatenate([a, b], 1).astype(np.int64))  # noqa: E731
  theirs = dict(input_ids=join(image_ids, text), attention_mask=join(image_ids * 0 + 1, mask_input),
                token_type_ids=join(image_ids * 0, not_prefix),
                pixel_values=torch.tensor(image.transpose(0, 3, 1, 2)))
  return ours, theirs


@pytest.mark.parametrize("version", [1, 2])
def test_paligemma_logits_match_transformers_and_reload(tmp_path, version):
  cfg = _PG[version]
  params = _random_params(build.abstract_params(cfg), seed=version)
  path = hf_save.save_hf(str(tmp_path / "pg"), "paligemma", cfg, params)
  config = json.loads((tmp_path / "pg" / "config.json").read_text())
  assert config["image_token_index"] == _VOCAB
  assert config["text_config"]["model_type"] == ["gemma", "gemma2"][version - 1]
  ours, theirs = _pg_batch()
  logits, _ = jax.jit(paligemma.PaliGemma(cfg).apply)({"params": params}, ours)
  model = _hf_model(transformers.PaliGemmaForConditionalGeneration, path)
  with torch.no_grad():
    want = model(**theirs).logits[:, _P:].float().numpy()
  valid = ours["mask_input"].astype(bool)
  assert np.abs(want).max() > 1.0
  np.testing.assert_allclose(np.asarray(logits)[valid], want[valid], atol=1e-4, rtol=0)
  model_type, cfg_back, params_back = hf.load_hf(path)
  assert model_type == "paligemma" and cfg_back == cfg
  _assert_same_params(params_back, params)


# Gemma 3: patch grid 8 pooled 4x4 -> 2x2 = 4 soft tokens per image; image token outside the vocab.
_G3 = gemma3.Gemma3Config(
    llm=gemma.GemmaConfig.tiny(3, vocab_size=_VOCAB, sliding_window=3, query_scale=16 ** -0.5),
    img=siglip.SigLIPConfig(width=32, depth=2, mlp_dim=48, num_heads=4, patch_size=4,
                            image_size=32),
    tokens_per_image=4, image_token_id=100)


def test_gemma3_multimodal_logits_match_transformers_and_reload(tmp_path):
  params = _random_params(build.abstract_params(_G3), seed=3)
  path = hf_save.save_hf(str(tmp_path / "g3"), "gemma3", _G3, params)
  rng = np.random.RandomState(0)
  image_run = [90] + [100] * 4 + [91]  # <boi> soft tokens <eoi> (boi/eoi: ordinary ids here)
  rows = [[2, 5, 6] + image_run + [7, 8, 9], [2] + image_run + [10, 11]]
  text = np.zeros((2, 13), np.int64)
  for i, row in enumerate(rows):
    text[i, :len(row)] = row
  valid = (text > 0).astype(np.int64)
  images = rng.uniform(-1, 1, (2, 1, 32, 32, 3)).astype(np.float32)
  ours = dict(text=text.astype(np.int32), mask_input=valid, images=images)
  logits, _ = jax.jit(gemma3.Gemma3(_G3).apply)({"params": params}, ours)
  model = _hf_model(transformers.Gemma3ForConditionalGeneration, path)
  with torch.no_grad():
    want = model(input_ids=torch.tensor(text), attention_mask=torch.tensor(valid),
                 token_type_ids=torch.tensor((text == 100).astype(np.int64)),
                 pixel_values=torch.tensor(images[:, 0].transpose(0, 3, 1, 2))).logits.numpy()
  mask = valid.astype(bool)
  assert np.abs(want).max() > 1.0
  np.testing.assert_allclose(np.asarray(logits)[mask], want[mask], atol=1e-4, rtol=0)
  model_type, cfg_back, params_back = hf.load_hf(path)
  assert model_type == "gemma3" and cfg_back == _G3
  _assert_same_params(params_back, params)


def test_sharded_and_bfloat16_save_reloads(tmp_path):
  cfg = _GEMMA[2]
  params = _random_params(build.abstract_params(cfg))
  umask = os.umask(0o022)  # the usual one: the output must be readable by others under it
  try:
    hf_save.save_hf(str(tmp_path / "s"), "gemma2", cfg, params, dtype="bfloat16",
                    max_shard_bytes=8000)
  finally:
    os.umask(umask)
  assert stat.S_IMODE(os.stat(tmp_path / "s").st_mode) == 0o755  # not a temporary dir's 0700
  files = sorted(os.listdir(tmp_path / "s"))
  assert {stat.S_IMODE(os.stat(tmp_path / "s" / f).st_mode) for f in files} == {0o644}
  shards = [f for f in files if f.endswith(".safetensors")]
  assert "model.safetensors.index.json" in files and len(shards) > 2
  assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
  assert not [f for f in os.listdir(tmp_path) if f != "s"]  # no temporary directory left behind
  index = json.loads((tmp_path / "s" / "model.safetensors.index.json").read_text())
  assert set(index["weight_map"].values()) == set(shards)
  _, cfg_back, params_back = hf.load_hf(str(tmp_path / "s"), dtype="bfloat16")
  _assert_same_params(params_back, jax.tree.map(lambda x: x.astype(jnp.bfloat16), params))
  model = _hf_model(transformers.AutoModelForCausalLM, tmp_path / "s")
  assert model.config.sliding_window == 4 and model.config.query_pre_attn_scalar == 12
  assert cfg_back.layer_pattern == cfg.layer_pattern


def test_errors_name_the_problem(tmp_path):
  cfg = _GEMMA[2]
  params = _random_params(build.abstract_params(cfg))
  with pytest.raises(ValueError, match="kind='gemma3_text'.*'gemma2'"):
    hf_save.save_hf(str(tmp_path / "a"), "gemma3_text", cfg, params)
  with pytest.raises(ValueError, match="kind='llama'"):
    hf_save.save_hf(str(tmp_path / "a"), "llama", cfg, params)
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "x").write_text("")
  with pytest.raises(FileExistsError, match="not empty"):
    hf_save.save_hf(str(tmp_path / "full"), "gemma", cfg, params)
  bad = gemma.GemmaConfig.tiny(1, attn_logit_softcap=5.0)
  with pytest.raises(ValueError, match="attn_logit_softcap=5.0.*Gemma 1"):
    hf_save.gemma_config_to_hf(bad)
  assert sorted(os.listdir(tmp_path)) == ["full"]
