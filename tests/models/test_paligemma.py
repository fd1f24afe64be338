"""PaliGemma 1/2 vs transformers PaliGemmaForConditionalGeneration (tiny random, eager, float32)."""
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from big_paligemma.interop import hf
from big_paligemma.interop import hf_paligemma
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from big_paligemma.models import siglip

_VOCAB, _IMAGE_TOKEN = 96, 95
_VISION = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
               image_size=32, patch_size=8, vision_use_head=False)  # P = 16
_TEXT = dict(vocab_size=_VOCAB, hidden_size=32, intermediate_size=48, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, num_hidden_layers=2, pad_token_id=0)
# Gemma 2 window 24: shorter than the sequence (16 + 14), not shorter than image + prefix.
# "pg2_short_window": window 8 < image + prefix (16 + 4): HF's sliding layers keep the whole
# prefix block visible to itself beyond the window (our GemmaConfig.window_exempt_blocks).
_GEMMA2 = dict(sliding_window=24, query_pre_attn_scalar=12, attn_logit_softcapping=5.0,
               final_logit_softcapping=3.0)
_TEXT_CONFIGS = {
    "pg1": (transformers.GemmaConfig, {}),
    "pg2": (transformers.Gemma2Config, _GEMMA2),
    "pg2_short_window": (transformers.Gemma2Config, dict(_GEMMA2, sliding_window=8)),
    "pg2_nocap_global": (transformers.Gemma2Config, dict(
        _GEMMA2, final_logit_softcapping=None, layer_types=["full_attention"] * 2)),
}
_P = (_VISION["image_size"] // _VISION["patch_size"]) ** 2
# Two right-padded examples: (prefix length, suffix length) in a text of length 14.
_LENGTHS, _T = ((4, 7), (5, 9)), 14


def _save_hf(path, kind):
  torch.manual_seed(0)
  text_cls, extra = _TEXT_CONFIGS[kind]
  config = transformers.PaliGemmaConfig(
      vision_config=transformers.SiglipVisionConfig(**_VISION).to_dict(),
      text_config=text_cls(**_TEXT, **extra).to_dict(), image_token_index=_IMAGE_TOKEN,
      projection_dim=_TEXT["hidden_size"])
  model = transformers.PaliGemmaForConditionalGeneration(config).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.normal_(0.0, 0.3 if "norm" in name else 0.15)
  model.save_pretrained(path)
  return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  """kind -> (checkpoint dir, HF model), each built once per module."""
  cache = {}

  def get(kind):
    if kind not in cache:
      path = tmp_path_factory.mktemp(kind)
      cache[kind] = path, _save_hf(path, kind)
    return cache[kind]
  return get


def _batch(seed=0):
  """Our batch and the HF inputs for the same two examples."""
  rng = np.random.RandomState(seed)
  text = np.zeros((2, _T), np.int32)
  mask_ar, mask_input = np.zeros_like(text), np.zeros_like(text)
  for i, (pre, suf) in enumerate(_LENGTHS):
    text[i, :pre + suf] = rng.randint(1, _IMAGE_TOKEN, pre + suf)
    mask_ar[i, pre:pre + suf] = 1
    mask_input[i, :pre + suf] = 1
  image = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  ours = dict(image=image, text=text, mask_ar=mask_ar, mask_input=mask_input)
  ones = np.ones((2, _P), np.int64)
  theirs = dict(
      input_ids=torch.tensor(np.concatenate([ones * _IMAGE_TOKEN, text], 1)),
      attention_mask=torch.tensor(np.concatenate([ones, mask_input], 1)),
      token_type_ids=torch.tensor(np.concatenate([0 * ones, 1 - (1 - mask_ar) * mask_input], 1)),
      pixel_values=torch.tensor(image.transpose(0, 3, 1, 2)))
  return ours, theirs


def _our_logits(path, batch, **kw):
  model_type, cfg, params = hf.load_hf(str(path), **kw)
  assert model_type == "paligemma"
  logits, _ = jax.jit(paligemma.PaliGemma(cfg).apply)({"params": params}, batch)
  return cfg, params, np.asarray(logits, np.float32)


def _hf_logits(model, inputs):
  with torch.no_grad():
    return model(**inputs).logits[:, _P:].float().numpy()


@pytest.mark.parametrize("kind", sorted(_TEXT_CONFIGS))
def test_logits_match_transformers(saved, kind):
  path, model = saved(kind)
  ours, theirs = _batch()
  cfg, _, logits = _our_logits(path, ours)
  assert cfg.num_image_tokens == _P
  valid = ours["mask_input"].astype(bool)
  want = _hf_logits(model, theirs)
  assert np.abs(want).max() > 1.0  # not a degenerate model
  np.testing.assert_allclose(logits[valid], want[valid], atol=1e-4, rtol=0)


def _two_image_batch(seed=1):
  """`_batch`'s texts with two images per example: ours "images" [B,2,h,w,3]; HF two <image>
  blocks in front of the text and the four pixel arrays example by example."""
  ours, theirs = _batch(seed)
  images = np.random.RandomState(seed + 1).uniform(-1, 1, (2, 2, 32, 32, 3)).astype(np.float32)
  ours = {**{k: v for k, v in ours.items() if k != "image"}, "images": images}
  ones = np.ones((2, _P), np.int64)
  theirs = {k: torch.cat([torch.tensor(ones * v[:, :1].numpy()), v], 1)
            for k, v in theirs.items() if k != "pixel_values"}
  theirs["pixel_values"] = torch.tensor(images.reshape(4, 32, 32, 3).transpose(0, 3, 1, 2))
  return ours, theirs


@pytest.mark.parametrize("kind", sorted(_TEXT_CONFIGS))
def test_two_images_logits_match_transformers(saved, kind):
  """NLVR2's two images per example: 2P image tokens, all in the prefix, equal HF's logits."""
  path, model = saved(kind)
  ours, theirs = _two_image_batch()
  assert theirs["input_ids"].shape == (2, 2 * _P + _T)
  assert (theirs["input_ids"][:, :2 * _P] == _IMAGE_TOKEN).all()
  _, _, logits = _our_logits(path, ours)
  assert logits.shape[:2] == (2, _T)
  valid = ours["mask_input"].astype(bool)
  with torch.no_grad():
    want = model(**theirs).logits[:, 2 * _P:].float().numpy()
  np.testing.assert_allclose(logits[valid], want[valid], atol=1e-4, rtol=0)
  # The second image matters: swapping the pair changes the logits.
  _, _, swapped = _our_logits(path, {**ours, "images": ours["images"][:, ::-1]})
  assert np.abs(swapped[valid] - logits[valid]).max() > 1e-3


def test_one_image_as_images_equals_image(saved):
  path, _ = saved("pg1")
  ours, _ = _batch()
  _, _, want = _our_logits(path, ours)
  images = {**{k: v for k, v in ours.items() if k != "image"}, "images": ours["image"][:, None]}
  _, _, got = _our_logits(path, images)
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("change,match", [
    (dict(images=np.zeros((2, 2, 32, 32, 3), np.float32)), "exactly one of 'image'"),
    (dict(image=None), "exactly one of 'image'"),
    (dict(image=np.zeros((2, 1, 32, 32, 3), np.float32)), r"image has shape \(2, 1, 32"),
    (dict(image=None, images=np.zeros((2, 0, 32, 32, 3), np.float32)), "M >= 1"),
])
def test_bad_image_inputs_name_the_key(change, match):
  ours, _ = _batch()
  batch = {k: v for k, v in {**ours, **change}.items() if v is not None}
  with pytest.raises((KeyError, ValueError), match=match):
    paligemma._check_batch(batch)


def test_config_reflects_gemma2_variants(saved):
  _, cfg_a, _ = hf.load_hf(str(saved("pg2")[0]))
  _, cfg_b, _ = hf.load_hf(str(saved("pg2_nocap_global")[0]))
  assert (cfg_a.llm.final_logit_softcap, cfg_a.llm.layer_pattern) == (3.0, ("local", "global"))
  assert (cfg_b.llm.final_logit_softcap, cfg_b.llm.layer_pattern) == (None, ("global",))
  assert cfg_a.img.pool_type == "none" and cfg_a.image_size == 32


def test_bfloat16_close_to_float32_reference(saved):
  path, model = saved("pg2")
  ours, theirs = _batch()
  cfg, params, logits = _our_logits(path, ours, dtype="bfloat16")
  assert cfg.llm.dtype == "bfloat16"
  assert params["llm"]["embedder"]["input_embedding"].dtype == jnp.bfloat16
  valid = ours["mask_input"].astype(bool)
  want = _hf_logits(model, theirs)
  # bfloat16 has an 8-bit mantissa: allow 0.1 on logits of magnitude <= 3 (the final cap).
  np.testing.assert_allclose(logits[valid], want[valid], atol=0.1, rtol=0)


def _hub_style(sub: dict, hf_class) -> dict:
  """`sub` as released config.json files have it: no layer_types, fields at the class default
  left out (transformers fills them back from the class when loading)."""
  defaults = hf_class().to_dict()
  return {k: v for k, v in sub.items()
          if k == "model_type" or (k != "layer_types" and defaults.get(k, object()) != v)}


@pytest.mark.parametrize("text", [
    transformers.GemmaConfig(**_TEXT),
    transformers.Gemma2Config(**_TEXT),  # default caps 50/30, window 4096, alternating layers
    transformers.Gemma2Config(**_TEXT, **_GEMMA2),
])
def test_hub_style_sparse_config_gives_the_same_config(text):
  full = transformers.PaliGemmaConfig(
      vision_config=transformers.SiglipVisionConfig(**dict(_VISION, image_size=224)).to_dict(),
      text_config=text.to_dict(), projection_dim=_TEXT["hidden_size"]).to_dict()
  full = json.loads(json.dumps(full))
  sparse = dict(full, text_config=_hub_style(full["text_config"], type(text)),
                vision_config=_hub_style(full["vision_config"], transformers.SiglipVisionConfig))
  assert "image_size" not in sparse["vision_config"] and "head_dim" in sparse["text_config"]
  want = hf_paligemma.paligemma_config_from_hf(full)
  assert hf_paligemma.paligemma_config_from_hf(sparse) == want
  if isinstance(text, transformers.Gemma2Config):
    assert want.llm.layer_pattern == ("local", "global") and want.llm.attn_logit_softcap


def _renamed(src_dir, dst_dir, rename):
  dst_dir.mkdir()
  (dst_dir / "config.json").write_text((src_dir / "config.json").read_text())
  tensors = load_file(str(src_dir / "model.safetensors"))
  save_file({rename(k): v for k, v in tensors.items()}, str(dst_dir / "model.safetensors"))


def _in_memory_layout(key):  # HF 5.x module names
  for old, new in (("vision_tower.", "model.vision_tower."),
                   ("multi_modal_projector.", "model.multi_modal_projector."),
                   ("language_model.model.", "model.language_model.")):
    if key.startswith(old):
      return new + key[len(old):]
  return key


def _hub_layout(key):  # released checkpoints: vision_tower.vision_model.*
  if key.startswith("vision_tower."):
    return "vision_tower.vision_model." + key[len("vision_tower."):]
  return key


@pytest.mark.parametrize("rename", [_in_memory_layout, _hub_layout])
def test_other_key_layouts_load_the_same_params(saved, tmp_path, rename):
  path, _ = saved("pg1")
  _renamed(path, tmp_path / "renamed", rename)
  original = load_file(str(path / "model.safetensors")).keys()
  renamed = load_file(str(tmp_path / "renamed" / "model.safetensors")).keys()
  assert set(original) != set(renamed)
  _, _, want = hf.load_hf(str(path))
  _, _, got = hf.load_hf(str(tmp_path / "renamed"))
  jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def _init_and_prepare(model, batch):
  """(params, model.prepare(batch)), both jitted."""
  params = jax.jit(model.init)(jax.random.key(0), batch)
  return params, jax.jit(functools.partial(model.apply, method=model.prepare))(params, batch)


def _tiny_config():
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                            image_size=16)  # P = 4
  return paligemma.PaliGemmaConfig(img=img, llm=gemma.GemmaConfig.tiny(1))


