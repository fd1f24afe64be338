"""HF transformers SiglipVisionModel <-> our SigLIP parameters, one tensor at a time.

HF keys are relative to the vision model root (`embeddings.patch_embedding.weight`,
`encoder.layers.{i}.self_attn.q_proj.weight`, `post_layernorm.weight`, `head.probe`, ...); our paths
are relative to the `SigLIP` module (see big_paligemma/models/siglip.py). HF Linear weights are
[out, in], the conv weight is OIHW (ours HWIO); the pooling head's torch MultiheadAttention keeps
query/key/value in one `in_proj_weight` [3D, D] (rows q, then k, then v).
"""
import dataclasses
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf_io
from big_paligemma.models import build
from big_paligemma.models import siglip

_BLOCK = "Transformer/encoderblock/"
_HEAD = "MAPHead_0/"
_ATTN = "MultiHeadDotProductAttention_0/"


@dataclasses.dataclass(frozen=True)
class _Rule:
  """One of our leaves <-> (a part of) one HF tensor.

  hf may hold "{i}" (the layer index; then `ours` is stacked on a leading [depth] axis). part = (j, n)
  means our leaf is the j-th of n equal row blocks of the HF tensor (the fused in_proj).
  """
  ours: str
  hf: str
  to_ours: Callable[[np.ndarray], np.ndarray]
  to_hf: Callable[[np.ndarray], np.ndarray]
  part: tuple[int, int] | None = None

  @property
  def stacked(self) -> bool:
    return "{i}" in self.hf


def siglip_config_from_hf(hf_vision_config: Mapping[str, Any], **overrides) -> siglip.SigLIPConfig:
  """SigLIPConfig from an HF SiglipVisionConfig dict; overrides set other fields (dtype, pool_type...)."""
  c = dict(hf_vision_config)
  act = c.get("hidden_act", "gelu_pytorch_tanh")
  if act not in ("gelu_pytorch_tanh", "gelu_new"):
    raise ValueError(f"HF SigLIP hidden_act={act!r} is not supported; only tanh GELU "
                     "('gelu_pytorch_tanh').")
  if c.get("num_channels", 3) != 3:
    raise ValueError(f"HF SigLIP num_channels={c['num_channels']}: only RGB (3) is supported.")
  fields = dict(
      width=c["hidden_size"], depth=c["num_hidden_layers"], mlp_dim=c["intermediate_size"],
      num_heads=c["num_attention_heads"], patch_size=_square(c, "patch_size"),
      image_size=_square(c, "image_size"), norm_eps=c.get("layer_norm_eps", 1e-6),
      pool_type="map" if c.get("vision_use_head", True) else "none")
  return siglip.SigLIPConfig(**{**fields, **overrides})


def _square(c: Mapping[str, Any], key: str) -> int:
  value = c[key]
  if isinstance(value, (list, tuple)):
    if len(value) != 2 or value[0] != value[1]:
      raise ValueError(f"HF SigLIP {key}={value!r}: only square sizes are supported.")
    value = value[0]
  return int(value)


def _linear(ours: str, hf: str) -> list[_Rule]:
  return [_Rule(ours + "/kernel", hf + ".weight", lambda w: w.T, lambda k: k.T),
          _Rule(ours + "/bias", hf + ".bias", lambda b: b, lambda b: b)]


def _norm(ours: str, hf: str) -> list[_Rule]:
  return [_Rule(ours + "/scale", hf + ".weight", lambda w: w, lambda s: s),
          _Rule(ours + "/bias", hf + ".bias", lambda b: b, lambda b: b)]


def _attention(ours: str, hf_qkv: Mapping[str, str], hf_out: str, cfg, fused: bool) -> list[_Rule]:
  """q/k/v kernels [D, N, H] <- HF [N*H, D]; out kernel [N, H, D] <- HF [D, N*H]."""
  d, n, h = cfg.width, cfg.num_heads, cfg.head_dim
  rules = []
  for j, name in enumerate(("query", "key", "value")):
    part = (j, 3) if fused else None
    rules.append(_Rule(f"{ours}{name}/kernel", hf_qkv[name] + "weight",
                       lambda w: w.T.reshape(d, n, h), lambda k: k.reshape(d, n * h).T, part))
    rules.append(_Rule(f"{ours}{name}/bias", hf_qkv[name] + "bias",
                       lambda b: b.reshape(n, h), lambda b: b.reshape(n * h), part))
  rules.append(_Rule(f"{ours}out/kernel", hf_out + ".weight",
                     lambda w: w.T.reshape(n, h, d), lambda k: k.reshape(n * h, d).T))
  rules.append(_Rule(f"{ours}out/bias", hf_out + ".bias", lambda b: b, lambda b: b))
  return rules


