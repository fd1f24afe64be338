"""Saves our params as HF transformers checkpoints: the inverse of `hf.load_hf`.

`save_hf(directory, kind, cfg, params)` writes `config.json` (the transformers config dict) and
`model.safetensors` (or `model-0000i-of-0000n.safetensors` shards + `model.safetensors.index.json`)
with HF's tensor names and layouts, in the layout `save_pretrained` of transformers 5.x writes:
  gemma:      model.*  (GemmaForCausalLM / Gemma2ForCausalLM / Gemma3ForCausalLM, picked from cfg;
              the lm_head is tied to the embedding and not written, as HF does)
  paligemma:  vision_tower.*, multi_modal_projector.linear.*, language_model.model.*
  gemma3:     vision_tower.*, multi_modal_projector.mm_*, language_model.model.*
              (Gemma3ForConditionalGeneration)
Tensor transposes are exactly those of `hf_gemma.convert_gemma`, `hf_paligemma.convert_projector` /
`convert_mm` and `hf_siglip.siglip_to_hf` run backwards, so save_hf -> load_hf gives back identical
params.
"""
import json
import uuid
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy

from big_paligemma import fs
from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf_gemma
from big_paligemma.interop import hf_siglip
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip

Tensors = Iterator[tuple[str, np.ndarray]]
KINDS = ("gemma", "gemma2", "gemma3_text", "paligemma", "gemma3")
# HF PaliGemma checkpoints put the image token right after big_vision's 257152-token vocabulary.
_PALIGEMMA_IMAGE_TOKEN = 257152
_LAYER_TYPES = {"local": "sliding_attention", "global": "full_attention"}
_ARCHITECTURES = {"gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
                  "gemma3_text": "Gemma3ForCausalLM"}


# ---------------------------------------------------------------- configs


def gemma_model_type(cfg: gemma.GemmaConfig) -> str:
  """The HF text model_type that expresses `cfg`: gemma3_text (QK norm), gemma2 (post norms) or
  gemma (neither)."""
  if cfg.post_attn_norm != cfg.post_ffw_norm:
    raise ValueError(f"GemmaConfig post_attn_norm={cfg.post_attn_norm} != post_ffw_norm="
                     f"{cfg.post_ffw_norm}: HF Gemma 2/3 have both post norms, Gemma 1 neither.")
  if cfg.qk_norm:
    if not cfg.post_attn_norm:
      raise ValueError("GemmaConfig.qk_norm=True without post norms has no HF architecture.")
    return "gemma3_text"
  return "gemma2" if cfg.post_attn_norm else "gemma"


def _rope(base: float, scale: float) -> dict:
  if scale == 1.0:
    return {"rope_type": "default", "rope_theta": base}
  return {"rope_type": "linear", "factor": scale, "rope_theta": base}


def _query_pre_attn_scalar(cfg: gemma.GemmaConfig) -> float:
  """HF scales queries by query_pre_attn_scalar**-0.5; an (almost) integral value is written as
  an int, as in released configs."""
  if cfg.query_scale is None:
    return cfg.head_dim
  scalar = cfg.query_scale ** -2
  return round(scalar) if abs(scalar - round(scalar)) < 1e-6 * scalar else scalar


def _check_gemma1(cfg: gemma.GemmaConfig):
  unsupported = {
      "attn_logit_softcap": cfg.attn_logit_softcap, "final_logit_softcap": cfg.final_logit_softcap,
      "layer_pattern (local layers)": "local" in cfg.layer_pattern or None,
      "rope_scale_global": None if cfg.rope_scale_global == 1.0 else cfg.rope_scale_global,
      "query_scale": (None if cfg.query_scale is None
                      or np.isclose(cfg.query_scale, cfg.head_dim ** -0.5) else cfg.query_scale)}
  for name, value in unsupported.items():
    if value is not None:
      raise ValueError(f"GemmaConfig.{name}={value!r} cannot be expressed by HF Gemma 1 (no post "
                       "norms); use a Gemma 2 config (post_attn_norm=post_ffw_norm=True).")