def test_prepare_prefix_lm_mask_and_positions():
  cfg = _tiny_config()
  batch = dict(image=np.zeros((1, 16, 16, 3), np.float32), text=np.array([[5, 6, 7, 8, 0]]),
               mask_ar=np.array([[0, 0, 1, 1, 1]]), mask_input=np.array([[1, 1, 1, 1, 0]]))
  model = paligemma.PaliGemma(cfg)
  params, (x, positions, mask, input_mask) = _init_and_prepare(model, batch)
  assert x.shape == (1, 9, 32)
  np.testing.assert_array_equal(positions[0], [0, 1, 2, 3, 4, 5, 6, 7, 7])  # cumsum(valid) - 1
  np.testing.assert_array_equal(input_mask[0], [1] * 8 + [0])
  # Rows: queries. 4 image + 2 prefix tokens see each other; suffix causal; padding sees nothing.
  prefix_row = [1] * 6 + [0, 0, 0]
  want = np.array([prefix_row] * 6 + [[1] * 7 + [0, 0], [1] * 8 + [0], [0] * 9])
  np.testing.assert_array_equal(mask[0], want.astype(bool))


def test_image_tokens_are_projected_not_scaled():
  cfg = _tiny_config()
  batch = dict(image=np.full((1, 16, 16, 3), 0.5, np.float32), text=np.array([[5, 6]]),
               mask_ar=np.zeros((1, 2), np.int32), mask_input=np.ones((1, 2), np.int32))
  model = paligemma.PaliGemma(cfg)
  params, (x, *_) = _init_and_prepare(model, batch)
  encode = jax.jit(siglip.SigLIP(cfg.img).apply)
  encoded, _ = encode({"params": params["params"]["img"]}, batch["image"])
  head = params["params"]["img"]["head"]
  np.testing.assert_allclose(x[:, :4], encoded @ head["kernel"] + head["bias"], atol=1e-5)
  emb = params["params"]["llm"]["embedder"]["input_embedding"]
  np.testing.assert_allclose(x[0, 4:], emb[jnp.array([5, 6])] * np.sqrt(32), atol=1e-5)


