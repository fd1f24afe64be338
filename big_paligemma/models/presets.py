"""Every published model size, by name: `get_preset("pali_gemma2_pt_3b_448")` -> its config.

Names and published parameter counts are KerasHub's. Decoder sizes follow REFERENCE.md ("Decoders"),
the vision tower is SigLIP So400m/14. `get_preset(name, **overrides)` replaces config fields:
top-level fields by keyword, and for the multimodal configs the nested ones with `llm={...}` and
`img={...}`; e.g. `get_preset("pali_gemma_3b_224", llm={"dtype": "bfloat16"})`. PaliGemma 2 presets
also take `final_logit_softcap` (30.0; big_vision fine-tunes with None) and `all_global` (False;
True makes every decoder layer global, as big_vision runs it).

Vocabulary counted (each reproduces KerasHub's published count; HF's checkpoints pad some of them):
  Gemma 1 / 2, CodeGemma, ShieldGemma  256000
  PaliGemma 1 / 2                      257152 = 256000 + 1024 loc + 128 seg (HF pads to 257216)
  Gemma 3 (text and multimodal)        262144 (HF's Gemma 3 4B/12B/27B configs pad to 262208)
"""
import dataclasses
import difflib
import functools
from typing import Any, Callable

from big_paligemma import loc_tokens
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip

GEMMA_VOCAB = 256_000
PALIGEMMA_VOCAB = GEMMA_VOCAB + loc_tokens.NUM_LOC + loc_tokens.NUM_SEG  # 257152
GEMMA3_VOCAB = 262_144
# Vocabulary sizes HF's checkpoints use where they differ from the counted one.
HF_PADDED_VOCAB = {PALIGEMMA_VOCAB: 257_216, GEMMA3_VOCAB: 262_208}


class UnknownPresetError(ValueError):
  """A preset name that is not in PRESETS (the message lists the close names)."""


# ----------------------------------------------------------------------------- decoders

_DIMS = ("num_layers", "width", "num_heads", "num_kv_heads", "head_dim", "mlp_dim")
_GEMMA2 = dict(post_attn_norm=True, post_ffw_norm=True, attn_logit_softcap=50.0,
               final_logit_softcap=30.0, sliding_window=4096, layer_pattern=("local", "global"))
_GEMMA3 = dict(post_attn_norm=True, post_ffw_norm=True, qk_norm=True,
               layer_pattern=("local",) * 5 + ("global",), rope_base_local=10_000.0,
               rope_base_global=1_000_000.0)


def _decoder(dims, fields, overrides) -> gemma.GemmaConfig:
  """dims = (layers L, width D, heads N, kv heads K, head dim H, mlp dim F), then the family's
  `fields`, then the caller's `overrides`.

  Gemma 2: post-norms, soft-caps 50/30, layer i sliding (window 4096) iff i is even.
  Gemma 3: post-norms, QK-norm, no soft-caps, layer i global iff (i+1) % 6 == 0, RoPE base local
  10k / global 1M. Query scale: head_dim^-0.5 (GemmaConfig's default) except the 27B models,
  (D/N)^-0.5 (HF's query_pre_attn_scalar 144 for Gemma 2, 168 for Gemma 3).
  """
  return gemma.GemmaConfig(**{**dict(zip(_DIMS, dims)), **fields, **overrides})


def _gemma3(dims, window, rope_scale, overrides) -> gemma.GemmaConfig:
  fields = dict(vocab_size=GEMMA3_VOCAB, **_GEMMA3, sliding_window=window,
                rope_scale_global=rope_scale)
  return _decoder(dims, fields, overrides)


def gemma_2b(**overrides) -> gemma.GemmaConfig:
  return _decoder((18, 2048, 8, 1, 256, 16384), {"vocab_size": GEMMA_VOCAB}, overrides)


def gemma_7b(**overrides) -> gemma.GemmaConfig:
  return _decoder((28, 3072, 16, 16, 256, 24576), {"vocab_size": GEMMA_VOCAB}, overrides)


