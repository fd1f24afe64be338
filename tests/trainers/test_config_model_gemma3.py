"""Explicit Gemma 3 fields under config.model (img, llm, mm): validation names the key; the trainer
builds the Gemma3Config of those fields; make_model maps each config kind to its module."""
import pytest

from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from configs.transfer import docvqa
from trainers import config_schema as cs
from trainers import state as state_lib

IMG = dict(image_size=32, patch_size=8, width=16, depth=1, mlp_dim=32, num_heads=2)
LLM = dict(vocab_size=64, num_layers=2, num_heads=2, num_kv_heads=1, width=32, mlp_dim=64,
           head_dim=16, layer_pattern=("local", "global"), sliding_window=8)


def _config(**model):
  c = docvqa.get_config("demo")
  c.model = {**dict(preset=None, overrides={}, img=dict(IMG), llm=dict(LLM), mm=None), **model}
  return c


def test_explicit_mm_fields_build_gemma3():
  c = cs.validate(_config(mm=dict(tokens_per_image=4, image_token_id=64, mm_norm_eps=1e-5)))
  want = gemma3.Gemma3Config(llm=gemma.GemmaConfig(**LLM), img=siglip.SigLIPConfig(**IMG),
                             tokens_per_image=4, image_token_id=64, mm_norm_eps=1e-5)
  got = state_lib.model_config(c)
  assert got == want
  assert isinstance(state_lib.make_model(got), gemma3.Gemma3)


def test_without_mm_explicit_fields_are_paligemma():
  got = state_lib.model_config(cs.validate(_config()))
  assert got == paligemma.PaliGemmaConfig(img=siglip.SigLIPConfig(**IMG),
                                          llm=gemma.GemmaConfig(**LLM))


@pytest.mark.parametrize("mm, message", [
    (dict(tokens_per_image=4, image_token_id=64, tokens=4),
     r"Unknown key\(s\) \['tokens'\] in config.model.mm; allowed: \['image_token_id', "
     r"'mm_norm_eps', 'tokens_per_image'\]"),
    (dict(image_token_id=64), r"config.model.mm.tokens_per_image is required"),
    (dict(tokens_per_image=4), r"config.model.mm.image_token_id is required"),
    (dict(tokens_per_image=8, image_token_id=64),
     r"config.model.mm.tokens_per_image=8: must be a positive square"),
    (dict(tokens_per_image="4", image_token_id=64),
     r"config.model.mm.tokens_per_image='4' has the wrong kind; allowed: int"),
    (dict(tokens_per_image=4, image_token_id=-1), r"config.model.mm.image_token_id=-1"),
])
def test_bad_mm_fields_name_the_key(mm, message):
  with pytest.raises(cs.ConfigError, match=message):
    cs.validate(_config(mm=mm))


def test_mm_needs_explicit_img_and_llm():
  with pytest.raises(cs.ConfigError, match=r"either `preset`.*got \['img', 'mm', 'preset'\]"):
    cs.validate(_config(preset="gemma3_4b", llm=None,
                        mm=dict(tokens_per_image=4, image_token_id=64)))
  with pytest.raises(cs.ConfigError, match=r"both `img` and `llm`.*got \['img', 'mm'\]"):
    cs.validate(_config(llm=None, mm=dict(tokens_per_image=4, image_token_id=64)))


def test_field_errors_of_the_dataclasses_name_the_config_key():
  with pytest.raises(ValueError, match=r"config.model.llm: .*'widht'"):
    state_lib.model_config(_config(llm=dict(LLM, widht=3)))
  # A 4x4 patch grid does not pool to 3x3 soft tokens.
  with pytest.raises(ValueError, match=r"config.model.mm: .*not divisible"):
    state_lib.model_config(cs.validate(_config(mm=dict(tokens_per_image=9, image_token_id=64))))


def test_make_model_kinds():
  llm = gemma.GemmaConfig(**LLM)
  assert type(state_lib.make_model(llm)) is gemma.Gemma
  pali = paligemma.PaliGemmaConfig(img=siglip.SigLIPConfig(**IMG), llm=llm)
  assert type(state_lib.make_model(pali)) is paligemma.PaliGemma
  with pytest.raises(TypeError, match=r"No model for a SigLIPConfig; give one of"):
    state_lib.make_model(siglip.SigLIPConfig(**IMG))
