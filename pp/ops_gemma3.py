"""Gemma 3 multimodal pp ops: the prompt with its image placeholders (the specs that use them:
pp/builder_gemma3.py).

Gemma3Processor's layout (transformers 5.23): every `<start_of_image>` of the prompt becomes
"\\n\\n<start_of_image>" + tokens_per_image x `<image_soft_token>` + "<end_of_image>\\n\\n", then
the whole text is tokenized with `<bos>` first. The special tokens split the text and the pieces
between them are tokenized separately (how HF treats added tokens), so the "\\n\\n" merge with the
text beside them. `<image_soft_token>` is an id HF adds after the SentencePiece model (262144 for
Gemma 3); here it is the model's `image_token_id`, inserted as an id, never as text.

The tokenizer must have `<start_of_image>` and `<end_of_image>` pieces (the real Gemma 3
tokenizer.model has them; the demo one is `tools/make_tokenizer.py --gemma3`).
"""
import re

import numpy as np
import sentencepiece as spm
import tensorflow as tf

from big_paligemma.registry import register
from big_paligemma.tokenizer import Tokenizer
from pp import ops_text
from pp.builder_gemma3 import BOI
from pp.builder_gemma3 import EOI
from pp.builder_gemma3 import IMAGE_BLOCK
from pp.ops_general import get

_SPECIAL = re.compile(f"({re.escape(BOI)}|{re.escape(EOI)})")
GEMMA3_IMAGE_TOKEN_ID = 262144  # HF's `<image_soft_token>`, the first id after the .model's


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
  """{BOI: id, EOI: id} of `tokenizer`; raises naming the missing pieces and the fix."""
  sp = spm.SentencePieceProcessor()
  sp.LoadFromSerializedProto(tokenizer.serialized_model_proto())
  ids = {p: sp.PieceToId(p) for p in (BOI, EOI)}
  missing = [p for p, i in ids.items() if sp.IdToPiece(i) != p]
  if missing:
    raise ValueError(f"The tokenizer has no {missing} pieces, which Gemma 3 prompts need: use the "
                     "Gemma 3 tokenizer.model (config.tokenizer) or, for demos, "
                     "`python -m tools.make_tokenizer --gemma3`.")
  return ids


def gemma3_ids(text: str, tokenizer: Tokenizer, ids: dict[str, int], tokens_per_image: int,
               image_token_id: int) -> list[int]:
  """Token ids of `text` (no bos) with each BOI expanded as Gemma3Processor does."""
  out = []
  for part in _SPECIAL.split(text.replace(BOI, IMAGE_BLOCK)):
    if part == BOI:
      out += [ids[BOI]] + [image_token_id] * tokens_per_image
    elif part == EOI:
      out.append(ids[EOI])
    elif part:
      out += tokenizer.encode(part)
  return out


@register("pp.gemma3_tok")
def gemma3_tok(key: str = "prefix", outkey: str | None = None, tokens_per_image: int = 256,
               image_token_id: int = GEMMA3_IMAGE_TOKEN_ID, num_images: int = 1,
               bos: str = "yes", tokenizer: Tokenizer | None = None):
  """Tokenizes the string `key` into int32 [n] at `outkey` (default `key`), each of its
  `num_images` `<start_of_image>` expanded (module docstring); `bos="yes"` puts `<bos>` first."""
  tokenizer = ops_text.require_tokenizer(tokenizer, "gemma3_tok")
  if bos not in ("no", "yes"):
    raise ValueError(f"bos must be 'no' or 'yes', got {bos!r}.")
  ids = special_ids(tokenizer)
  head = [tokenizer.bos_id] if bos == "yes" else []

  def encode(text) -> np.ndarray:
    text = (text.item() if isinstance(text, np.ndarray) else text).decode("utf-8")
    if text.count(BOI) != num_images:
      raise ValueError(f"gemma3_tok: {text!r} has {text.count(BOI)} {BOI}, expected "
                       f"num_images={num_images}.")
    return np.asarray(head + gemma3_ids(text, tokenizer, ids, tokens_per_image, image_token_id),
                      np.int32)

  def _gemma3_tok(example):
    out = tf.numpy_function(encode, [get(example, key)], tf.int32, stateful=False)
    return {**example, outkey or key: tf.reshape(out, [-1])}
  return _gemma3_tok
