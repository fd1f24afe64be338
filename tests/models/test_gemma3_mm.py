"""Gemma 3 multimodal vs transformers Gemma3ForConditionalGeneration (tiny random, eager, f32)."""
import functools
import json

import jax
import numpy as np
import pytest
import torch
import transformers

from big_paligemma.interop import hf
from big_paligemma.interop import hf_paligemma
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import siglip

_VOCAB, _IMAGE_TOKEN, _BOI, _EOI = 96, 100, 90, 91  # placeholder id outside the vocabulary
_TOKENS_PER_IMAGE = 4  # patch grid 32 / 4 = 8, pooled 4x4 -> 2x2
_VISION = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
               image_size=32, patch_size=4, vision_use_head=False)
_TEXT = dict(
    vocab_size=_VOCAB, hidden_size=32, intermediate_size=48, num_attention_heads=4,
    num_key_value_heads=2, head_dim=8, num_hidden_layers=3, pad_token_id=0,
    query_pre_attn_scalar=16, sliding_window=3,  # shorter than an image block and the text
    layer_types=["sliding_attention", "sliding_attention", "full_attention"],
    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                     "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})


def _save_hf(path):
  torch.manual_seed(0)
  config = transformers.Gemma3Config(
      vision_config=transformers.SiglipVisionConfig(**_VISION).to_dict(),
      text_config=transformers.Gemma3TextConfig(**_TEXT).to_dict(),
      mm_tokens_per_image=_TOKENS_PER_IMAGE, image_token_index=_IMAGE_TOKEN,
      boi_token_index=_BOI, eoi_token_index=_EOI)
  model = transformers.Gemma3ForConditionalGeneration(config).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.normal_(0.0, 0.3 if "norm" in name else 0.15)
  model.save_pretrained(path)
  return model


def _with_images(text_runs):
  """[text, text, ...] runs joined by <boi> + placeholders + <eoi>."""
  img = [_BOI] + [_IMAGE_TOKEN] * _TOKENS_PER_IMAGE + [_EOI]
  out = list(text_runs[0])
  for run in text_runs[1:]:
    out += img + list(run)
  return out


def _batch(num_images=2, seed=0, length=24):
  """Two right-padded examples with `num_images` images each; our batch and HF's inputs."""
  rng = np.random.RandomState(seed)
  words = lambda n: list(rng.randint(3, 89, n))  # noqa: E731
  rows = [_with_images([[2] + words(2)] + [words(3), words(4)][:num_images] or [words(8)]),
          _with_images([[2]] + [words(2), words(1)][:num_images] or [words(5)])]
  if not num_images:
    rows = [[2] + words(18), [2] + words(12)]
  text = np.zeros((2, length), np.int64)
  for i, row in enumerate(rows):
    text[i, :len(row)] = row
  valid = (np.arange(length)[None] < np.array([[len(r)] for r in rows])).astype(np.int64)
  ours = dict(text=text.astype(np.int32), mask_input=valid)
  theirs = dict(input_ids=torch.tensor(text), attention_mask=torch.tensor(valid),
                token_type_ids=torch.tensor((text == _IMAGE_TOKEN).astype(np.int64)))
  if num_images:
    images = rng.uniform(-1, 1, (2, num_images, 32, 32, 3)).astype(np.float32)
    ours["images"] = images
    theirs["pixel_values"] = torch.tensor(images.reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2))
  return ours, theirs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  path = tmp_path_factory.mktemp("gemma3")
  return path, _save_hf(path)


def _compare(path, model, num_images):
  ours, theirs = _batch(num_images)
  model_type, cfg, params = hf.load_hf(str(path))
  assert model_type == "gemma3" and cfg.tokens_per_image == _TOKENS_PER_IMAGE
  logits, _ = jax.jit(gemma3.Gemma3(cfg).apply)({"params": params}, ours)
  with torch.no_grad():
    want = model(**theirs).logits.float().numpy()
  valid = ours["mask_input"].astype(bool)
  assert np.abs(want).max() > 1.0
  np.testing.assert_allclose(np.asarray(logits)[valid], want[valid], atol=1e-4, rtol=0)


def test_two_images_per_example_match_transformers(saved):
  _compare(*saved, num_images=2)


def test_text_only_matches_transformers(saved):
  _compare(*saved, num_images=0)


