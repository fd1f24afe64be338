"""Greedy decode.generate equals transformers' generate(do_sample=False) on the same tiny weights.

HF runs one example at a time (no padding); ours decodes the right-padded batch in one call.
Weights are scaled up (std 0.15-0.3, post-norms 3x) so argmax margins are clear of float noise
and the tokens depend on the context; small token embeddings keep the model from echoing its input.
"""
import numpy as np
import pytest
import torch
import transformers

from big_paligemma import decode
from big_paligemma.interop import hf
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma

_NEW, _EOS, _PAD = 10, 1, 0
_TEXT = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, num_hidden_layers=2, pad_token_id=_PAD,
             eos_token_id=_EOS, bos_token_id=2)
_GEMMA2 = dict(query_pre_attn_scalar=12, attn_logit_softcapping=5.0, final_logit_softcapping=3.0)
_PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [3, 4, 12], [20, 21, 22, 23, 24]]
_VISION = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4,
               image_size=32, patch_size=8, vision_use_head=False)  # P = 16
_P, _IMAGE_TOKEN = 16, 95


def _randomize(model, path):
  torch.manual_seed(0)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "post_" in name and "norm" in name:
        p.fill_(2.0)  # strong block outputs: the next token depends on the context
      else:
        p.normal_(0.0, 0.3 if "norm" in name else 0.03 if "embed_tokens" in name else 0.15)
  model.eval().save_pretrained(path)
  return model


def _hf_generate(model, **inputs):
  """New tokens [_NEW] of HF greedy generation (pad after EOS)."""
  with torch.no_grad():
    out = model.generate(**inputs, max_new_tokens=_NEW, do_sample=False, eos_token_id=_EOS,
                         pad_token_id=_PAD, min_new_tokens=0)
  new = out[0, inputs["input_ids"].shape[1]:].numpy()
  return np.pad(new, (0, _NEW - len(new)), constant_values=_PAD)


def _right_padded(prompts):
  text = np.zeros((len(prompts), max(map(len, prompts))), np.int32)
  for i, p in enumerate(prompts):
    text[i, :len(p)] = p
  return text, (text != 0).astype(np.int32)


def _check(ours, theirs):
  lengths, ours, theirs = np.asarray(ours.lengths), np.asarray(ours.tokens), np.stack(theirs)
  np.testing.assert_array_equal(ours, theirs)
  assert lengths.max() >= 8 and lengths.sum() >= 16, "too few tokens compared: change the seed"
  assert len(np.unique(theirs)) > 4, "degenerate model: repeats one token"


def test_gemma2_text_greedy_matches_hf(tmp_path):
  config = transformers.Gemma2Config(**_TEXT, **_GEMMA2, sliding_window=4,
                                     attn_implementation="eager")
  model = _randomize(transformers.Gemma2ForCausalLM(config), tmp_path)
  kind, cfg, params = hf.load_hf(str(tmp_path))
  assert kind == "gemma" and cfg.sliding_window == 4
  text, mask = _right_padded(_PROMPTS)
  ours = decode.generate(gemma.Gemma(cfg), params, {"text": text, "mask_input": mask},
                         max_decode_len=_NEW, eos_id=_EOS, pad_id=_PAD)
  theirs = [_hf_generate(model, input_ids=torch.tensor([p]),
                         attention_mask=torch.ones((1, len(p)), dtype=torch.long))
            for p in _PROMPTS]
  _check(ours, theirs)


_PALIGEMMA_TEXT = {
    "pg1": (transformers.GemmaConfig, {}),
    # Window 24 >= image + prompt (HF lets the whole prefix see itself), < the full sequence.
    "pg2": (transformers.Gemma2Config, dict(_GEMMA2, sliding_window=24)),
}