def gemma2_2b(**overrides) -> gemma.GemmaConfig:
  return _decoder((26, 2304, 8, 4, 256, 9216), {"vocab_size": GEMMA_VOCAB, **_GEMMA2}, overrides)


def gemma2_9b(**overrides) -> gemma.GemmaConfig:
  return _decoder((42, 3584, 16, 8, 256, 14336), {"vocab_size": GEMMA_VOCAB, **_GEMMA2}, overrides)


def gemma2_27b(**overrides) -> gemma.GemmaConfig:
  return _decoder((46, 4608, 32, 16, 128, 36864),
                  {"vocab_size": GEMMA_VOCAB, **_GEMMA2, "query_scale": 144**-0.5}, overrides)


def gemma3_1b(**overrides) -> gemma.GemmaConfig:
  return _gemma3((26, 1152, 4, 1, 256, 6912), 512, 1.0, overrides)


def gemma3_4b_text(**overrides) -> gemma.GemmaConfig:
  return _gemma3((34, 2560, 8, 4, 256, 10240), 1024, 8.0, overrides)


def gemma3_12b_text(**overrides) -> gemma.GemmaConfig:
  return _gemma3((48, 3840, 16, 8, 256, 15360), 1024, 8.0, overrides)


def gemma3_27b_text(**overrides) -> gemma.GemmaConfig:
  return _gemma3((62, 5376, 32, 16, 128, 21504), 1024, 8.0,
                 {"query_scale": 168**-0.5, **overrides})


# ----------------------------------------------------------------------------- multimodal

def _replace(config, overrides: dict[str, Any]):
  """config with fields replaced; dict values for `llm` / `img` replace fields of those."""
  fields = {f.name for f in dataclasses.fields(config)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"Unknown {type(config).__name__} fields {unknown}; allowed: {sorted(fields)}.")
  changes = {}
  for key, value in overrides.items():
    if key in ("llm", "img") and isinstance(value, dict):
      value = _replace(getattr(config, key), value)
    changes[key] = value
  return dataclasses.replace(config, **changes)


def pali_gemma(res: int, decoder: gemma.GemmaConfig | None = None, **overrides):
  """PaliGemma at `res` px: SigLIP So400m/14 (all tokens) + projector + Gemma 2B (or `decoder`)."""
  decoder = decoder or gemma_2b()
  config = paligemma.PaliGemmaConfig(
      img=siglip.siglip_variant("So400m/14", image_size=res, pool_type="none"),
      llm=dataclasses.replace(decoder, vocab_size=PALIGEMMA_VOCAB))
  return _replace(config, overrides)


def pali_gemma2(decoder: Callable[..., gemma.GemmaConfig], res: int, *,
                final_logit_softcap: float | None = 30.0, all_global: bool = False, **overrides):
  """PaliGemma 2: PaliGemma with a Gemma 2 decoder; the decoder's final cap and all-global
  attention are options (big_vision fine-tunes with the cap off and every layer global)."""
  # Local layers keep the whole image+prefix block visible beyond the window, as HF does.
  llm_fields = dict(final_logit_softcap=final_logit_softcap, window_exempt_blocks=True)
  if all_global:
    llm_fields["layer_pattern"] = ("global",)
  return pali_gemma(res, decoder(**llm_fields), **overrides)


def gemma3_multimodal(decoder: Callable[..., gemma.GemmaConfig], **overrides):
  """Gemma 3 with its vision path: SigLIP So400m/14 at 896 px -> 256 pooled tokens per image."""
  config = gemma3.Gemma3Config(
      llm=decoder(), img=siglip.siglip_variant("So400m/14", image_size=896, pool_type="none"),
      tokens_per_image=256)
  return _replace(config, overrides)


# ----------------------------------------------------------------------------- the table

