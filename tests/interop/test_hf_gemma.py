"""load_hf against transformers (torch CPU float32, eager attention) on tiny random Gemma 1/2/3."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf
from big_paligemma.interop import hf_gemma
from big_paligemma.interop import hf_io
from big_paligemma.models import gemma

_SMALL = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_attention_heads=4,
              head_dim=8, pad_token_id=0)


def _save_hf(tmp_path, config_cls, model_cls, **kw):
  """Builds a random HF model (weights large enough to reach the soft-caps, norm weights away from
  zero), saves it, returns it."""
  torch.manual_seed(0)
  model = model_cls(config_cls(**{**_SMALL, **kw})).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.normal_(0.0, 0.3 if "norm" in name else 0.15)
  model.save_pretrained(tmp_path)
  return model


def _hf_logits(model, tokens, valid):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(valid.astype(np.int64)))
  return out.logits.float().numpy()


def _our_logits(path, tokens, valid, **load_kw):
  model_type, cfg, params = hf.load_hf(str(path), **load_kw)
  assert model_type == "gemma"
  model = gemma.Gemma(cfg)
  x = model.apply({"params": params}, jnp.asarray(tokens), method=gemma.Gemma.embed)
  positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
  mask = gemma.make_attn_mask(jnp.asarray(valid), jnp.ones(tokens.shape, jnp.int32))
  logits, _ = model.apply({"params": params}, x, positions, mask)
  return cfg, np.asarray(logits, np.float32)


def _tokens(batch, length, seed=0):
  return np.random.RandomState(seed).randint(1, _SMALL["vocab_size"], (batch, length))


def _gemma2(tmp_path):
  return _save_hf(tmp_path, transformers.Gemma2Config, transformers.Gemma2ForCausalLM,
                  num_hidden_layers=2, num_key_value_heads=2, sliding_window=4,
                  query_pre_attn_scalar=12, attn_logit_softcapping=5.0, final_logit_softcapping=3.0)


def _gemma3(tmp_path):
  return _save_hf(
      tmp_path, transformers.Gemma3TextConfig, transformers.Gemma3ForCausalLM,
      num_hidden_layers=3, num_key_value_heads=2, sliding_window=4, query_pre_attn_scalar=16,
      layer_types=["sliding_attention", "sliding_attention", "full_attention"],
      rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                       "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_gemma1_matches_transformers(tmp_path, kv_heads):
  model = _save_hf(tmp_path, transformers.GemmaConfig, transformers.GemmaForCausalLM,
                   num_hidden_layers=2, num_key_value_heads=kv_heads)
  tokens, valid = _tokens(2, 9), np.ones((2, 9), bool)
  cfg, ours = _our_logits(tmp_path, tokens, valid)
  assert cfg.num_kv_heads == kv_heads and not cfg.post_attn_norm
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_sharded_checkpoint_with_index_loads(tmp_path):
  """save_pretrained with a small max_shard_size writes several files + an index json."""
  torch.manual_seed(0)
  model = transformers.GemmaForCausalLM(transformers.GemmaConfig(
      **_SMALL, num_hidden_layers=2, num_key_value_heads=1)).eval()
  model.save_pretrained(tmp_path, max_shard_size="20KB")
  files = os.listdir(tmp_path)
  assert "model.safetensors.index.json" in files and "model.safetensors" not in files
  assert sum(f.endswith(".safetensors") for f in files) > 1
  tokens, valid = _tokens(2, 7), np.ones((2, 7), bool)
  _, ours = _our_logits(tmp_path, tokens, valid)
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_gemma2_softcaps_and_window_match_transformers(tmp_path):
  model = _gemma2(tmp_path)
  tokens, valid = _tokens(2, 11), np.ones((2, 11), bool)
  cfg, ours = _our_logits(tmp_path, tokens, valid)
  assert cfg.layer_pattern == ("local", "global") and cfg.attn_logit_softcap == 5.0
  assert np.abs(ours).max() > 1.5  # the final cap of 3.0 is exercised
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_gemma3_text_matches_transformers(tmp_path):
  model = _gemma3(tmp_path)
  tokens, valid = _tokens(2, 12), np.ones((2, 12), bool)
  cfg, ours = _our_logits(tmp_path, tokens, valid)
  assert cfg.qk_norm and cfg.rope_scale_global == 8.0 and cfg.rope_base_global == 1e6
  assert cfg.layer_pattern == ("local", "local", "global")
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_right_padded_batch_matches_transformers(tmp_path):
  model = _gemma2(tmp_path)
  tokens = _tokens(3, 10)
  valid = np.arange(10)[None, :] < np.array([10, 6, 3])[:, None]
  _, ours = _our_logits(tmp_path, tokens, valid)
  theirs = _hf_logits(model, tokens, valid)
  np.testing.assert_allclose(ours[valid], theirs[valid], atol=1e-4, rtol=0)


def test_bfloat16_close_to_transformers(tmp_path):
  model = _gemma3(tmp_path)
  tokens, valid = _tokens(2, 12), np.ones((2, 12), bool)
  cfg, ours = _our_logits(tmp_path, tokens, valid, dtype="bfloat16")
  assert cfg.dtype == cfg.param_dtype == "bfloat16"
  theirs = _hf_logits(model, tokens, valid)
  # bf16 has an 8-bit mantissa: allow 5% of the logit range.
  assert np.abs(ours - theirs).max() <= 0.05 * np.abs(theirs).max()


def test_older_language_model_prefix_is_accepted(tmp_path):
  model = _gemma2(tmp_path)
  tensors = load_file(tmp_path / "model.safetensors")
  renamed = {k.replace("model.", "language_model.model.", 1): v for k, v in tensors.items()}
  save_file(renamed, tmp_path / "model.safetensors")
  tokens, valid = _tokens(1, 6), np.ones((1, 6), bool)
  _, ours = _our_logits(tmp_path, tokens, valid)
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_loads_onto_a_given_sharding(tmp_path):
  """Every param lands on the sharding asked for (here: the leading dim split over 8 devices where
  it divides, else replicated), with the same values as a single-device load."""
  model = _gemma2(tmp_path)
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]), ("fsdp",))
  _, _, single = hf.load_hf(str(tmp_path))
  shapes = {p: x.shape for p, x in tree_lib.flatten(single).items()}

  def place(path):
    spec = ("fsdp",) if shapes[path][0] % 8 == 0 else ()
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))

  _, _, sharded = hf.load_hf(str(tmp_path), sharding=place)
  split = 0
  for path, x in tree_lib.flatten(sharded).items():
    assert x.sharding == place(path), path
    split += place(path).spec != jax.sharding.PartitionSpec()
    np.testing.assert_array_equal(np.asarray(x), np.asarray(tree_lib.flatten(single)[path]))
  assert split >= 1  # e.g. the [V, D] embedding, V = 96
  tokens, valid = _tokens(1, 6), np.ones((1, 6), bool)
  _, ours = _our_logits(tmp_path, tokens, valid, sharding=place)
  np.testing.assert_allclose(ours, _hf_logits(model, tokens, valid), atol=1e-4, rtol=0)


def test_wrong_shape_tensor_is_named(tmp_path):
  _gemma2(tmp_path)
  tensors = load_file(tmp_path / "model.safetensors")
  tensors["model.norm.weight"] = np.zeros(33, np.float32)
  save_file(tensors, tmp_path / "model.safetensors")
  with pytest.raises(ValueError, match=r"final_norm/scale.*\(32,\).*\(33,\)"):
    hf.load_hf(str(tmp_path))


def test_missing_tensor_is_named_with_close_keys(tmp_path):
  _gemma2(tmp_path)
  tensors = load_file(tmp_path / "model.safetensors")
  del tensors["model.layers.1.mlp.up_proj.weight"]
  save_file(tensors, tmp_path / "model.safetensors")
  with pytest.raises(KeyError, match=r"model.layers.1.mlp.up_proj.weight.*layers.1.mlp"):
    hf.load_hf(str(tmp_path))


def test_missing_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    hf.load_hf(str(tmp_path / "nope"))
  with pytest.raises(FileNotFoundError, match="config.json"):
    hf.load_hf(str(tmp_path))
  _gemma2(tmp_path)
  os.remove(tmp_path / "model.safetensors")
  with pytest.raises(FileNotFoundError, match="model.safetensors"):
    hf.load_hf(str(tmp_path))


def test_unknown_architecture_lists_supported(tmp_path):
  _gemma2(tmp_path)
  config = json.loads((tmp_path / "config.json").read_text())
  config["architectures"] = ["LlamaForCausalLM"]
  (tmp_path / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match="LlamaForCausalLM.*Gemma2ForCausalLM"):
    hf.load_hf(str(tmp_path))


@pytest.mark.parametrize("model_type,sparse", [
    ("gemma2", dict(num_hidden_layers=4, hidden_size=64, intermediate_size=128,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=300)),
    ("gemma3_text", dict(num_hidden_layers=6, hidden_size=64, intermediate_size=128,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=300,
                         rope_theta=1_000_000.0,
                         rope_scaling={"rope_type": "linear", "factor": 8.0})),
])
def test_sparse_released_config_reads_as_transformers_completes_it(model_type, sparse):
  """Hub config.json files list only non-default fields: what we build from the sparse dict must
  equal what we build from transformers' own completion of it (layer types, caps, rope bases)."""
  cls = {"gemma2": transformers.Gemma2Config, "gemma3_text": transformers.Gemma3TextConfig}
  full = cls[model_type](**sparse).to_dict()
  ours = hf_gemma.gemma_config_from_hf({"model_type": model_type, **sparse})
  assert ours == hf_gemma.gemma_config_from_hf(full)
  assert "local" in ours.layer_pattern
  if model_type == "gemma2":
    assert (ours.attn_logit_softcap, ours.final_logit_softcap) == (50.0, 30.0)
  else:
    assert (ours.rope_base_local, ours.rope_base_global, ours.rope_scale_global) == (
        10_000.0, 1_000_000.0, 8.0)