def test_hub_style_sparse_config_reads_as_transformers_reads_it():
  """Released Gemma 3 config.json files: old rope keys, sliding_window_pattern, no layer_types,
  class defaults left out. Ours from that file == ours from transformers' completed config."""
  text_defaults = transformers.Gemma3TextConfig().to_dict()
  text = {k: v for k, v in _TEXT.items() if k not in ("layer_types", "rope_parameters")}
  text = {k: v for k, v in text.items() if text_defaults.get(k) != v}
  text.update(model_type="gemma3_text", sliding_window_pattern=3, rope_theta=1e6,
              rope_local_base_freq=1e4, rope_scaling={"rope_type": "linear", "factor": 8.0})
  vision = {k: v for k, v in _VISION.items() if k != "image_size"}  # 224 by default
  sparse = dict(model_type="gemma3", text_config=text, vision_config=vision,
                mm_tokens_per_image=16, image_token_index=_IMAGE_TOKEN)
  full = transformers.Gemma3Config(**json.loads(json.dumps(sparse))).to_dict()
  full = json.loads(json.dumps(full))
  assert "layer_types" in full["text_config"] and "layer_types" not in text
  ours = hf_paligemma.gemma3_config_from_hf(sparse)
  assert ours == hf_paligemma.gemma3_config_from_hf(full)
  assert ours.llm.layer_pattern == ("local", "local", "global") and ours.img.image_size == 224
  assert (ours.llm.rope_scale_global, ours.llm.rope_base_local) == (8.0, 1e4)


def _init_and_prepare(model, batch):
  """(params, model.prepare(batch)), both jitted."""
  params = jax.jit(model.init)(jax.random.key(0), batch)
  return params, jax.jit(functools.partial(model.apply, method=model.prepare))(params, batch)


def _tiny_config(**kw):
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=4,
                            image_size=16)  # grid 4
  return gemma3.Gemma3Config(**{"llm": gemma.GemmaConfig.tiny(3), "img": img,
                                "tokens_per_image": 4, "image_token_id": 127, **kw})


def test_mask_is_causal_or_same_image_block():
  cfg = _tiny_config()
  i = cfg.image_token_id
  batch = dict(text=np.array([[2, i, i, i, i, 5, i, i, i, i, 6, 0]]),
               mask_input=np.array([[1] * 11 + [0]]), images=np.zeros((1, 2, 16, 16, 3)))
  model = gemma3.Gemma3(cfg)
  params, (_, positions, mask, _) = _init_and_prepare(model, batch)
  want = np.tril(np.ones((12, 12), bool))
  want[1:5, 1:5] = True  # first image block, bidirectional
  want[6:10, 6:10] = True  # second image block
  want[11, :] = want[:, 11] = False  # padding
  np.testing.assert_array_equal(mask[0], want)
  np.testing.assert_array_equal(positions[0], list(range(11)) + [10])


def test_placeholders_get_pooled_projected_soft_tokens_in_order():
  cfg = _tiny_config()
  i = cfg.image_token_id
  rng = np.random.RandomState(1)
  batch = dict(text=np.array([[2, i, i, i, i, 5, i, i, i, i]]), mask_input=np.ones((1, 10)),
               images=rng.uniform(-1, 1, (1, 2, 16, 16, 3)).astype(np.float32))
  model = gemma3.Gemma3(cfg)
  params, (x, *_) = _init_and_prepare(model, batch)
  p = params["params"]
  # By hand: SigLIP tokens on the 4x4 grid, 2x2 mean pool, RMSNorm (1 + w), projection.
  tokens, _ = jax.jit(siglip.SigLIP(cfg.img).apply)({"params": p["img"]}, batch["images"][0])
  grid = np.asarray(tokens).reshape(2, 4, 4, 16)
  pooled = np.stack([grid[:, r:r + 2, c:c + 2].mean((1, 2)) for r in (0, 2) for c in (0, 2)], 1)
  normed = pooled / np.sqrt((pooled**2).mean(-1, keepdims=True) + 1e-6)
  normed = normed * (1 + np.asarray(p["mm"]["soft_emb_norm"]["scale"]))
  soft = normed @ np.asarray(p["mm"]["input_projection"]["w"])  # [2 images, 4, D]
  np.testing.assert_allclose(x[0, 1:5], soft[0], atol=1e-5)
  np.testing.assert_allclose(x[0, 6:10], soft[1], atol=1e-5)
  emb = np.asarray(p["llm"]["embedder"]["input_embedding"])
  np.testing.assert_allclose(x[0, 5], emb[5] * np.sqrt(32), atol=1e-5)


def test_placeholders_without_images_raise():
  cfg = _tiny_config()
  model = gemma3.Gemma3(cfg)
  batch = dict(text=np.array([[2, 127, 5]]), mask_input=np.ones((1, 3)))
  with pytest.raises(ValueError, match="placeholders"):
    model.init(jax.random.key(0), batch)