def test_config_validation_names_the_field():
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                            image_size=16, pool_type="map")
  with pytest.raises(ValueError, match="pool_type"):
    paligemma.PaliGemmaConfig(img=img, llm=gemma.GemmaConfig.tiny(1))


@pytest.mark.parametrize("kind", ["pg1", "pg2", "pg2_short_window"])
def test_prefill_then_one_token_steps_match_the_full_forward(saved, kind):
  """The decode contract: prepare once, prefill image + prefix into a cache, then one token per
  call with the matching rows of the full mask; logits equal the one-shot forward."""
  _, cfg, params = hf.load_hf(str(saved(kind)[0]))
  model, variables = paligemma.PaliGemma(cfg), {"params": params}
  ours, _ = _batch()
  x, positions, mask, _ = jax.jit(functools.partial(model.apply, method=model.prepare))(
      variables, ours)
  full, _ = jax.jit(functools.partial(model.apply, method=model.decode))(
      variables, x, positions, mask)
  step = jax.jit(functools.partial(model.apply, method=model.decode))
  length, n = x.shape[1], _P + max(pre for pre, _ in _LENGTHS)  # prefill: image + prefixes
  cache = gemma.init_cache(cfg.llm, 2, length)
  logits, cache = step(variables, x[:, :n], positions[:, :n], mask[:, :n], cache)
  parts = [logits]
  for t in range(n, length):
    logits, cache = step(variables, x[:, t:t + 1], positions[:, t:t + 1], mask[:, t:t + 1], cache)
    parts.append(logits)
  valid = np.concatenate([np.ones((2, _P), bool), ours["mask_input"].astype(bool)], 1)
  got = np.concatenate(parts, axis=1)
  np.testing.assert_allclose(got[valid], np.asarray(full)[valid], atol=1e-4, rtol=0)


