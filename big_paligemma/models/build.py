"""Models from configs: config.model -> model config -> Flax module, abstract params, random init.

Model configs: gemma.GemmaConfig (text), siglip.SigLIPConfig (vision tower),
paligemma.PaliGemmaConfig and gemma3.Gemma3Config (with or without its vision tower). A run's
`config.model` names a preset (e.g. pali_gemma_3b_224, gemma3_4b) with overrides, or gives explicit
img/llm fields (PaliGemma) plus `mm` {tokens_per_image, image_token_id} (Gemma 3 multimodal).

`abstract_params` is the one place that derives a model's parameter tree (as
jax.ShapeDtypeStructs, through jax.eval_shape of the module's init: nothing is allocated); presets,
the interop converters, the trainer and the tools all use it.
"""
import dataclasses
import functools
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from big_paligemma import sharding as sharding_lib
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import presets
from big_paligemma.models import siglip

# What the trainer fine-tunes (check_trainable): a vision-language model.
ModelConfig = paligemma.PaliGemmaConfig | gemma3.Gemma3Config
AnyConfig = ModelConfig | gemma.GemmaConfig | siglip.SigLIPConfig
# The batch keys that go to the devices: the model inputs (PaliGemma "image" [B,h,w,3] or Gemma 3
# "images" [B,M,h,w,3], "text", "mask_ar", "mask_input" [B,T]) and the loss mask "mask_loss" [B,T].
# Every other key of a batch (ids, answers, ...) stays on the host.
DEVICE_KEYS = ("image", "images", "text", "mask_ar", "mask_input", "mask_loss")
# The Flax module of each config kind.
MODULES = {paligemma.PaliGemmaConfig: paligemma.PaliGemma, gemma3.Gemma3Config: gemma3.Gemma3,
           gemma.GemmaConfig: gemma.Gemma, siglip.SigLIPConfig: siglip.SigLIP}


def device_inputs(batch: Mapping[str, Any]) -> dict[str, Any]:
  """The DEVICE_KEYS that `batch` has (the model raises for one it needs and lacks)."""
  return {k: batch[k] for k in DEVICE_KEYS if k in batch}


TOKEN_KEYS = ("text", "mask_ar", "mask_input", "mask_loss")  # the device fields along the text axis


def teacher_forcing(batch: Mapping[str, Any]) -> tuple[dict[str, Any], Any, Any]:
  """(model inputs, targets [B,T], loss mask [B,T]) of a training-style batch, whose text holds
  T + 1 tokens (big_vision's layout): the model reads the first T (`text[:, :-1]`, its masks
  alike), and its logits[:, t] are scored against text[:, t + 1] where mask_loss[:, t + 1] is 1.
  So a training text of `text_len` + 1 tokens (the pp builders' `tolen`) trains on sequences of
  `text_len` tokens, EOS included, as the decode of the same config generates."""
  inputs = device_inputs(batch)
  for k in TOKEN_KEYS:
    if k in inputs:
      inputs[k] = inputs[k][:, :-1]
  return inputs, batch["text"][:, 1:], batch["mask_loss"][:, 1:]


# Fields config.model may leave to the backend with the value AUTO (configs/common.py does by
# default), decided here and nowhere else; measured with `python -m tools.plan` (BENCHMARKS.md,
# "Will it fit?"). On an accelerator both towers are scanned (fast compiles; the loop costs
# nothing there), rematerialised (activations of a 224 px batch of 256 need 55 GiB a v5e chip
# without) and computed in bfloat16 (parameters stay float32); on XLA:CPU the layers are fully
# unrolled (~1.17x faster steps, tools/bench_train.py) in float32 without remat.
AUTO = "auto"
BACKEND_CHOICES = {
    "cpu": {"scan_unroll": "all", "dtype": "float32", "llm.remat_policy": "none",
            "img.remat_policy": "none"},
    "accelerator": {"scan_unroll": 1, "dtype": "bfloat16", "llm.remat_policy": "nothing_saveable",
                    "img.remat_policy": "nothing_saveable"},
}


