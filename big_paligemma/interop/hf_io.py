"""The HF checkpoint machinery every family shares: safetensors reading, parts, placement.

Converter contract (shared by every family): `convert(read, cfg)` is a generator of
(slash param path, np.ndarray), one parameter at a time; `read(hf_key)` returns one HF tensor, the
key given without the part's prefix (e.g. `layers.0.self_attn.q_proj.weight`). A stacked [L,...]
parameter may be yielded as `stacked(L, layer_fn)` instead of an array: the loader then fills one
preallocated device array layer by layer, so the host holds one layer at a time.

`load(path, hf_config, arch)` streams the tensors one at a time through the architecture's
converters onto devices, checking every shape against models/build.abstract_params. The table of
architectures and `load_hf` are in hf.py; the families' converters in hf_gemma.py, hf_siglip.py
and hf_paligemma.py.
"""
import dataclasses
import difflib
import functools
import json
import math
import struct
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from big_paligemma import fs
from big_paligemma import tree as tree_lib
from big_paligemma.models import build
from big_paligemma.models import siglip

Read = Callable[[str], np.ndarray]
Converter = Callable[[Read, Any], Iterator[tuple[str, np.ndarray]]]


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
  config; the converted parts (the expected shapes come from models/build.abstract_params)."""
  model_type: str
  config_fn: Callable[[dict, str | None], Any]
  parts: tuple[Part, ...]


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


# safetensors dtype names -> numpy dtypes.
SAFETENSORS_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
    "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64, "F16": np.float16,
    "BF16": ml_dtypes.bfloat16, "F32": np.float32, "F64": np.float64,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2}


@dataclasses.dataclass(frozen=True)
class TensorEntry:
  """Where one tensor of a safetensors file is: bytes [begin, end) of the file."""
  dtype: np.dtype
  shape: tuple[int, ...]
  begin: int
  end: int


def safetensors_header(path: str) -> dict[str, TensorEntry]:
  """The tensors of the safetensors file at `path` (local or gs://), from its header alone."""
  with fs.open(path, "rb") as f:
    size = f.read(8)
    if len(size) < 8:
      raise ValueError(f"{path} is not a safetensors file (truncated before its header).")
    (length,) = struct.unpack("<Q", size)
    raw = f.read(length)
  if len(raw) < length:
    raise ValueError(f"{path} is truncated: its header needs {length} bytes, {len(raw)} remain.")
  try:
    header = json.loads(raw)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path} is not a safetensors file (bad header: {e}).") from e
  header.pop("__metadata__", None)
  out = {}
  for key, entry in header.items():
    if entry["dtype"] not in SAFETENSORS_DTYPES:
      raise ValueError(f"{path}: tensor {key!r} has dtype {entry['dtype']}; supported: "
                       f"{sorted(SAFETENSORS_DTYPES)}.")
    begin, end = entry["data_offsets"]
    out[key] = TensorEntry(np.dtype(SAFETENSORS_DTYPES[entry["dtype"]]), tuple(entry["shape"]),
                           8 + length + begin, 8 + length + end)
  return out


def read_tensor(path: str, key: str, entry: TensorEntry) -> np.ndarray:
  """Tensor `key` of the safetensors file at `path`: one ranged read of its bytes."""
  out = np.empty(entry.shape, entry.dtype)
  if out.nbytes != entry.end - entry.begin:
    raise ValueError(f"{path}: tensor {key!r} {entry.dtype}{list(entry.shape)} needs "
                     f"{out.nbytes} bytes, its header gives {entry.end - entry.begin}.")
  if not out.nbytes:
    return out
  with fs.open(path, "rb") as f:
    f.seek(entry.begin)
    got = f.readinto(memoryview(out.reshape(-1).view(np.uint8)))
  if got != out.nbytes:
    raise ValueError(f"{path} is truncated: tensor {key!r} needs bytes [{entry.begin}, "
                     f"{entry.end}), the file ends at {entry.begin + (got or 0)}.")
  return out