def test_siglip_at_another_image_size_resamples_the_position_embedding(tmp_path):
  """image_size=48 on a 32-px checkpoint: pos_embedding goes from a 4x4 to a 6x6 grid, equal to
  siglip.resample_posemb of the saved one; every other param is loaded unchanged."""
  from big_paligemma.models import siglip  # pylint: disable=import-outside-toplevel
  torch.manual_seed(0)
  config = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32,
                                           num_hidden_layers=1, num_attention_heads=2,
                                           image_size=32, patch_size=8, vision_use_head=False)
  transformers.SiglipVisionModel(config).save_pretrained(tmp_path)
  _, cfg32, p32 = hf.load_hf(str(tmp_path))
  _, cfg48, p48 = hf.load_hf(str(tmp_path), image_size=48)
  assert (cfg32.grid, cfg48.grid) == (4, 6) and p48["pos_embedding"].shape == (1, 36, 16)
  np.testing.assert_allclose(p48["pos_embedding"],
                             siglip.resample_posemb(p32["pos_embedding"], 6), atol=1e-6)
  np.testing.assert_array_equal(p48["embedding"]["kernel"], p32["embedding"]["kernel"])
  out, _ = siglip.SigLIP(cfg48).apply({"params": p48}, jnp.zeros((1, 48, 48, 3)))
  assert out.shape == (1, 36, 16)
  with pytest.raises(ValueError, match="has no image encoder"):
    hf_io.with_image_size(gemma.GemmaConfig.tiny(1), 64)