def backend_choice(platform: str, tower: str, field: str, depth: int) -> Any:
  """BACKEND_CHOICES' value of `tower`.`field` on `platform` ('cpu', 'tpu', 'gpu'...); `depth`
  is the tower's number of layers (scan_unroll 'all' = fully unrolled)."""
  choices = BACKEND_CHOICES["cpu" if platform == "cpu" else "accelerator"]
  value = choices.get(f"{tower}.{field}", choices.get(field))
  return depth if value == "all" else value


def _pop_auto(fields: dict | None, tower: str) -> tuple[dict | None, list[str]]:
  if not fields:
    return fields, []
  auto = [k for k, v in fields.items() if v == AUTO]
  unknown = [k for k in auto if f"{tower}.{k}" not in BACKEND_CHOICES["cpu"]
             and k not in BACKEND_CHOICES["cpu"]]
  if unknown:
    raise ValueError(f"config.model {tower}.{unknown[0]}={AUTO!r}: only "
                     f"{sorted(BACKEND_CHOICES['cpu'])} may be left to the backend.")
  return {k: v for k, v in fields.items() if v != AUTO}, auto


def with_backend(model_cfg: ModelConfig, auto: dict[str, list[str]], platform: str):
  """`model_cfg` with the fields `auto` ({tower: [field]}) set to the choices of `platform`."""
  for tower, fields in auto.items():
    sub = getattr(model_cfg, tower, None)
    if sub is None or not fields:
      continue
    depth = sub.num_layers if tower == "llm" else sub.depth
    sub = dataclasses.replace(sub, **{f: backend_choice(platform, tower, f, depth)
                                      for f in fields})
    model_cfg = dataclasses.replace(model_cfg, **{tower: sub})
  return model_cfg


def model_config(config, platform: str | None = None) -> ModelConfig:
  """config.model -> PaliGemmaConfig or Gemma3Config: a preset with overrides, or explicit
  img/llm fields (PaliGemma; Gemma 3 multimodal with the `mm` fields too). Fields given as AUTO
  take the choice of `platform` (default: jax.default_backend(); see BACKEND_CHOICES)."""
  m = config.model.to_dict() if hasattr(config.model, "to_dict") else dict(config.model)
  holder = dict(m.get("overrides") or {}) if m.get("preset") else m
  auto = {}
  for tower in ("llm", "img"):
    if holder.get(tower):
      holder[tower], auto[tower] = _pop_auto(holder[tower], tower)
  platform = platform or jax.default_backend()
  if m.get("preset"):
    return with_backend(check_trainable(presets.get_preset(m["preset"], **holder),
                                        f"config.model.preset={m['preset']!r}"), auto, platform)
  if m.get("overrides"):
    raise ValueError("config.model.overrides applies to a preset; with explicit img/llm fields, "
                     "put the values into those.")
  img = _fields(siglip.SigLIPConfig, m["img"], "img")
  llm = _fields(gemma.GemmaConfig, m["llm"], "llm")
  if m.get("mm"):
    return with_backend(_fields(gemma3.Gemma3Config, dict(m["mm"], img=img, llm=llm), "mm"),
                        auto, platform)
  return with_backend(paligemma.PaliGemmaConfig(img=img, llm=llm), auto, platform)


def _fields(cls, fields: Mapping[str, Any], key: str):
  """cls(**fields); an unknown or bad field raises naming config.model.<key>."""
  try:
    return cls(**fields)
  except (TypeError, ValueError) as e:
    raise ValueError(f"config.model.{key}: {e}") from None


def check_trainable(model_cfg, what: str) -> ModelConfig:
  """`model_cfg` if the trainer can fine-tune it (PaliGemma, Gemma 3 with images), else raises."""
  if isinstance(model_cfg, paligemma.PaliGemmaConfig) or (
      isinstance(model_cfg, gemma3.Gemma3Config) and model_cfg.img is not None):
    return model_cfg
  raise ValueError(f"{what} is a text-only {type(model_cfg).__name__}; the trainer fine-tunes "
                   "PaliGemma and Gemma 3 multimodal models: use e.g. pali_gemma_3b_224, "
                   "pali_gemma2_pt_3b_448 or gemma3_4b (presets.names() lists them).")


