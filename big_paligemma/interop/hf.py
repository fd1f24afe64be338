"""Loads HF transformers checkpoints (config.json + safetensors) into this package's models.

`load_hf(path)` reads config.json, picks an `Architecture` from `ARCHITECTURES` by its
`architectures[0]`, builds our config, and streams the tensors one at a time through the family's
converter onto devices, checking every shape against `jax.eval_shape` of our module.

Converter contract (shared by every family): `convert(read, cfg)` is a generator of
(slash param path, np.ndarray), one parameter at a time; `read(hf_key)` returns one HF tensor, the
key given without the part's prefix (e.g. `layers.0.self_attn.q_proj.weight`). A stacked [L,...]
parameter may be yielded as `stacked(L, layer_fn)` instead of an array: the loader then fills one
preallocated device array layer by layer, so the host holds one layer at a time.

Registered now: GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM -> ("gemma", GemmaConfig,
Gemma params at the root of the tree: embedder/..., layers/..., final_norm/...);
PaliGemmaForConditionalGeneration -> "paligemma", Gemma3ForConditionalGeneration -> "gemma3"
(see hf_paligemma.py).
"""
import dataclasses
import difflib
import functools
import json
import math
import os
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from safetensors import safe_open

from big_paligemma import tree as tree_lib
from big_paligemma.models import gemma
from big_paligemma.models import siglip

Read = Callable[[str], np.ndarray]
Converter = Callable[[Read, Any], Iterator[tuple[str, np.ndarray]]]
_ROPE_TYPES = ("default", "linear")


@dataclasses.dataclass(frozen=True)
class Part:
  """A sub-model converted by one converter: its params go under `name` ('' = the tree root).

  prefixes: candidate HF key prefixes; the first for which `probe` exists wins (HF 5.x and older
  layouts differ). sub_config: our config -> the config the converter gets.
  """
  name: str
  prefixes: tuple[str, ...]
  probe: str
  convert: Converter
  sub_config: Callable[[Any], Any] = lambda cfg: cfg


@dataclasses.dataclass(frozen=True)
class Architecture:
  """How to load one HF architecture: config_fn(config.json dict, dtype name or None) -> our
  config; shapes_fn(our config) -> abstract params (jax.ShapeDtypeStruct tree, e.g. from
  jax.eval_shape); the converted parts."""
  model_type: str
  config_fn: Callable[[dict, str | None], Any]
  shapes_fn: Callable[[Any], Any]
  parts: tuple[Part, ...]


# ---------------------------------------------------------------- Gemma family


# transformers' config-class defaults for the fields our builders read: config.json files on the
# hub list only the fields that differ (e.g. PaliGemma 2's text_config has no softcaps, head_dim or
# layer_types), and transformers fills the rest from these classes.
_CLASS_DEFAULTS = {
    "gemma": dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576,
                  num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16,
                  head_dim=256, rms_norm_eps=1e-6),
    "gemma2": dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                   num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                   rms_norm_eps=1e-6, query_pre_attn_scalar=256, sliding_window=4096,
                   final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    "gemma3_text": dict(vocab_size=262208, hidden_size=2304, intermediate_size=9216,
                        num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                        head_dim=256, rms_norm_eps=1e-6, query_pre_attn_scalar=256,
                        sliding_window=4096),
    "siglip_vision_model": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                num_attention_heads=12, num_channels=3, image_size=224,
                                patch_size=16, layer_norm_eps=1e-6),
}
# Every `period`-th layer (1-based) is global when config.json has no layer_types.
_GLOBAL_PERIOD = {"gemma2": 2, "gemma3_text": 6}


def with_class_defaults(sub: dict, default_model_type: str) -> dict:
  """A sub-config dict completed as transformers would: class defaults for absent fields and the
  default layer_types (Gemma 2: alternating from sliding; Gemma 3: `sliding_window_pattern`)."""
  model_type = sub.get("model_type", default_model_type)
  if model_type not in _CLASS_DEFAULTS:
    raise ValueError(f"HF sub-config model_type={model_type!r} not supported; supported: "
                     f"{sorted(_CLASS_DEFAULTS)}.")
  out = {**_CLASS_DEFAULTS[model_type], **sub, "model_type": model_type}
  if model_type in _GLOBAL_PERIOD and not out.get("layer_types"):
    period = out.get("sliding_window_pattern", _GLOBAL_PERIOD[model_type])
    out["layer_types"] = ["full_attention" if (i + 1) % period == 0 else "sliding_attention"
                          for i in range(out["num_hidden_layers"])]
  return out