# (kind, images per example). The tiny Gemma 2 repeats one token whatever its input once 32 image
# tokens lead the prompt; its two-image logits are checked in tests/models/test_paligemma.py.
@pytest.mark.parametrize("kind,num_images", [("pg1", 1), ("pg2", 1), ("pg1", 2)])
def test_paligemma_greedy_matches_hf(tmp_path, kind, num_images):
  """One image ("image" [B,h,w,3]) or two per example ("images" [B,2,h,w,3], NLVR2's pair: HF
  gets two consecutive <image> blocks and both pixel arrays)."""
  text_cls, extra = _PALIGEMMA_TEXT[kind]
  config = transformers.PaliGemmaConfig(
      vision_config=transformers.SiglipVisionConfig(**_VISION).to_dict(),
      text_config=text_cls(**_TEXT, **extra).to_dict(), image_token_index=_IMAGE_TOKEN,
      projection_dim=_TEXT["hidden_size"])
  config._attn_implementation = "eager"
  model = _randomize(transformers.PaliGemmaForConditionalGeneration(config), tmp_path)
  kind_loaded, cfg, params = hf.load_hf(str(tmp_path))
  assert kind_loaded == "paligemma" and cfg.num_image_tokens == _P
  text, mask = _right_padded(_PROMPTS)
  images = np.random.RandomState(0).uniform(
      -1, 1, (len(_PROMPTS), num_images, 32, 32, 3)).astype(np.float32)
  batch = {"text": text, "mask_ar": np.zeros_like(text), "mask_input": mask}
  batch.update({"image": images[:, 0]} if num_images == 1 else {"images": images})
  ours = decode.generate(paligemma.PaliGemma(cfg), params, batch, max_decode_len=_NEW,
                         eos_id=_EOS, pad_id=_PAD)
  theirs = []
  for image, p in zip(images, _PROMPTS):
    ids = torch.tensor([[_IMAGE_TOKEN] * _P * num_images + p])
    theirs.append(_hf_generate(
        model, input_ids=ids, attention_mask=torch.ones_like(ids),
        token_type_ids=torch.zeros_like(ids), pixel_values=torch.tensor(image).permute(
            0, 3, 1, 2)))
  _check(ours, theirs)


def test_gemma3_with_images_greedy_matches_hf(tmp_path):
  image_token, boi, eoi, per_image = 100, 90, 91, 4  # placeholder id outside the vocabulary
  text_cfg = transformers.Gemma3TextConfig(
      **_TEXT, query_pre_attn_scalar=16, sliding_window=3,  # shorter than the sequence
      layer_types=["sliding_attention", "full_attention"],
      rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                       "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
  config = transformers.Gemma3Config(
      vision_config=transformers.SiglipVisionConfig(**dict(_VISION, patch_size=4)).to_dict(),
      text_config=text_cfg.to_dict(), mm_tokens_per_image=per_image,
      image_token_index=image_token, boi_token_index=boi, eoi_token_index=eoi)
  config._attn_implementation = "eager"
  model = _randomize(transformers.Gemma3ForConditionalGeneration(config), tmp_path)
  kind, cfg, params = hf.load_hf(str(tmp_path))
  assert kind == "gemma3"
  block = [boi] + [image_token] * per_image + [eoi]
  prompts = [[2, 5, 6] + block + [7, 8, 9], [2] + block + [12, 13], [2, 30] + block + [40]]
  text, mask = _right_padded(prompts)
  images = np.random.RandomState(0).uniform(-1, 1, (3, 1, 32, 32, 3)).astype(np.float32)
  ours = decode.generate(gemma3.Gemma3(cfg), params,
                         {"text": text, "mask_input": mask, "images": images},
                         max_decode_len=_NEW, eos_id=_EOS, pad_id=_PAD)
  theirs = []
  for image, p in zip(images, prompts):
    ids = torch.tensor([p])
    theirs.append(_hf_generate(
        model, input_ids=ids, attention_mask=torch.ones_like(ids),
        token_type_ids=(ids == image_token).long(),
        pixel_values=torch.tensor(image).permute(0, 3, 1, 2)))
  _check(ours, theirs)