class Checkpoint:
  """The safetensors files of an HF checkpoint directory (local or gs://), read one tensor at a
  time: each file's header once, then one ranged read per tensor (nothing memory-mapped)."""

  def __init__(self, path: str):
    index = fs.join(path, "model.safetensors.index.json")
    single = fs.join(path, "model.safetensors")
    if fs.isfile(index):
      weight_map = json.loads(fs.read_text(index))["weight_map"]
    elif fs.isfile(single):
      weight_map = dict.fromkeys(safetensors_header(single), "model.safetensors")
    else:
      raise FileNotFoundError(f"No {single} or {index}: not an HF safetensors checkpoint.")
    self.files = {k: fs.join(path, v) for k, v in weight_map.items()}
    self._headers = {}

  def keys(self) -> list[str]:
    return sorted(self.files)

  def read(self, key: str) -> np.ndarray:
    """One tensor by its full key; a missing key raises KeyError naming the close keys."""
    if key not in self.files:
      close = difflib.get_close_matches(key, self.files, n=5, cutoff=0.6)
      raise KeyError(f"HF tensor {key!r} missing from the checkpoint; close keys: {close}.")
    path = self.files[key]
    if path not in self._headers:
      self._headers[path] = safetensors_header(path)
    if key not in self._headers[path]:
      raise KeyError(f"HF tensor {key!r} is not in {path}, where the index puts it.")
    return read_tensor(path, key, self._headers[path][key])


def resolve_prefix(keys: list[str], part: Part) -> str:
  """The first of `part.prefixes` under which `part.probe` exists."""
  for prefix in part.prefixes:
    if prefix + part.probe in keys:
      return prefix
  tried = [p + part.probe for p in part.prefixes]
  raise KeyError(f"None of {tried} is in the checkpoint (part {part.name!r}); keys start with "
                 f"{sorted({k.split('.')[0] for k in keys})}.")


def sharding_fn(sharding, shapes) -> Callable[[str], jax.sharding.Sharding]:
  if sharding is None:
    single = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return lambda path: single
  if callable(sharding) and not isinstance(sharding, jax.sharding.Sharding):
    return sharding
  if isinstance(sharding, jax.sharding.Sharding):
    return lambda path: sharding
  flat = tree_lib.flatten(sharding)
  return lambda path: flat[path]


@functools.partial(jax.jit, donate_argnums=0)
def _set_layer(stack: jax.Array, i: jax.Array, value: jax.Array) -> jax.Array:
  return jax.lax.dynamic_update_index_in_dim(stack, value.astype(stack.dtype), i, 0)


def place(value, want, sharding) -> jax.Array:
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


def read_config(path: str) -> dict:
  if not fs.isdir(path):
    raise FileNotFoundError(f"HF checkpoint directory {path!r} does not exist.")
  config_file = fs.join(path, "config.json")
  if not fs.isfile(config_file):
    raise FileNotFoundError(f"{config_file} is missing: not an HF checkpoint directory.")
  return json.loads(fs.read_text(config_file))


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


def load(path: str, hf: dict, arch: Architecture, *, dtype: str | None = None, sharding=None,
         image_size: int | None = None) -> tuple[str, Any, dict]:
  """Loads the HF checkpoint directory `path` (config.json dict `hf`) with `arch` ->
  (model_type, our config, params).

  dtype: parameter and compute dtype name ('float32' default, 'bfloat16'). sharding: None (first
  device), one jax.sharding.Sharding, a tree of them shaped like params, or a callable
  path -> Sharding. image_size: run the image encoder at this size instead of the checkpoint's;
  its position embedding is resampled bilinearly to the new patch grid (siglip.resample_posemb).
  Tensors are streamed one at a time; host copies are dropped after placement.
  """
  saved_cfg = arch.config_fn(hf, dtype)
  cfg = with_image_size(saved_cfg, image_size)
  saved = tree_lib.flatten(build.abstract_params(saved_cfg))
  expected = tree_lib.flatten(build.abstract_params(cfg))
  place_of = sharding_fn(sharding, expected)
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
      params[p] = place(array, want, place_of(p))
      del array
  missing = sorted(set(expected) - set(params))
  if missing:
    raise ValueError(f"The checkpoint gave no values for params {missing}.")
  return arch.model_type, cfg, tree_lib.unflatten(params)
