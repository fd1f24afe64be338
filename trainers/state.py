"""The train state and how it is built: model from config, random init or `model_init`, restore.

Models: PaliGemma (`paligemma.PaliGemma`, batches with "image" [B,h,w,3]) and Gemma 3 multimodal
(`gemma3.Gemma3`, batches with "images" [B,M,h,w,3] and image placeholders in the text), from a
preset name (e.g. pali_gemma_3b_224, gemma3_4b) with overrides, or explicit img/llm fields
(PaliGemma) plus `mm` {tokens_per_image, image_token_id} (Gemma 3).

TrainState holds plain arrays only (the rng as key data), so a checkpoint saves it as it is:
  step [] int32, params (slash-path tree, see models/paligemma.py), opt_state (optax), rng [2] uint32,
  lora: None, or with config.lora the adapters (models/lora.py layout, paths ending in /a and /b).
With LoRA, `params` is the frozen base (no optimizer state) and the optimizer trains `lora`;
`trainable(state)` is what the optimizer sees and `eval_params(state, alpha)` the merged weights.
"""
import dataclasses
import json
import os
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
from jax.sharding import NamedSharding, PartitionSpec

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import sharding as sharding_lib
from big_paligemma import tree as tree_lib
from big_paligemma.interop import big_vision
from big_paligemma.interop import hf
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import lora as lora_lib
from big_paligemma.models import paligemma
from big_paligemma.models import presets
from big_paligemma.models import siglip


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32: optimizer steps taken.
  params: Any
  opt_state: Any
  rng: jax.Array  # [2] uint32: key data of the run's base key (per-step keys are folded in).
  lora: Any = None  # LoRA adapters (trained; `params` frozen), or None (full fine-tuning).


@dataclasses.dataclass(frozen=True)
class LoraSettings:
  """config.lora parsed: [(regex, rank)] over the base param paths and the scale alpha."""
  rules: tuple[tuple[str, int], ...]
  alpha: float


def lora_settings(config: ml_collections.ConfigDict) -> LoraSettings | None:
  """config.lora -> LoraSettings, or None without LoRA.

  config.lora = {rules: [(regex, rank) or regex], rank: int (for bare regexes; default 4),
  alpha: float}; rules default to lora.DEFAULT_RULES (decoder query and value)."""
  if not config.get("lora"):
    return None
  cfg = config.lora.to_dict() if hasattr(config.lora, "to_dict") else dict(config.lora)
  rank = cfg.get("rank")
  default_rules = [(r, rank or n) for r, n in lora_lib.DEFAULT_RULES]
  rules = tuple((r, rank or 4) if isinstance(r, str) else tuple(r)
                for r in (cfg.get("rules") or default_rules))
  return LoraSettings(rules=rules, alpha=float(cfg["alpha"]))


def trainable(state: TrainState) -> Any:
  """What the optimizer updates: the adapters with LoRA, else the params."""
  return state.params if state.lora is None else state.lora


def eval_params(state: TrainState, alpha: float | None) -> Any:
  """Plain model params: the params, or base merged with the adapters (LoRA)."""
  return state.params if state.lora is None else lora_lib.merge(state.params, state.lora, alpha)


ModelConfig = paligemma.PaliGemmaConfig | gemma3.Gemma3Config
# What model_init's HF config.json must name for each kind of model.
HF_ARCHITECTURE = {paligemma.PaliGemmaConfig: "PaliGemmaForConditionalGeneration",
                   gemma3.Gemma3Config: "Gemma3ForConditionalGeneration"}


def model_config(config: ml_collections.ConfigDict) -> ModelConfig:
  """config.model -> PaliGemmaConfig or Gemma3Config: a preset with overrides, or explicit
  img/llm fields (PaliGemma; Gemma 3 multimodal with the `mm` fields too)."""
  m = config.model.to_dict()
  if m.get("preset"):
    return check_trainable(presets.get_preset(m["preset"], **(m.get("overrides") or {})),
                           f"config.model.preset={m['preset']!r}")
  if m.get("overrides"):
    raise ValueError("config.model.overrides applies to a preset; with explicit img/llm fields, "
                     "put the values into those.")
  img = _fields(siglip.SigLIPConfig, m["img"], "img")
  llm = _fields(gemma.GemmaConfig, m["llm"], "llm")
  if m.get("mm"):
    return _fields(gemma3.Gemma3Config, dict(m["mm"], img=img, llm=llm), "mm")
  return paligemma.PaliGemmaConfig(img=img, llm=llm)