def test_batch_closed_over_in_a_jit_is_traced_without_error():
  """A concrete batch captured by a jitted function (not an argument) still has traced
  placeholder flags: the eager checks must skip them instead of calling bool() on a tracer."""
  cfg = _tiny_config()
  i = cfg.image_token_id
  batch = dict(text=np.array([[2, i, i, i, i, 5]]), mask_input=np.ones((1, 6)),
               images=np.zeros((1, 1, 16, 16, 3), np.float32))
  batch = jax.tree_util.tree_map(jax.numpy.asarray, batch)  # concrete jax.Arrays
  model = gemma3.Gemma3(cfg)
  params = jax.jit(lambda key: model.init(key, batch))(jax.random.key(0))
  assert params["params"]["mm"]["input_projection"]["w"].shape == (16, 32)


def test_text_only_config_has_no_image_params():
  cfg = gemma3.Gemma3Config(llm=gemma.GemmaConfig.tiny(3))
  batch = dict(text=np.array([[2, 5, 6]]), mask_input=np.ones((1, 3)))
  params = jax.jit(gemma3.Gemma3(cfg).init)(jax.random.key(0), batch)["params"]
  assert set(params) == {"llm"}


def test_config_validation_names_the_field():
  with pytest.raises(ValueError, match="tokens_per_image"):
    gemma3.Gemma3Config(llm=gemma.GemmaConfig.tiny(3), tokens_per_image=5)
  with pytest.raises(ValueError, match="sqrt"):
    _tiny_config(tokens_per_image=9)


def test_bfloat16_keeps_the_vision_path_in_float32(saved):
  path, model = saved
  ours, theirs = _batch(2)
  _, cfg, params = hf.load_hf(str(path), dtype="bfloat16")
  assert cfg.llm.dtype == "bfloat16" and jax.numpy.dtype(cfg.img.dtype) == np.float32
  dtypes = {k: {str(x.dtype) for x in jax.tree_util.tree_leaves(v)} for k, v in params.items()}
  assert dtypes == {"img": {"float32"}, "mm": {"float32"}, "llm": {"bfloat16"}}
  logits, _ = jax.jit(gemma3.Gemma3(cfg).apply)({"params": params}, ours)
  with torch.no_grad():
    want = model(**theirs).logits.float().numpy()
  valid = ours["mask_input"].astype(bool)
  # bfloat16 decoder (8-bit mantissa) on logits of magnitude ~5: allow 0.25.
  np.testing.assert_allclose(np.asarray(logits, np.float32)[valid], want[valid], atol=0.25, rtol=0)


def test_gemma3_4b_shapes_and_parameter_count():
  """Gemma 3 4B (So400m/14 at 896 -> 4096 patches -> 256 soft tokens), via jax.eval_shape."""
  d, f, n, k, h, layers, v = 2560, 10240, 8, 4, 256, 34, 262208
  llm = gemma.GemmaConfig(
      vocab_size=v, num_layers=layers, num_heads=n, num_kv_heads=k, width=d, mlp_dim=f,
      head_dim=h, post_attn_norm=True, post_ffw_norm=True, sliding_window=1024, qk_norm=True,
      layer_pattern=("local",) * 5 + ("global",), rope_base_global=1e6, rope_scale_global=8.0)
  cfg = gemma3.Gemma3Config(llm=llm, img=siglip.siglip_variant("So400m/14", image_size=896))
  assert cfg.pool == 4
  batch = dict(images=jax.ShapeDtypeStruct((1, 2, 896, 896, 3), np.float32),
               text=jax.ShapeDtypeStruct((1, 600), np.int32),
               mask_input=jax.ShapeDtypeStruct((1, 600), np.int32))
  model = gemma3.Gemma3(cfg)
  params = jax.eval_shape(model.init, jax.random.key(0), batch)
  logits, _ = jax.eval_shape(model.apply, params, batch)
  assert logits.shape == (1, 600, v)
  # By hand: q, kv, out, gating + linear, 4 norms [D], qk norms [H]; So400m at 4096 positions.
  per_layer = n * d * h + 2 * k * d * h + n * h * d + 3 * d * f + 4 * d + 2 * h
  i = 1152
  img = (14 * 14 * 3 * i + i + 4096 * i
         + 27 * (4 * (i * i + i) + 2 * i * 4304 + 4304 + i + 4 * i) + 2 * i)
  want = v * d + layers * per_layer + d + img + i + i * d  # + soft_emb_norm + input_projection
  assert want == 4_300_079_472  # the published Gemma 3 4B size
  assert sum(x.size for x in jax.tree_util.tree_leaves(params)) == want