def _table() -> dict[str, Callable[..., Any]]:
  """name -> constructor. KerasHub's published counts: see the comment at the end of each line."""
  pali = lambda res: functools.partial(pali_gemma, res)  # noqa: E731
  pali2 = lambda llm, res: functools.partial(pali_gemma2, llm, res)  # noqa: E731
  table = {
      "pali_gemma_3b_mix_224": pali(224), "pali_gemma_3b_224": pali(224),  # 2.92B
      "pali_gemma_3b_mix_448": pali(448), "pali_gemma_3b_448": pali(448),  # 2.92B
      "pali_gemma_3b_896": pali(896),  # 2.93B
      "pali_gemma_2_ft_docci_3b_448": pali2(gemma2_2b, 448),  # 3.03B
      "pali_gemma2_ft_docci_10b_448": pali2(gemma2_9b, 448),  # 9.66B
  }
  # 3b: 3.03B (896: 3.04B); 10b: 9.66B (896: 9.67B); 28b: 27.65B.
  for size, llm in (("3b", gemma2_2b), ("10b", gemma2_9b), ("28b", gemma2_27b)):
    for kind, res in (("mix", 224), ("pt", 224), ("mix", 448), ("pt", 448), ("pt", 896)):
      table[f"pali_gemma2_{kind}_{size}_{res}"] = pali2(llm, res)
  decoders = {
      gemma_2b: ["gemma_2b_en", "gemma_instruct_2b_en", "gemma_1.1_instruct_2b_en",
                 "code_gemma_2b_en", "code_gemma_1.1_2b_en"],  # 2.51B
      gemma_7b: ["gemma_7b_en", "gemma_instruct_7b_en", "gemma_1.1_instruct_7b_en",
                 "code_gemma_7b_en", "code_gemma_instruct_7b_en",
                 "code_gemma_1.1_instruct_7b_en"],  # 8.54B
      gemma2_2b: ["gemma2_2b_en", "gemma2_instruct_2b_en", "shieldgemma_2b_en"],  # 2.61B
      gemma2_9b: ["gemma2_9b_en", "gemma2_instruct_9b_en", "shieldgemma_9b_en"],  # 9.24B
      gemma2_27b: ["gemma2_27b_en", "gemma2_instruct_27b_en", "shieldgemma_27b_en"],  # 27.23B
      gemma3_1b: ["gemma3_1b", "gemma3_instruct_1b"],  # 0.99989B
  }
  for build, aliases in decoders.items():
    table.update({name: build for name in aliases})
  # Gemma 3 text / multimodal: 4b 3.88B / 4.30B; 12b 11.77B / 12.19B; 27b 27.01B / 27.43B.
  for size, llm in (("4b", gemma3_4b_text), ("12b", gemma3_12b_text), ("27b", gemma3_27b_text)):
    table[f"gemma3_{size}_text"] = table[f"gemma3_instruct_{size}_text"] = llm
    table[f"gemma3_{size}"] = table[f"gemma3_instruct_{size}"] = (
        functools.partial(gemma3_multimodal, llm))
  return table


PRESETS: dict[str, Callable[..., Any]] = _table()


def names() -> list[str]:
  """Every preset name, sorted."""
  return sorted(PRESETS)


def get_preset(name: str, **overrides):
  """The config (GemmaConfig, PaliGemmaConfig or Gemma3Config) of preset `name`, with `overrides`."""
  if name not in PRESETS:
    close = difflib.get_close_matches(name, names(), n=6, cutoff=0.5)
    hint = f" Close names: {', '.join(close)}." if close else ""
    raise UnknownPresetError(f"Unknown preset {name!r}.{hint} Every name: presets.names().")
  return PRESETS[name](**overrides)


def vocab_note(config) -> str | None:
  """Where the counted vocabulary differs from HF's padded one, a note saying both; else None."""
  vocab = getattr(config, "llm", config).vocab_size
  if vocab in HF_PADDED_VOCAB:
    return f"vocabulary {vocab} counted (HF pads to {HF_PADDED_VOCAB[vocab]})"
  return None
