"""HF PaliGemmaForConditionalGeneration and Gemma3ForConditionalGeneration -> our models.

Config builders, converters and the `ARCHITECTURES` entries that hf.py's table includes, so
`hf.load_hf(path)` loads both (same Part / Architecture machinery as the causal LMs).
Each part accepts the key layouts HF has used:
  in memory (5.x):   model.vision_tower.*, model.multi_modal_projector.*, model.language_model.*
  save_pretrained:   vision_tower.*, multi_modal_projector.*, language_model.model.*
  hub files (4.x):   vision_tower.vision_model.*, multi_modal_projector.*, language_model.model.*

Our trees: PaliGemma {img: SigLIP + head (= multi_modal_projector.linear), llm: Gemma};
Gemma 3 {img: SigLIP, mm: {soft_emb_norm/scale (= mm_soft_emb_norm.weight),
input_projection/w (= mm_input_projection_weight, already [D_img,D])}, llm: Gemma}.
"""
import dataclasses
from typing import Any, Iterator

import numpy as np

from big_paligemma.interop import hf_gemma
from big_paligemma.interop import hf_io
from big_paligemma.interop import hf_siglip
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma

_VISION = ("model.vision_tower.", "vision_tower.", "model.vision_tower.vision_model.",
           "vision_tower.vision_model.")
_PROJECTOR = ("model.multi_modal_projector.", "multi_modal_projector.")
_LANGUAGE = ("model.language_model.", "language_model.model.", "language_model.")
_VISION_PROBE = "embeddings.patch_embedding.weight"


def _text_config(hf_cfg: dict, default_model_type: str) -> dict:
  """The completed text_config. PaliGemmaConfig forces use_bidirectional_attention=True, which only
  selects HF's mask when no token_type_ids are given, so it is dropped for PaliGemma."""
  text = hf_io.with_class_defaults(hf_cfg.get("text_config") or {}, default_model_type)
  if hf_cfg.get("model_type") == "paligemma":
    text.pop("use_bidirectional_attention", None)
  return text


def _vision_config(hf_cfg: dict) -> dict:
  return hf_io.with_class_defaults(hf_cfg.get("vision_config") or {}, "siglip_vision_model")


def paligemma_config_from_hf(hf_cfg: dict, dtype: str | None = None) -> paligemma.PaliGemmaConfig:
  """PaliGemmaConfig from a PaliGemma config.json dict; both towers in `dtype` (float32 default)."""
  dtype = dtype or "float32"
  llm = hf_gemma.gemma_config_from_hf(_text_config(hf_cfg, "gemma"), dtype)
  # HF's PaliGemma 2 local layers keep the whole bidirectional prefix visible beyond the window.
  llm = dataclasses.replace(llm, window_exempt_blocks="local" in llm.layer_pattern)
  vision = _vision_config(hf_cfg)
  img = hf_siglip.siglip_config_from_hf(vision, pool_type="none", dtype=dtype,
                                        param_dtype=dtype)
  proj = vision.get("projection_dim", hf_cfg.get("projection_dim", 2048))
  if proj != llm.width:
    raise ValueError(f"HF PaliGemma projection_dim={proj} differs from the text hidden_size="
                     f"{llm.width}; the projector must map to the decoder width.")
  return paligemma.PaliGemmaConfig(img=img, llm=llm)


def gemma3_config_from_hf(hf_cfg: dict, dtype: str | None = None) -> gemma3.Gemma3Config:
  """Gemma3Config from a Gemma3ForConditionalGeneration config.json dict; the decoder in `dtype`,
  the vision tower and projector always float32."""
  llm = hf_gemma.gemma_config_from_hf(_text_config(hf_cfg, "gemma3_text"), dtype)
  vision = _vision_config(hf_cfg)
  return gemma3.Gemma3Config(
      llm=llm, img=hf_siglip.siglip_config_from_hf(vision, pool_type="none"),
      tokens_per_image=hf_cfg.get("mm_tokens_per_image", 256),
      image_token_id=hf_cfg.get("image_token_index", hf_cfg.get("image_token_id", 262144)),
      mm_norm_eps=vision["layer_norm_eps"])


def convert_projector(read: hf_io.Read, cfg: Any) -> Iterator[tuple[str, np.ndarray]]:
  """multi_modal_projector.linear [D, D_img] (+ bias) -> head/{kernel [D_img,D], bias}."""
  del cfg
  yield "kernel", read("linear.weight").T
  yield "bias", read("linear.bias")


def convert_mm(read: hf_io.Read, cfg: Any) -> Iterator[tuple[str, np.ndarray]]:
  """Gemma 3 multi_modal_projector -> mm/{soft_emb_norm/scale, input_projection/w}."""
  del cfg
  yield "soft_emb_norm/scale", read("mm_soft_emb_norm.weight")
  yield "input_projection/w", read("mm_input_projection_weight")


def _vision_part(name: str = "img") -> hf_io.Part:
  return hf_io.Part(name, _VISION, _VISION_PROBE, hf_siglip.convert_siglip, lambda c: c.img)


def _llm_part() -> hf_io.Part:
  return hf_io.Part("llm", _LANGUAGE, "embed_tokens.weight", hf_gemma.convert_gemma, lambda c: c.llm)


ARCHITECTURES: dict[str, hf_io.Architecture] = {
    "PaliGemmaForConditionalGeneration": hf_io.Architecture(
        model_type="paligemma", config_fn=paligemma_config_from_hf,
        parts=(_vision_part(), hf_io.Part("img/head", _PROJECTOR, "linear.weight", convert_projector),
               _llm_part())),
    "Gemma3ForConditionalGeneration": hf_io.Architecture(
        model_type="gemma3", config_fn=gemma3_config_from_hf,
        parts=(_vision_part(), hf_io.Part("mm", _PROJECTOR, "mm_input_projection_weight", convert_mm),
               _llm_part())),
}