def gemma_config_to_hf(cfg: gemma.GemmaConfig, dtype: str | None = None) -> dict:
  """The HF text config dict (model_type, sizes, caps, rope, layer_types) expressing `cfg`; the
  inverse of `hf_gemma.gemma_config_from_hf`. dtype: the "dtype" field (default cfg.param_dtype)."""
  model_type = gemma_model_type(cfg)
  out = dict(
      model_type=model_type, vocab_size=cfg.vocab_size, hidden_size=cfg.width,
      intermediate_size=cfg.mlp_dim, num_hidden_layers=cfg.num_layers,
      num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
      head_dim=cfg.head_dim, rms_norm_eps=cfg.norm_eps, hidden_activation="gelu_pytorch_tanh",
      tie_word_embeddings=True, attention_bias=False,
      dtype=dtype or jnp.dtype(cfg.param_dtype).name)
  glob = _rope(cfg.rope_base_global, cfg.rope_scale_global)
  if model_type == "gemma":
    _check_gemma1(cfg)
    return {**out, "rope_parameters": glob}
  layer_types = [_LAYER_TYPES[cfg.layer_pattern[i % len(cfg.layer_pattern)]]
                 for i in range(cfg.num_layers)]
  out.update(query_pre_attn_scalar=_query_pre_attn_scalar(cfg), layer_types=layer_types,
             attn_logit_softcapping=cfg.attn_logit_softcap,
             final_logit_softcapping=cfg.final_logit_softcap,
             sliding_window=cfg.sliding_window if "local" in cfg.layer_pattern else None)
  local = _rope(cfg.rope_base_local, cfg.rope_scale_local)
  if model_type == "gemma3_text":
    return {**out, "rope_parameters": {"full_attention": glob, "sliding_attention": local}}
  if "local" in cfg.layer_pattern and local != glob:
    raise ValueError(f"GemmaConfig local RoPE {local} != global RoPE {glob}: HF Gemma 2 has one "
                     "RoPE for all layers; make rope_base/scale_local equal the global ones.")
  return {**out, "rope_parameters": glob}


def siglip_config_to_hf(img: siglip.SigLIPConfig) -> dict:
  """The HF SiglipVisionConfig dict of an encoder without pooling head (pool_type 'none')."""
  if img.pool_type != "none":
    raise ValueError(f"SigLIPConfig.pool_type={img.pool_type!r}: only 'none' (no head) is saved.")
  return dict(
      model_type="siglip_vision_model", hidden_size=img.width, intermediate_size=img.mlp_dim,
      num_hidden_layers=img.depth, num_attention_heads=img.num_heads, num_channels=3,
      image_size=img.image_size, patch_size=img.patch_size, layer_norm_eps=img.norm_eps,
      hidden_act="gelu_pytorch_tanh", vision_use_head=False)


def gemma3_config_to_hf(cfg: gemma3.Gemma3Config, dtype: str | None = None) -> dict:
  """The HF Gemma3Config dict; the inverse of `hf_paligemma.gemma3_config_from_hf` (boi/eoi
  token ids, which only the HF processor uses, keep transformers' defaults)."""
  if cfg.img is None:
    raise ValueError("Gemma3Config.img is None (text only): save cfg.llm with kind='gemma'.")
  if cfg.mm_norm_eps != cfg.img.norm_eps:
    raise ValueError(f"Gemma3Config.mm_norm_eps={cfg.mm_norm_eps} != img.norm_eps="
                     f"{cfg.img.norm_eps}: HF uses the vision layer_norm_eps for both.")
  text = gemma_config_to_hf(cfg.llm, dtype)
  if text["model_type"] != "gemma3_text":
    raise ValueError("Gemma3Config.llm is not a Gemma 3 decoder (qk_norm and post norms).")
  return dict(model_type="gemma3", architectures=["Gemma3ForConditionalGeneration"],
              text_config=text, vision_config=siglip_config_to_hf(cfg.img),
              mm_tokens_per_image=cfg.tokens_per_image, image_token_index=cfg.image_token_id,
              tie_word_embeddings=True, dtype=text["dtype"])


def paligemma_config_to_hf(cfg: paligemma.PaliGemmaConfig, dtype: str | None = None,
                           image_token_index: int | None = None) -> dict:
  """The HF PaliGemmaConfig dict; the inverse of `hf_paligemma.paligemma_config_from_hf`.

  image_token_index: default 257152 (the released checkpoints') when the vocabulary is larger,
  else vocab_size (HF maps ids >= vocab_size to 0 before the embedding lookup).
  """
  llm, img = cfg.llm, cfg.img
  if "local" in llm.layer_pattern and not llm.window_exempt_blocks:
    raise ValueError("PaliGemma llm has local layers with window_exempt_blocks=False; HF PaliGemma "
                     "2 always keeps the prefix block visible beyond the window (set it True).")
  if image_token_index is None:
    image_token_index = min(_PALIGEMMA_IMAGE_TOKEN, llm.vocab_size)
  dtype = dtype or jnp.dtype(llm.param_dtype).name
  text = gemma_config_to_hf(llm, dtype)
  vision = dict(siglip_config_to_hf(img), projection_dim=llm.width)
  return dict(model_type="paligemma", architectures=["PaliGemmaForConditionalGeneration"],
              text_config=text, vision_config=vision, projection_dim=llm.width,
              hidden_size=llm.width, vocab_size=llm.vocab_size,
              image_token_index=image_token_index, tie_word_embeddings=True, dtype=dtype)


# ---------------------------------------------------------------- tensors