def _rules(cfg: siglip.SigLIPConfig) -> list[_Rule]:
  """The whole mapping for one config."""
  layer = "encoder.layers.{i}."
  qkv = {n: f"{layer}self_attn.{n[0]}_proj." for n in ("query", "key", "value")}
  rules = [
      _Rule("embedding/kernel", "embeddings.patch_embedding.weight",
            lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1)),
      _Rule("embedding/bias", "embeddings.patch_embedding.bias", lambda b: b, lambda b: b),
      _Rule("pos_embedding", "embeddings.position_embedding.weight",
            lambda w: w[None], lambda p: p[0]),
      *_norm(_BLOCK + "LayerNorm_0", layer + "layer_norm1"),
      *_attention(_BLOCK + _ATTN, qkv, layer + "self_attn.out_proj", cfg, fused=False),
      *_norm(_BLOCK + "LayerNorm_1", layer + "layer_norm2"),
      *_linear(_BLOCK + "MlpBlock_0/Dense_0", layer + "mlp.fc1"),
      *_linear(_BLOCK + "MlpBlock_0/Dense_1", layer + "mlp.fc2"),
      *_norm("Transformer/encoder_norm", "post_layernorm"),
  ]
  if cfg.pool_type == "map":
    fused = {n: "head.attention.in_proj_" for n in ("query", "key", "value")}
    rules += [
        _Rule(_HEAD + "probe", "head.probe", lambda p: p, lambda p: p),
        *_attention(_HEAD + _ATTN, fused, "head.attention.out_proj", cfg, fused=True),
        *_norm(_HEAD + "LayerNorm_0", "head.layernorm"),
        *_linear(_HEAD + "MlpBlock_0/Dense_0", "head.mlp.fc1"),
        *_linear(_HEAD + "MlpBlock_0/Dense_1", "head.mlp.fc2"),
    ]
  return rules


def _read_one(read: Callable[[str], np.ndarray], rule: _Rule, hf_key: str) -> np.ndarray:
  x = np.asarray(read(hf_key))
  if rule.part is not None:
    j, n = rule.part
    if x.shape[0] % n:
      raise ValueError(f"HF {hf_key} {x.shape}: leading axis not divisible into {n} parts.")
    rows = x.shape[0] // n
    x = x[j * rows:(j + 1) * rows]
  return rule.to_ours(x)


def convert_siglip(read: Callable[[str], np.ndarray],
                   cfg: siglip.SigLIPConfig) -> Iterator[tuple[str, np.ndarray]]:
  """Yields (our slash path, array) one parameter at a time from HF tensors given by `read(hf_key)`.

  Stacked block parameters are preallocated [depth, ...] and filled layer by layer. Dtypes are kept
  as read. A shape that does not match `cfg` raises ValueError naming the HF key.
  """
  shapes = {p: x.shape for p, x in tree_lib.flatten(build.abstract_params(cfg)).items()}
  for rule in _rules(cfg):
    want = shapes[rule.ours]
    if rule.stacked:
      out = None
      for i in range(cfg.depth):
        key = rule.hf.format(i=i)
        x = _read_one(read, rule, key)
        _check_shape(key, rule.ours, x.shape, want[1:])
        if out is None:
          out = np.empty(want, x.dtype)
        out[i] = x
    else:
      out = _read_one(read, rule, rule.hf)
      _check_shape(rule.hf, rule.ours, out.shape, want)
    yield rule.ours, out


def _check_shape(hf_key: str, ours: str, got: tuple[int, ...], want: tuple[int, ...]) -> None:
  if tuple(got) != tuple(want):
    raise ValueError(f"HF {hf_key} converts to {ours} of shape {tuple(got)}, but the SigLIP config "
                     f"expects {tuple(want)}: check the config (width, heads, patch, image size).")


def siglip_to_hf(params: Mapping[str, Any],
                 cfg: siglip.SigLIPConfig) -> Iterator[tuple[str, np.ndarray]]:
  """Inverse of convert_siglip: yields (HF key relative to the vision model root, array).

  params is our SigLIP param tree (nested dict) or a flat {slash path: array} mapping.
  """
  flat = tree_lib.flatten(params)  # also a flat {slash path: array} mapping as it is
  parts: dict[str, list[np.ndarray]] = {}
  for rule in _rules(cfg):
    value = np.asarray(flat[rule.ours])
    layers = range(cfg.depth) if rule.stacked else [None]
    for i in layers:
      key = rule.hf.format(i=i) if rule.stacked else rule.hf
      x = rule.to_hf(value[i] if rule.stacked else value)
      if rule.part is None:
        yield key, x
        continue
      parts.setdefault(key, []).append(x)
      if len(parts[key]) == rule.part[1]:
        yield key, np.concatenate(parts.pop(key), axis=0)


def _vision_model_config(hf: dict, dtype: str | None) -> siglip.SigLIPConfig:
  dtype = dtype or "float32"
  return siglip_config_from_hf(hf.get("vision_config", hf), dtype=dtype, param_dtype=dtype)


# SiglipVisionModel -> ("siglip", SigLIPConfig, SigLIP params at the root).
VISION_MODEL = hf_io.Architecture(
    "siglip", _vision_model_config,
    (hf_io.Part("", ("", "vision_model.", "model.vision_model."),
                "embeddings.patch_embedding.weight", convert_siglip),))