def _rope_params(hf: dict) -> tuple[dict, dict]:
  """(local, global) RoPE dicts with rope_theta / rope_type / factor, from new or old config keys."""
  default_global = 1_000_000.0 if hf.get("model_type") == "gemma3_text" else 10_000.0
  rp = hf.get("rope_parameters")
  if rp and "full_attention" in rp:
    return rp.get("sliding_attention", {}), rp["full_attention"]
  if rp:
    return rp, rp
  glob = {"rope_theta": hf.get("rope_theta", default_global), **(hf.get("rope_scaling") or {})}
  # Gemma 3's local layers keep base 10k whatever rope_theta (the global base) says.
  local_default = 10_000.0 if hf.get("model_type") == "gemma3_text" else hf.get("rope_theta", 10_000.0)
  local = {"rope_theta": hf.get("rope_local_base_freq", local_default)}
  return local, glob


def _rope_base_scale(rope: dict, kind: str) -> tuple[float, float]:
  rope_type = rope.get("rope_type", rope.get("type", "default"))
  if rope_type not in _ROPE_TYPES:
    raise ValueError(f"HF {kind} rope_type={rope_type!r} is not supported; supported: {_ROPE_TYPES}.")
  scale = float(rope.get("factor", 1.0)) if rope_type == "linear" else 1.0
  return float(rope.get("rope_theta", 10_000.0)), scale


def _layer_pattern(hf: dict) -> tuple[str, ...]:
  """The shortest period of HF `layer_types` as 'local'/'global' (all 'global' when absent)."""
  kinds = {"sliding_attention": "local", "full_attention": "global"}
  types = hf.get("layer_types") or ["full_attention"] * hf["num_hidden_layers"]
  unknown = sorted(set(types) - set(kinds))
  if unknown:
    raise ValueError(f"HF layer_types {unknown} not supported; supported: {sorted(kinds)}.")
  seq = [kinds[t] for t in types]
  period = next(p for p in range(1, len(seq) + 1)
                if all(seq[i] == seq[i % p] for i in range(len(seq))))
  return tuple(seq[:period])


def _check_unsupported(hf: dict):
  act = hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh"
  checks = {"attention_bias": (hf.get("attention_bias", False), False),
            "use_bidirectional_attention": (bool(hf.get("use_bidirectional_attention")), False),
            "tie_word_embeddings": (hf.get("tie_word_embeddings", True), True),
            "hidden_activation": (act in ("gelu_pytorch_tanh", "gelu"), True)}
  for key, (found, wanted) in checks.items():
    if found != wanted:
      raise ValueError(f"HF config {key}={hf.get(key, act)!r} is not supported by the Gemma model.")


def gemma_config_from_hf(hf: dict, dtype: str | None = None) -> gemma.GemmaConfig:
  """A GemmaConfig from a Gemma/Gemma2/Gemma3-text config.json dict (param and compute dtype =
  `dtype`, default float32)."""
  hf = hf.get("text_config", hf)
  if "model_type" in hf:  # Released config.json files omit fields at their class default.
    hf = with_class_defaults(hf, hf["model_type"])
  _check_unsupported(hf)
  local, glob = _rope_params(hf)
  base_local, scale_local = _rope_base_scale(local, "sliding_attention")
  base_global, scale_global = _rope_base_scale(glob, "full_attention")
  pattern = _layer_pattern(hf)
  is_gemma1 = hf.get("model_type") == "gemma"
  scalar = hf.get("query_pre_attn_scalar")
  dtype = dtype or "float32"
  return gemma.GemmaConfig(
      vocab_size=hf["vocab_size"], num_layers=hf["num_hidden_layers"],
      num_heads=hf["num_attention_heads"], num_kv_heads=hf["num_key_value_heads"],
      width=hf["hidden_size"], mlp_dim=hf["intermediate_size"], head_dim=hf["head_dim"],
      query_scale=None if is_gemma1 or scalar is None else float(scalar) ** -0.5,
      post_attn_norm=not is_gemma1, post_ffw_norm=not is_gemma1,
      attn_logit_softcap=hf.get("attn_logit_softcapping"),
      final_logit_softcap=hf.get("final_logit_softcapping"),
      sliding_window=hf.get("sliding_window") if "local" in pattern else None,
      layer_pattern=pattern, rope_base_local=base_local, rope_base_global=base_global,
      rope_scale_local=scale_local, rope_scale_global=scale_global,
      qk_norm=hf.get("model_type") == "gemma3_text", norm_eps=hf.get("rms_norm_eps", 1e-6),
      dtype=dtype, param_dtype=dtype)