def _np(x) -> np.ndarray:
  return np.asarray(jax.device_get(x))


def gemma_to_hf(params: Any, cfg: gemma.GemmaConfig) -> Tensors:
  """Inverse of `hf_gemma.convert_gemma`: our Gemma params -> (HF key after `model.`, array), one
  tensor at a time (stacked [L,...] params are sliced per layer before leaving the device)."""
  flat = tree_lib.flatten(params)
  n, kv, d, h = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim
  yield "embed_tokens.weight", _np(flat["embedder/input_embedding"])
  yield "norm.weight", _np(flat["final_norm/scale"])
  for i in range(cfg.num_layers):
    layer = lambda path, i=i: _np(flat[f"layers/{path}"][i])  # noqa: E731
    pre = f"layers.{i}."
    # [N,D,H] -> q_proj [N*H, D]; [2,K,D,H] -> k/v_proj [K*H, D]; [N,H,D] -> o_proj [D, N*H].
    yield pre + "self_attn.q_proj.weight", layer("attn/q_einsum/w").transpose(0, 2, 1).reshape(
        n * h, d)
    kv_w = layer("attn/kv_einsum/w")
    for j, c in enumerate("kv"):
      yield pre + f"self_attn.{c}_proj.weight", kv_w[j].transpose(0, 2, 1).reshape(kv * h, d)
    yield pre + "self_attn.o_proj.weight", layer("attn/attn_vec_einsum/w").transpose(
        2, 0, 1).reshape(d, n * h)
    # [2,D,F] -> gate/up_proj [F, D]; [F,D] -> down_proj [D, F].
    gating = layer("mlp/gating_einsum")
    yield pre + "mlp.gate_proj.weight", gating[0].T
    yield pre + "mlp.up_proj.weight", gating[1].T
    yield pre + "mlp.down_proj.weight", layer("mlp/linear").T
    for ours, theirs in hf_gemma.gemma_norm_names(cfg).items():
      yield pre + f"{theirs}.weight", layer(f"{ours}/scale")


def paligemma_to_hf(params: Any, cfg: paligemma.PaliGemmaConfig) -> Tensors:
  """Our PaliGemma params -> (full HF key, array) in the save_pretrained layout."""
  yield from _vision_to_hf(params["img"], cfg.img)
  head = params["img"]["head"]
  yield "multi_modal_projector.linear.weight", _np(head["kernel"]).T
  yield "multi_modal_projector.linear.bias", _np(head["bias"])
  for key, x in gemma_to_hf(params["llm"], cfg.llm):
    yield "language_model.model." + key, x


def _vision_to_hf(params: Any, cfg: siglip.SigLIPConfig) -> Tensors:
  """Our SigLIP params (without the PaliGemma head) -> (vision_tower.* key, array)."""
  img = {k: v for k, v in params.items() if k != "head"}
  for key, x in hf_siglip.siglip_to_hf(jax.tree.map(_np, img), cfg):
    yield "vision_tower." + key, x


def gemma3_to_hf(params: Any, cfg: gemma3.Gemma3Config) -> Tensors:
  """Our Gemma 3 multimodal params -> (full HF key, array) in the save_pretrained layout."""
  yield from _vision_to_hf(params["img"], cfg.img)
  mm = params["mm"]
  yield "multi_modal_projector.mm_soft_emb_norm.weight", _np(mm["soft_emb_norm"]["scale"])
  yield "multi_modal_projector.mm_input_projection_weight", _np(mm["input_projection"]["w"])
  for key, x in gemma_to_hf(params["llm"], cfg.llm):
    yield "language_model.model." + key, x


def _config_and_tensors(kind: str, cfg, params, dtype, image_token_index) -> tuple[dict, Tensors]:
  if kind == "paligemma":
    if not isinstance(cfg, paligemma.PaliGemmaConfig):
      raise ValueError(f"kind='paligemma' needs a PaliGemmaConfig, got {type(cfg).__name__}.")
    return (paligemma_config_to_hf(cfg, dtype, image_token_index),
            paligemma_to_hf(params, cfg))
  if kind == "gemma3":
    if not isinstance(cfg, gemma3.Gemma3Config):
      raise ValueError(f"kind='gemma3' needs a Gemma3Config, got {type(cfg).__name__}.")
    if image_token_index is not None:
      raise ValueError("kind='gemma3' takes the image token from Gemma3Config.image_token_id; "
                       "leave image_token_index unset.")
    return gemma3_config_to_hf(cfg, dtype), gemma3_to_hf(params, cfg)
  if kind not in KINDS:
    raise ValueError(f"save_hf kind={kind!r} is not supported; supported: {KINDS}.")
  if not isinstance(cfg, gemma.GemmaConfig):
    raise ValueError(f"kind={kind!r} needs a GemmaConfig, got {type(cfg).__name__}.")
  if image_token_index is not None:
    raise ValueError(f"image_token_index={image_token_index} is only for kind='paligemma'.")
  config = gemma_config_to_hf(cfg, dtype)
  if kind != "gemma" and kind != config["model_type"]:
    raise ValueError(f"kind={kind!r} but the GemmaConfig is HF {config['model_type']!r} (post "
                     f"norms={cfg.post_attn_norm}, qk_norm={cfg.qk_norm}); pass kind='gemma' "
                     "to pick it from the config.")
  config["architectures"] = [_ARCHITECTURES[config["model_type"]]]
  return config, (("model." + k, x) for k, x in gemma_to_hf(params, cfg))


