"""HF GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM <-> our Gemma decoder.

The config builder (config.json -> GemmaConfig, with transformers' class defaults for the fields a
hub file omits), the tensor converter (`convert_gemma`), the per-layer norm name table shared with
saving (hf_save.py), and the causal-LM `Architecture` ("gemma": Gemma params at the root of the
tree: embedder/..., layers/..., final_norm/...).
"""
from typing import Any, Iterator

import numpy as np

from big_paligemma.interop import hf_io
from big_paligemma.models import gemma

_ROPE_TYPES = ("default", "linear")


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
    hf = hf_io.with_class_defaults(hf, hf["model_type"])
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


def convert_gemma(read: hf_io.Read, cfg: gemma.GemmaConfig) -> Iterator[tuple[str, Any]]:
  """HF Gemma 1/2/3 decoder tensors (keys after `model.`) -> our Gemma param paths (np.ndarray,
  or `Stacked` for the [L,...] params)."""
  n, kv, d, h = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim
  layer = lambda i, name: read(f"layers.{i}.{name}.weight")  # noqa: E731
  stack = lambda fn: hf_io.stacked(cfg.num_layers, fn)  # noqa: E731
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


_CAUSAL_LM_PREFIXES = ("model.", "model.language_model.", "language_model.model.")
CAUSAL_LM = hf_io.Architecture(
    model_type="gemma", config_fn=gemma_config_from_hf,
    parts=(hf_io.Part("", _CAUSAL_LM_PREFIXES, "embed_tokens.weight", convert_gemma),))
