"""Loads HF transformers checkpoints (config.json + safetensors) into this package's models.

`load_hf(path)` reads config.json, picks an `Architecture` from `ARCHITECTURES` by its
`architectures`, builds our config, and streams the tensors one at a time through the family's
converters onto devices (hf_io.load), checking every shape against our module's.

Registered: GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM -> ("gemma", GemmaConfig,
Gemma params at the root of the tree; hf_gemma.py); SiglipVisionModel -> "siglip" (hf_siglip.py);
PaliGemmaForConditionalGeneration -> "paligemma", Gemma3ForConditionalGeneration -> "gemma3"
(hf_paligemma.py).
"""
from typing import Any

from big_paligemma.interop import hf_gemma
from big_paligemma.interop import hf_io
from big_paligemma.interop import hf_paligemma
from big_paligemma.interop import hf_siglip

ARCHITECTURES: dict[str, hf_io.Architecture] = {
    "GemmaForCausalLM": hf_gemma.CAUSAL_LM,
    "Gemma2ForCausalLM": hf_gemma.CAUSAL_LM,
    "Gemma3ForCausalLM": hf_gemma.CAUSAL_LM,
    "SiglipVisionModel": hf_siglip.VISION_MODEL,
    **hf_paligemma.ARCHITECTURES,
}


def architecture(hf: dict) -> hf_io.Architecture:
  """The entry of ARCHITECTURES for a config.json dict; unsupported ones raise listing them."""
  archs = hf.get("architectures") or []
  for name in archs:
    if name in ARCHITECTURES:
      return ARCHITECTURES[name]
  raise ValueError(f"HF architectures {archs} not supported; supported: {sorted(ARCHITECTURES)}.")


def load_hf(path: str, *, dtype: str | None = None, sharding=None,
            image_size: int | None = None) -> tuple[str, Any, dict]:
  """Loads an HF checkpoint directory -> (model_type, our config, params).

  dtype: parameter and compute dtype name ('float32' default, 'bfloat16'). sharding: None (first
  device), one jax.sharding.Sharding, a tree of them shaped like params, or a callable
  path -> Sharding. image_size: run the image encoder at this size instead of the checkpoint's;
  its position embedding is resampled bilinearly to the new patch grid (siglip.resample_posemb).
  Tensors are streamed one at a time; host copies are dropped after placement.
  """
  hf = hf_io.read_config(path)
  return hf_io.load(path, hf, architecture(hf), dtype=dtype, sharding=sharding,
                    image_size=image_size)