def _fields(cls, fields: dict, key: str):
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


# The Flax module of each config kind (text-only Gemma for tools and evaluators; the trainer
# refuses it, see check_trainable).
MODULES = {paligemma.PaliGemmaConfig: paligemma.PaliGemma, gemma3.Gemma3Config: gemma3.Gemma3,
           gemma.GemmaConfig: gemma.Gemma}


def make_model(model_cfg: ModelConfig | gemma.GemmaConfig):
  """The Flax module of `model_cfg`: PaliGemma, Gemma3 or Gemma (MODULES)."""
  if type(model_cfg) not in MODULES:
    raise TypeError(f"No model for a {type(model_cfg).__name__}; give one of "
                    f"{[c.__name__ for c in MODULES]}.")
  return MODULES[type(model_cfg)](model_cfg)


def dummy_batch(model_cfg: ModelConfig, batch_size: int = 1, text_len: int = 1):
  """Abstract inputs for init / shape inference (Gemma 3: one image's placeholders as text)."""
  res = model_cfg.img.image_size
  if isinstance(model_cfg, gemma3.Gemma3Config):
    text = jax.ShapeDtypeStruct((batch_size, max(text_len, model_cfg.tokens_per_image)), jnp.int32)
    return {"images": jax.ShapeDtypeStruct((batch_size, 1, res, res, 3), jnp.float32),
            "text": text, "mask_ar": text, "mask_input": text}
  text = jax.ShapeDtypeStruct((batch_size, text_len), jnp.int32)
  return {"image": jax.ShapeDtypeStruct((batch_size, res, res, 3), jnp.float32), "text": text,
          "mask_ar": text, "mask_input": text}


def abstract_params(model_cfg: ModelConfig) -> Any:
  return presets.abstract_params(model_cfg)


def param_shardings(model_cfg, config, mesh) -> Any:
  rules = [tuple(r) for r in config.sharding_rules]
  return sharding_lib.infer_param_shardings(abstract_params(model_cfg), rules, mesh)


def init_params(model_cfg, rng: jax.Array, shardings: Any) -> Any:
  """Random params, created sharded (jit with out_shardings)."""
  model = make_model(model_cfg)
  batch = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), dummy_batch(model_cfg))
  init = lambda key, batch: model.init(key, batch)["params"]  # noqa: E731
  return jax.jit(init, out_shardings=shardings)(rng, batch)  # batch traced, not a constant


def load_model_init(path: str, model_cfg, shardings: Any) -> Any:
  """Params from `path`: a big_vision .npz file (e.g. a released PaliGemma checkpoint), an HF
  checkpoint dir (config.json), or one of our runs (its workdir or checkpoint dir; only the params
  are read, so the run may have used any optimizer; a LoRA run's merged weights are in its
  workdir/merged). Shapes must match `model_cfg`; .npz and HF position embeddings are resampled to
  the model's image size. An HF directory must hold the same kind of model (HF_ARCHITECTURE) and,
  for Gemma 3, the same tokens_per_image and image_token_id; .npz files hold PaliGemma only.
  """
  if path.endswith(".npz"):
    if not isinstance(model_cfg, paligemma.PaliGemmaConfig):
      raise ValueError(f"model_init={path!r}: big_vision .npz files hold PaliGemma models but "
                       f"config.model is a {type(model_cfg).__name__}; give an HF "
                       f"{HF_ARCHITECTURE[type(model_cfg)]} directory or one of our runs.")
    # In the model's param dtypes, checked leaf by leaf against model_cfg (errors list the paths).
    params = big_vision.load_npz(path, model_cfg, sharding=shardings)
  elif os.path.exists(os.path.join(path, "config.json")):
    _check_hf_architecture(path, model_cfg)
    # At the model's image size: a 224 checkpoint fine-tunes at 448 with a resampled posemb.
    _, hf_cfg, params = hf.load_hf(path, sharding=shardings, dtype=model_cfg.llm.param_dtype,
                                   image_size=model_cfg.img.image_size)
    _check_same_layout(hf_cfg, model_cfg, path)
  elif os.path.isdir(path):
    abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                            abstract_params(model_cfg), shardings)
    params = ckpt_lib.restore_params(path, abstract)
  else:
    raise FileNotFoundError(f"model_init={path!r} is neither an HF directory (with config.json) "
                            "nor a run's checkpoint directory (workdir/ckpt).")
  _check_same_shapes(params, abstract_params(model_cfg), path)
  return params


