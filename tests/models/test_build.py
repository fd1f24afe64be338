"""models/build: config.model -> model config (explicit Gemma 3 fields under config.model (img,
llm, mm): validation names the key); make_model maps each config kind to its module; one abstract
parameter derivation for every kind."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import config as cs
from big_paligemma.models import build
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from configs.transfer import docvqa
import evaluators  # noqa: F401  registers the evaluator types that docvqa's evals name

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
  got = build.model_config(c)
  assert got == want
  assert isinstance(build.make_model(got), gemma3.Gemma3)


def test_without_mm_explicit_fields_are_paligemma():
  got = build.model_config(cs.validate(_config()))
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
    build.model_config(_config(llm=dict(LLM, widht=3)))
  # A 4x4 patch grid does not pool to 3x3 soft tokens.
  with pytest.raises(ValueError, match=r"config.model.mm: .*not divisible"):
    build.model_config(cs.validate(_config(mm=dict(tokens_per_image=9, image_token_id=64))))


def test_make_model_kinds():
  llm = gemma.GemmaConfig(**LLM)
  assert type(build.make_model(llm)) is gemma.Gemma
  pali = paligemma.PaliGemmaConfig(img=siglip.SigLIPConfig(**IMG), llm=llm)
  assert type(build.make_model(pali)) is paligemma.PaliGemma
  assert type(build.make_model(siglip.SigLIPConfig(**IMG))) is siglip.SigLIP
  with pytest.raises(TypeError, match=r"No model for a dict; give one of .*'SigLIPConfig'"):
    build.make_model(dict(IMG))


def test_abstract_params_of_every_kind_match_init():
  """One shape derivation for every kind: equal to what the module's own init creates."""
  llm = gemma.GemmaConfig(**LLM)
  img = siglip.SigLIPConfig(**IMG)
  for cfg in (llm, img, paligemma.PaliGemmaConfig(img=img, llm=llm)):
    abstract = build.abstract_params(cfg)
    inputs = build._init_inputs(cfg)  # pylint: disable=protected-access
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), inputs)
    # Jitted: op by op, the init of the scanned layers took ~40 s of the suite.
    real = jax.jit(build.make_model(cfg).init)(jax.random.key(0), *zeros)["params"]
    assert jax.tree.map(lambda x: (x.shape, x.dtype), real) == jax.tree.map(
        lambda x: (x.shape, x.dtype), abstract)
  assert build.num_params(llm) == sum(x.size for x in jax.tree.leaves(build.abstract_params(llm)))


def test_teacher_forcing_reads_all_but_the_last_token_and_scores_all_but_the_first():
  # big_vision's layout: a training text of T + 1 tokens, the model reads T.
  text = np.arange(12).reshape(2, 6)
  batch = {"image": np.zeros((2, 4, 4, 3)), "text": text, "mask_ar": text % 2,
           "mask_input": np.ones_like(text), "mask_loss": text % 3 == 0, "_index": np.arange(2)}
  inputs, targets, mask = build.teacher_forcing(batch)
  assert sorted(inputs) == ["image", "mask_ar", "mask_input", "mask_loss", "text"]
  assert inputs["image"] is batch["image"]
  for k in ("text", "mask_ar", "mask_input", "mask_loss"):
    np.testing.assert_array_equal(inputs[k], batch[k][:, :5])
  np.testing.assert_array_equal(targets, text[:, 1:])
  np.testing.assert_array_equal(mask, batch["mask_loss"][:, 1:])