def test_train_uses_the_dropout_rng():
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                            image_size=16)
  cfg = paligemma.PaliGemmaConfig(img=img, llm=gemma.GemmaConfig.tiny(1, dropout=0.5))
  batch = dict(image=np.zeros((1, 16, 16, 3), np.float32), text=np.array([[5, 6, 7]]),
               mask_ar=np.array([[0, 1, 1]]), mask_input=np.ones((1, 3), np.int32))
  model = paligemma.PaliGemma(cfg)
  params = jax.jit(model.init)(jax.random.key(0), batch)
  apply = jax.jit(model.apply, static_argnames="train")

  def run(seed):
    return apply(params, batch, train=True, rngs={"dropout": jax.random.key(seed)})[0]

  eval_logits = apply(params, batch, train=False)[0]
  np.testing.assert_array_equal(run(1), run(1))
  assert np.abs(run(1) - run(2)).max() > 1e-3 and np.abs(run(1) - eval_logits).max() > 1e-3


@pytest.mark.parametrize("size,tokens", [(224, 256), (448, 1024), (896, 4096)])
def test_released_sizes_shapes_and_parameter_count(size, tokens):
  """PaliGemma 3B (So400m/14 + Gemma 2B, vocabulary 257152), abstractly via jax.eval_shape."""
  d, f, n, h, layers, v = 2048, 16384, 8, 256, 18, 257152
  llm = gemma.GemmaConfig(vocab_size=v, num_layers=layers, num_heads=n, num_kv_heads=1, width=d,
                          mlp_dim=f, head_dim=h)
  cfg = paligemma.PaliGemmaConfig(img=siglip.siglip_variant("So400m/14", image_size=size), llm=llm)
  assert cfg.num_image_tokens == tokens
  batch = dict(image=jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32),
               **{k: jax.ShapeDtypeStruct((2, 7), jnp.int32) for k in ("text", "mask_ar",
                                                                        "mask_input")})
  model = paligemma.PaliGemma(cfg)
  params = jax.eval_shape(model.init, jax.random.key(0), batch)
  logits, aux = jax.eval_shape(model.apply, params, batch)
  assert logits.shape == (2, 7, v) and aux["image_tokens"].shape == (2, tokens, d)
  # By hand: per layer q + kv + out + gating + linear + 2 norms; embedding; final norm.
  per_layer = n * d * h + 2 * d * h + n * h * d + 3 * d * f + 2 * d
  img_d = 1152
  img = (14 * 14 * 3 * img_d + img_d + tokens * img_d  # stem and position embeddings
         + 27 * (4 * (img_d * img_d + img_d) + 2 * img_d * 4304 + 4304 + img_d + 4 * img_d)
         + 2 * img_d)  # final norm
  want = v * d + layers * per_layer + d + img + img_d * d + d
  assert size != 224 or want == 2_923_335_408  # the published paligemma-3b-*-224 size
  assert sum(x.size for x in jax.tree_util.tree_leaves(params)) == want