# ---------------------------------------------------------------- files


def _shards(tensors: Tensors, dtype, max_shard_bytes: int) -> Iterator[dict[str, np.ndarray]]:
  """Groups tensors (C-contiguous, cast to dtype if given) into dicts of at most max_shard_bytes
  each (a single larger tensor gets a shard of its own)."""
  shard, size = {}, 0
  for key, x in tensors:
    # safetensors writes the raw buffer: a transposed (Fortran-order) view must be copied first.
    x = np.ascontiguousarray(x if dtype is None else x.astype(jnp.dtype(dtype)))
    if shard and size + x.nbytes > max_shard_bytes:
      yield shard
      shard, size = {}, 0
    shard[key] = x
    size += x.nbytes
  if shard:
    yield shard


def _write_tensors(tmp: str, tensors: Tensors, dtype, max_shard_bytes: int):
  """Writes the shards into tmp: model.safetensors alone, or numbered files + the index json."""
  weight_map, total, names = {}, 0, []
  for i, shard in enumerate(_shards(tensors, dtype, max_shard_bytes)):
    name = f"shard-{i}.tmp"
    fs.write_bytes(fs.join(tmp, name), safetensors.numpy.save(shard, metadata={"format": "pt"}))
    names.append(name)
    for key, x in shard.items():
      weight_map[key] = name
      total += x.nbytes
  if len(names) == 1:
    fs.rename(fs.join(tmp, names[0]), fs.join(tmp, "model.safetensors"))
    return
  final = {n: f"model-{i + 1:05d}-of-{len(names):05d}.safetensors" for i, n in enumerate(names)}
  for tmp_name, name in final.items():
    fs.rename(fs.join(tmp, tmp_name), fs.join(tmp, name))
  index = {"metadata": {"total_size": total},
           "weight_map": {k: final[v] for k, v in sorted(weight_map.items())}}
  fs.write_text(fs.join(tmp, "model.safetensors.index.json"), json.dumps(index, indent=2))


def save_hf(directory: str, kind: str, cfg, params, *, dtype: str | None = None,
            max_shard_bytes: int = 5 * 2**30, image_token_index: int | None = None) -> str:
  """Writes an HF checkpoint directory that `from_pretrained` and `hf.load_hf` read; returns it.

  kind: "paligemma" (PaliGemmaConfig), "gemma3" (Gemma3Config with an image encoder) or "gemma"
  (GemmaConfig; Gemma 1/2/3 text picked from the config), "gemma2" / "gemma3_text" (the same,
  checked). dtype: cast every tensor (e.g. "bfloat16"); None keeps the params' dtypes.
  Params must be fully addressable from this process (single host). max_shard_bytes: larger checkpoints are split into
  numbered shards + model.safetensors.index.json. image_token_index: PaliGemma only (see
  `paligemma_config_to_hf`). The files are written to a temporary directory next to `directory`
  and renamed into place, so `directory` never holds a partial checkpoint; it must not exist or be
  empty. `directory` may be a gs:// URL (the rename then copies object by object). Each shard is
  serialized in memory before it is written (peak host memory: about twice a shard).
  """
  if max_shard_bytes < 1:
    raise ValueError(f"max_shard_bytes={max_shard_bytes} must be positive.")
  directory = fs.abspath(directory)
  if fs.isdir(directory) and fs.listdir(directory):
    raise FileExistsError(f"{directory} exists and is not empty; pick a new directory.")
  dtype = jnp.dtype(dtype).name if dtype is not None else None
  config, tensors = _config_and_tensors(kind, cfg, params, dtype, image_token_index)
  tmp = fs.join(fs.dirname(directory), f".{fs.basename(directory)}.tmp-{uuid.uuid4().hex[:8]}")
  fs.makedirs(tmp)
  try:
    fs.write_text(fs.join(tmp, "config.json"), json.dumps(config, indent=2))
    _write_tensors(tmp, tensors, dtype, max_shard_bytes)
    fs.rmtree(directory)  # empty, if it exists
    fs.rename(tmp, directory)
  except BaseException:
    fs.rmtree(tmp)
    raise
  return directory