@dataclasses.dataclass(frozen=True)
class Stacked:
  """A [L,...] param given layer by layer: layer(i) -> np.ndarray. Converters may yield it instead
  of an np.ndarray; the loader fills one preallocated (device) array with it, so the host never
  holds more than one layer."""
  num_layers: int
  layer: Callable[[int], np.ndarray]

  def __array__(self, dtype=None, copy=None):
    """The whole [L,...] array on the host (one preallocated array, filled layer by layer)."""
    first = np.asarray(self.layer(0), dtype)
    out = np.empty((self.num_layers,) + first.shape, first.dtype)
    out[0] = first
    for i in range(1, self.num_layers):
      out[i] = self.layer(i)
    return out


def stacked(num_layers: int, layer: Callable[[int], np.ndarray]) -> Stacked:
  """The [L,...] param whose layer i is layer(i) (see `Stacked`)."""
  return Stacked(num_layers, layer)


def convert_gemma(read: Read, cfg: gemma.GemmaConfig) -> Iterator[tuple[str, Any]]:
  """HF Gemma 1/2/3 decoder tensors (keys after `model.`) -> our Gemma param paths (np.ndarray,
  or `Stacked` for the [L,...] params)."""
  n, kv, d, h = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim
  layer = lambda i, name: read(f"layers.{i}.{name}.weight")  # noqa: E731
  stack = lambda fn: stacked(cfg.num_layers, fn)  # noqa: E731
  yield "embedder/input_embedding", read("embed_tokens.weight")
  yield "final_norm/scale", read("norm.weight")
  # q_proj [N*H, D] -> [N,D,H]; k/v_proj [K*H, D] -> [2,K,D,H]; o_proj [D, N*H] -> [N,H,D].
  yield "layers/attn/q_einsum/w", stack(
      lambda i: layer(i, "self_attn.q_proj").reshape(n, h, d).transpose(0, 2, 1))
  yield "layers/attn/kv_einsum/w", stack(lambda i: np.stack(
      [layer(i, f"self_attn.{c}_proj").reshape(kv, h, d).transpose(0, 2, 1) for c in "kv"]))
  yield "layers/attn/attn_vec_einsum/w", stack(
      lambda i: layer(i, "self_attn.o_proj").reshape(d, n, h).transpose(1, 2, 0))
  # gate/up_proj [F, D] -> [2,D,F]; down_proj [D, F] -> [F,D].
  yield "layers/mlp/gating_einsum", stack(
      lambda i: np.stack([layer(i, f"mlp.{c}_proj").T for c in ("gate", "up")]))
  yield "layers/mlp/linear", stack(lambda i: layer(i, "mlp.down_proj").T)
  for ours, theirs in gemma_norm_names(cfg).items():
    yield f"layers/{ours}/scale", stack(lambda i, theirs=theirs: layer(i, theirs))


def gemma_norm_names(cfg: gemma.GemmaConfig) -> dict[str, str]:
  """Our per-layer norm (under layers/) -> its HF name in a decoder layer (loading and saving).
  Gemma 1's post_attention_layernorm is the norm before the MLP."""
  norms = {"pre_attention_norm": "input_layernorm"}
  if cfg.post_attn_norm:
    norms.update(post_attention_norm="post_attention_layernorm",
                 pre_ffw_norm="pre_feedforward_layernorm",
                 post_ffw_norm="post_feedforward_layernorm")
  else:
    norms["pre_ffw_norm"] = "post_attention_layernorm"
  if cfg.qk_norm:
    norms.update({"attn/query_norm": "self_attn.q_norm", "attn/key_norm": "self_attn.k_norm"})
  return norms


def gemma_param_shapes(cfg: gemma.GemmaConfig):
  """Abstract Gemma params (jax.ShapeDtypeStruct tree) without allocating them."""
  x = jax.ShapeDtypeStruct((1, 1, cfg.width), jnp.float32)
  pos = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  mask = jax.ShapeDtypeStruct((1, 1, 1), jnp.bool_)
  init = lambda x, pos, mask: gemma.Gemma(cfg).init(jax.random.key(0), x, pos, mask)  # noqa: E731
  return jax.eval_shape(init, x, pos, mask)["params"]


