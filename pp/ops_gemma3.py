"""Gemma 3 multimodal pp: the prompt with its image placeholders, "images" [1,h,w,3], the specs.

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
from pp.ops_general import get

BOI = "<start_of_image>"
EOI = "<end_of_image>"
IMAGE_BLOCK = f"\n\n{BOI}{EOI}\n\n"  # the soft tokens go right after BOI's id
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


def _image_pp(res: int) -> str:
  # Gemma3ImageProcessor: bilinear resize to res x res, x/255, (x - 0.5)/0.5.
  return f"decode|resize({res}, antialias=True)|value_range(-1, 1)|stack_images"


def _prompt_pp(prefix_template: str, tokens_per_image: int, image_token_id: int) -> str:
  if prefix_template.count(BOI) != 1:
    raise ValueError(f"prefix_template {prefix_template!r} must hold one {BOI} (where the image "
                     f"goes), e.g. '{BOI}answer en {{question}}'.")
  return (f"strfmt({prefix_template!r}, outkey=\"prefix\")|"
          f"gemma3_tok(key=\"prefix\", tokens_per_image={tokens_per_image}, "
          f"image_token_id={image_token_id})|tok(key=\"septok\", text=\"\\n\")")


def _tolen_pp(text_len: int, pads: dict[str, int]) -> str:
  return "|".join(f'tolen({text_len}, pad_value={v}, key="{k}")' for k, v in pads.items())


def gemma3_train_pp(res: int, text_len: int, prefix_template: str, suffix_key: str,
                    tokens_per_image: int, image_token_id: int,
                    suffix_is_list: bool = False) -> str:
  """The training pp spec of a Gemma 3 transfer.

  Output: images [1, res, res, 3] float32 in [-1, 1]; text int32 [text_len] = bos + prefix (its
  `<start_of_image>` expanded, see the module docstring) + "\\n" + suffix + eos, padded with 0;
  mask_ar 0 on prefix + sep, 1 on suffix + eos and padding (Gemma 3 attends causally whatever
  mask_ar says); mask_loss 1 on suffix + eos only; mask_input 1 on real tokens. text_len counts
  the tokens_per_image + 5 tokens of the image block: keep it large enough that only the
  suffix can be cut (`_truncated` = 1 then).
  """
  pick = "choice" if suffix_is_list else "copy"
  return "|".join([
      _image_pp(res), _prompt_pp(prefix_template, tokens_per_image, image_token_id),
      f"{pick}(inkey={suffix_key!r}, outkey=\"suffix\")|tok(key=\"suffix\", eos=\"yes\")",
      'masked_concat(["prefix", "septok", "suffix"], mask_ar=[0, 0, 1], mask_loss=[0, 0, 1])',
      _tolen_pp(text_len, {"text": 0, "mask_ar": 1, "mask_loss": 0, "mask_input": 0}),
      'keep("images", "text", "mask_ar", "mask_loss", "mask_input")',
  ])


def gemma3_eval_pp(res: int, text_len: int, prefix_template: str, tokens_per_image: int,
                   image_token_id: int, keep_keys: tuple[str, ...] = ()) -> str:
  """The prompt-only spec for decoding: bos + prefix (image expanded) + "\\n", padded to
  text_len; `keep_keys` are kept too (ground truth and ids for the evaluator)."""
  keep = ", ".join(repr(k) for k in ("images", "text", "mask_ar", "mask_input") + keep_keys)
  return "|".join([
      _image_pp(res), _prompt_pp(prefix_template, tokens_per_image, image_token_id),
      'masked_concat(["prefix", "septok"], mask_ar=[0, 0], mask_loss=[0, 0])',
      _tolen_pp(text_len, {"text": 0, "mask_ar": 1, "mask_input": 0}),
      f"keep({keep})",
  ])