def make_model(model_cfg: AnyConfig):
  """The Flax module of `model_cfg` (MODULES)."""
  if type(model_cfg) not in MODULES:
    raise TypeError(f"No model for a {type(model_cfg).__name__}; give one of "
                    f"{[c.__name__ for c in MODULES]}.")
  return MODULES[type(model_cfg)](model_cfg)


def _shape(*dims, dtype=jnp.float32) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(dims, dtype)


def dummy_batch(model_cfg: ModelConfig, batch_size: int = 1, text_len: int = 1) -> dict:
  """Abstract model inputs for init / shape inference: PaliGemma "image" [B,h,w,3]; Gemma 3
  "images" [B,1,h,w,3] (none for a text-only Gemma3Config) with text long enough for one image's
  placeholders; "text", "mask_ar", "mask_input" [B,T] int32."""
  if isinstance(model_cfg, gemma3.Gemma3Config):
    if model_cfg.img is None:
      text = _shape(batch_size, text_len, dtype=jnp.int32)
      return {"text": text, "mask_ar": text, "mask_input": text}
    res = model_cfg.img.image_size
    text = _shape(batch_size, max(text_len, model_cfg.tokens_per_image), dtype=jnp.int32)
    return {"images": _shape(batch_size, 1, res, res, 3), "text": text, "mask_ar": text,
            "mask_input": text}
  res = model_cfg.img.image_size
  text = _shape(batch_size, text_len, dtype=jnp.int32)
  return {"image": _shape(batch_size, res, res, 3), "text": text, "mask_ar": text,
          "mask_input": text}


def _init_inputs(model_cfg: AnyConfig) -> tuple:
  """Abstract positional inputs of the module's __call__ for init."""
  if isinstance(model_cfg, gemma.GemmaConfig):  # (x [B,T,D], positions [B,T], mask [B,T,S])
    return (_shape(1, 1, model_cfg.width), _shape(1, 1, dtype=jnp.int32),
            _shape(1, 1, 1, dtype=bool))
  if isinstance(model_cfg, siglip.SigLIPConfig):
    return (_shape(1, model_cfg.image_size, model_cfg.image_size, 3),)
  return (dummy_batch(model_cfg),)


@functools.lru_cache(maxsize=None)
def abstract_params(model_cfg: AnyConfig) -> dict[str, Any]:
  """The parameter tree of `model_cfg`'s model as jax.ShapeDtypeStructs. Cached per config."""
  module = make_model(model_cfg)
  init = lambda rng, *args: module.init(rng, *args)["params"]  # noqa: E731
  return jax.eval_shape(init, jax.random.key(0), *_init_inputs(model_cfg))


def num_params(model_cfg: AnyConfig) -> int:
  """The number of parameters of `model_cfg`'s model (from `abstract_params`)."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(abstract_params(model_cfg)))


def param_shardings(model_cfg: AnyConfig, rules, mesh) -> Any:
  """NamedShardings of the params by the (regex, tactic) `rules` (config.sharding_rules)."""
  return sharding_lib.infer_param_shardings(abstract_params(model_cfg),
                                            [tuple(r) for r in rules], mesh)


def init_rng(seed: int) -> jax.Array:
  """The key that initialises the params (the train rng is folded from the same seed)."""
  return jax.random.fold_in(jax.random.key(seed), 0)


def init_params(model_cfg: ModelConfig, rng: jax.Array, shardings: Any) -> Any:
  """Random params, created sharded (jit with out_shardings)."""
  module = make_model(model_cfg)
  batch = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), dummy_batch(model_cfg))
  init = lambda key, batch: module.init(key, batch)["params"]  # noqa: E731
  return jax.jit(init, out_shardings=shardings)(rng, batch)  # batch traced, not a constant