_CAUSAL_LM_PREFIXES = ("model.", "model.language_model.", "language_model.model.")
_GEMMA_CAUSAL_LM = Architecture(
    model_type="gemma", config_fn=gemma_config_from_hf, shapes_fn=gemma_param_shapes,
    parts=(Part("", _CAUSAL_LM_PREFIXES, "embed_tokens.weight", convert_gemma),))



def _siglip_vision_model() -> Architecture:
  """SiglipVisionModel -> ("siglip", SigLIPConfig, SigLIP params at the root); imported lazily."""
  from big_paligemma.interop import hf_siglip  # pylint: disable=g-import-not-at-top

  def config_fn(hf: dict, dtype: str | None):
    dtype = jnp.dtype(dtype or "float32")
    return hf_siglip.siglip_config_from_hf(hf.get("vision_config", hf), dtype=dtype,
                                           param_dtype=dtype)

  def shapes_fn(cfg):
    images = jax.ShapeDtypeStruct((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
    return jax.eval_shape(siglip.SigLIP(cfg).init, jax.random.key(0), images)["params"]

  part = Part("", ("", "vision_model.", "model.vision_model."), "embeddings.patch_embedding.weight",
              hf_siglip.convert_siglip)
  return Architecture("siglip", config_fn, shapes_fn, (part,))


def _hf_paligemma(name: str) -> Architecture:
  """PaliGemma / Gemma 3 multimodal entries; hf_paligemma imports this module, hence lazily."""
  from big_paligemma.interop import hf_paligemma  # pylint: disable=g-import-not-at-top
  return hf_paligemma.ARCHITECTURES[name]


# Values are an Architecture or a zero-argument function returning one (for lazy imports).
ARCHITECTURES: dict[str, Architecture | Callable[[], Architecture]] = {
    "GemmaForCausalLM": _GEMMA_CAUSAL_LM,
    "Gemma2ForCausalLM": _GEMMA_CAUSAL_LM,
    "Gemma3ForCausalLM": _GEMMA_CAUSAL_LM,
    "SiglipVisionModel": _siglip_vision_model,
    **{name: functools.partial(_hf_paligemma, name)
       for name in ("PaliGemmaForConditionalGeneration", "Gemma3ForConditionalGeneration")},
}


# ---------------------------------------------------------------- generic loader


class Checkpoint:
  """The safetensors files of an HF checkpoint directory, read one tensor at a time."""

  def __init__(self, path: str):
    index = os.path.join(path, "model.safetensors.index.json")
    single = os.path.join(path, "model.safetensors")
    if os.path.exists(index):
      with open(index) as f:
        weight_map = json.load(f)["weight_map"]
    elif os.path.exists(single):
      with safe_open(single, "np") as f:
        weight_map = {k: "model.safetensors" for k in f.keys()}
    else:
      raise FileNotFoundError(f"No {single} or {index}: not an HF safetensors checkpoint.")
    self.files = {k: os.path.join(path, v) for k, v in weight_map.items()}

  def keys(self) -> list[str]:
    return sorted(self.files)

  def read(self, key: str) -> np.ndarray:
    """One tensor by its full key; a missing key raises KeyError naming the close keys."""
    if key not in self.files:
      close = difflib.get_close_matches(key, self.files, n=5, cutoff=0.6)
      raise KeyError(f"HF tensor {key!r} missing from the checkpoint; close keys: {close}.")
    # Opened per tensor so that no file stays memory-mapped (mapped pages count as resident).
    with safe_open(self.files[key], "np") as f:
      return f.get_tensor(key)


def resolve_prefix(keys: list[str], part: Part) -> str:
  """The first of `part.prefixes` under which `part.probe` exists."""
  for prefix in part.prefixes:
    if prefix + part.probe in keys:
      return prefix
  tried = [p + part.probe for p in part.prefixes]
  raise KeyError(f"None of {tried} is in the checkpoint (part {part.name!r}); keys start with "
                 f"{sorted({k.split('.')[0] for k in keys})}.")


def _flat_paths(tree) -> dict[str, Any]:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {"/".join(str(k.key) for k in path): leaf for path, leaf in flat}


def _sharding_fn(sharding, shapes) -> Callable[[str], jax.sharding.Sharding]:
  if sharding is None:
    single = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return lambda path: single
  if callable(sharding) and not isinstance(sharding, jax.sharding.Sharding):
    return sharding
  if isinstance(sharding, jax.sharding.Sharding):
    return lambda path: sharding
  flat = _flat_paths(sharding)
  return lambda path: flat[path]


@functools.partial(jax.jit, donate_argnums=0)
def _set_layer(stack: jax.Array, i: jax.Array, value: jax.Array) -> jax.Array:
  return jax.lax.dynamic_update_index_in_dim(stack, value.astype(stack.dtype), i, 0)


def _place(value, want, sharding) -> jax.Array:
  """An np.ndarray or `Stacked` -> a jax.Array of want.dtype on `sharding`, layer by layer for
  `Stacked` (into one donated device buffer)."""
  if not isinstance(value, Stacked):
    return jax.device_put(np.asarray(value, want.dtype), sharding)
  out = jax.jit(lambda: jnp.zeros(want.shape, want.dtype), out_shardings=sharding)()
  for i in range(value.num_layers):
    out = _set_layer(out, jnp.int32(i), np.asarray(value.layer(i), want.dtype))
  return out


def _shape(value) -> tuple[int, ...]:
  if isinstance(value, Stacked):
    return (value.num_layers,) + np.shape(value.layer(0))
  return tuple(np.shape(value))


def _read_config(path: str) -> dict:
  if not os.path.isdir(path):
    raise FileNotFoundError(f"HF checkpoint directory {path!r} does not exist.")
  config_file = os.path.join(path, "config.json")
  if not os.path.exists(config_file):
    raise FileNotFoundError(f"{config_file} is missing: not an HF checkpoint directory.")
  with open(config_file) as f:
    return json.load(f)


def _architecture(hf: dict) -> Architecture:
  archs = hf.get("architectures") or []
  for name in archs:
    if name in ARCHITECTURES:
      arch = ARCHITECTURES[name]
      return arch if isinstance(arch, Architecture) else arch()
  raise ValueError(f"HF architectures {archs} not supported; supported: {sorted(ARCHITECTURES)}.")


def with_image_size(cfg, image_size: int | None):
  """`cfg` (a SigLIPConfig or a config with an `img` SigLIPConfig) at another image size."""
  if image_size is None:
    return cfg
  img = cfg if isinstance(cfg, siglip.SigLIPConfig) else getattr(cfg, "img", None)
  if img is None:
    raise ValueError(f"image_size={image_size} was given but {type(cfg).__name__} has no image "
                     "encoder; leave image_size unset.")
  new_img = dataclasses.replace(img, image_size=image_size)
  return new_img if cfg is img else dataclasses.replace(cfg, img=new_img)


def load_hf(path: str, *, dtype: str | None = None, sharding=None,
            image_size: int | None = None) -> tuple[str, Any, dict]:
  """Loads an HF checkpoint directory -> (model_type, our config, params).

  dtype: parameter and compute dtype name ('float32' default, 'bfloat16'). sharding: None (first
  device), one jax.sharding.Sharding, a tree of them shaped like params, or a callable
  path -> Sharding. image_size: run the image encoder at this size instead of the checkpoint's;
  its position embedding is resampled bilinearly to the new patch grid (siglip.resample_posemb).
  Tensors are streamed one at a time; host copies are dropped after placement.
  """
  hf = _read_config(path)
  arch = _architecture(hf)
  saved_cfg = arch.config_fn(hf, dtype)
  cfg = with_image_size(saved_cfg, image_size)
  saved = _flat_paths(arch.shapes_fn(saved_cfg))
  expected = _flat_paths(arch.shapes_fn(cfg))
  place = _sharding_fn(sharding, expected)
  ckpt = Checkpoint(path)
  keys = ckpt.keys()
  params = {}
  for part in arch.parts:
    prefix = resolve_prefix(keys, part)
    read = lambda key, prefix=prefix: ckpt.read(prefix + key)  # noqa: E731
    for sub_path, array in part.convert(read, part.sub_config(saved_cfg)):
      p = f"{part.name}/{sub_path}" if part.name else sub_path
      if p not in saved:
        raise ValueError(f"Converter yielded {p!r}, which the model does not have.")
      if _shape(array) != tuple(saved[p].shape):
        raise ValueError(f"Param {p!r}: expected shape {tuple(saved[p].shape)}, found "
                         f"{_shape(array)} in the checkpoint.")
      want = expected[p]
      if p.endswith("pos_embedding") and want.shape != saved[p].shape:
        grid = math.isqrt(want.shape[1])
        array = np.asarray(siglip.resample_posemb(jnp.asarray(np.asarray(array)), grid))
      params[p] = _place(array, want, place(p))
      del array
  missing = sorted(set(expected) - set(params))
  if missing:
    raise ValueError(f"The checkpoint gave no values for params {missing}.")
  return arch.model_type, cfg, tree_lib.unflatten(params)