def _check_hf_architecture(path: str, model_cfg: ModelConfig) -> None:
  with open(os.path.join(path, "config.json")) as f:
    archs = json.load(f).get("architectures") or []
  want = HF_ARCHITECTURE[type(model_cfg)]
  if want not in archs:
    raise ValueError(f"model_init={path!r} holds {archs} but config.model is a "
                     f"{type(model_cfg).__name__}, which loads from {want}; pick a matching "
                     "config.model preset or checkpoint.")


def _check_same_layout(hf_cfg, model_cfg: ModelConfig, path: str) -> None:
  """Gemma 3 fields that no param shape shows must agree too."""
  for field in ("tokens_per_image", "image_token_id"):
    got, want = getattr(hf_cfg, field, None), getattr(model_cfg, field, None)
    if got != want:
      raise ValueError(f"model_init={path!r} has {field}={got} but config.model has {want}; set "
                       f"config.model.overrides.{field}={got} (and the pp's) to fine-tune it.")


def _check_same_shapes(params, expected, path: str) -> None:
  got = {p: tuple(x.shape) for p, x in tree_lib.flatten(params).items()}
  want = {p: tuple(x.shape) for p, x in tree_lib.flatten(expected).items()}
  rows = [f"{p}: checkpoint {got.get(p, 'absent')}, model {want.get(p, 'absent')}"
          for p in sorted(set(got) | set(want)) if got.get(p) != want.get(p)]
  if rows:
    raise ValueError(f"model_init={path!r} does not fit config.model:\n  " + "\n  ".join(rows))


def state_shardings(abstract_state: TrainState, p_shardings: Any, mesh) -> TrainState:
  """Shardings of every state leaf: params by the rules, LoRA adapters replicated (small),
  optimizer state like what it optimizes."""
  replicated = NamedSharding(mesh, PartitionSpec())
  lora = jax.tree.map(lambda _: replicated, abstract_state.lora)
  train, train_shardings = ((abstract_state.params, p_shardings) if lora is None
                            else (abstract_state.lora, lora))
  opt = sharding_lib.shardings_like_params(abstract_state.opt_state, train, train_shardings, mesh)
  return TrainState(step=replicated, params=p_shardings, opt_state=opt, rng=replicated, lora=lora)


def init_lora(params: Any, lora: LoraSettings, seed: int) -> Any:
  """Fresh adapters for `params` (B = 0, so the model is unchanged), replicated like params[0]."""
  rng = jax.random.fold_in(jax.random.key(seed), 2)
  return jax.jit(lora_lib.init_lora, static_argnums=(1, 2))(params, lora.rules, lora.alpha, rng)


def abstract_lora(model_cfg, lora: LoraSettings | None) -> Any:
  if lora is None:
    return None
  return jax.eval_shape(lambda p: init_lora(p, lora, 0), abstract_params(model_cfg))


def abstract_trainable(model_cfg, lora: LoraSettings | None) -> Any:
  """The shapes of what the optimizer updates (for make_optimizer)."""
  return abstract_params(model_cfg) if lora is None else abstract_lora(model_cfg, lora)


def abstract_state(model_cfg, tx, seed: int, lora: LoraSettings | None = None) -> TrainState:
  """The state's shapes and dtypes (nothing allocated)."""
  params = abstract_params(model_cfg)
  adapters = abstract_lora(model_cfg, lora)
  return TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=params,
                    opt_state=jax.eval_shape(tx.init, params if lora is None else adapters),
                    rng=jax.eval_shape(lambda: jax.random.key_data(jax.random.key(seed))),
                    lora=adapters)


def with_shardings(abstract: TrainState, shardings: TrainState) -> TrainState:
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract, shardings)


def create_state(params: Any, tx, seed: int, shardings: TrainState,
                 lora: LoraSettings | None = None) -> TrainState:
  """Step 0 with `params` (already placed), fresh adapters (LoRA), a fresh optimizer state and
  the run's rng."""
  adapters = None
  if lora is not None:
    adapters = jax.device_put(init_lora(params, lora, seed), shardings.lora)
  opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(
      params if lora is None else adapters)
  rng = jax.random.key_data(jax.random.fold_in(jax.random.key(seed), 1))
  return TrainState(step=jax.device_put(jnp.zeros((), jnp.int32), shardings.step), params=params,
                    opt_state=opt_state, rng=jax.device_put(rng, shardings.rng), lora=adapters)


def init_rng(seed: int) -> jax.Array:
  """The key that initialises the params (the train rng is folded from the same seed)."""
  return jax.random.fold_in(jax.random.key(seed), 0)
