"""Builds a small Gemma-like SentencePiece tokenizer with the PaliGemma loc/seg tokens (for demos).

  python -m tools.make_tokenizer --out /tmp/tok/paligemma.model --vocab_size 512
  python -m tools.make_tokenizer --out /tmp/tok/gemma3.model --gemma3

BPE with byte fallback, digits split, no dummy prefix, pad 0, eos 1, bos 2, unk 3 like Gemma, trained on
a small generated English corpus (deterministic), then extended with `<loc0000..1023>`, `<seg000..127>`;
with --gemma3 also with Gemma 3's `<start_of_image>` and `<end_of_image>` (GEMMA3_PIECES, next ids).
"""
import argparse
import importlib
import os
import random
import tempfile

import sentencepiece as spm

from big_paligemma import fs
from big_paligemma import tokenizer as tokenizer_lib
from big_paligemma.tokenizer import Tokenizer

_WORDS = ("a the cat dog sits on mat red blue green car house tree what is in image picture caption en "
          "answer question how many people are there two three left right top bottom of and with man "
          "woman child playing ball street table chart value year detect segment box person bird sky "
          "water boat large small white black yellow near under above holding eating standing").split()
GEMMA3_PIECES = ("<start_of_image>", "<end_of_image>")  # What Gemma 3 prompts need (pp/ops_gemma3.py).


def corpus(num_lines: int = 3000, seed: int = 0) -> list[str]:
  """Deterministic English-like sentences, some with numbers and punctuation."""
  rng = random.Random(seed)
  lines = []
  for _ in range(num_lines):
    words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 12))]
    if rng.random() < 0.3:
      words.append(str(rng.randint(0, 2024)))
    lines.append(" ".join(words) + rng.choice(["", ".", "?", "!"]))
  return lines


def train_tokenizer(path_prefix: str, vocab_size: int = 512) -> str:
  """Trains the plain Gemma-like BPE model (no loc/seg); returns `path_prefix + '.model'`."""
  if vocab_size <= 300:
    raise ValueError(f"vocab_size {vocab_size} must exceed 300 (256 byte pieces + 4 specials + merges).")
  spm.SentencePieceTrainer.Train(
      sentence_iterator=iter(corpus()), model_prefix=path_prefix, vocab_size=vocab_size,
      model_type="bpe", character_coverage=1.0, byte_fallback=True, split_digits=True,
      add_dummy_prefix=False, remove_extra_whitespaces=False, normalization_rule_name="identity",
      allow_whitespace_only_pieces=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
      pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
      num_threads=1, minloglevel=2)
  return path_prefix + ".model"


def make_paligemma_tokenizer(out: str, vocab_size: int = 512) -> Tokenizer:
  """Trains the plain model, extends it with loc/seg tokens and writes it to `out`."""
  with tempfile.TemporaryDirectory() as tmp:
    tokenizer = Tokenizer.load(train_tokenizer(os.path.join(tmp, "tokenizer"), vocab_size))
  tokenizer.save(out)
  return tokenizer


def with_gemma3_pieces(tokenizer: Tokenizer) -> Tokenizer:
  """`tokenizer` with GEMMA3_PIECES appended (the next ids); the other pieces keep their ids, so
  text without those pieces encodes the same."""
  return Tokenizer(tokenizer.serialized_model_proto()
                   + tokenizer_lib.user_defined_pieces(GEMMA3_PIECES))


def make_gemma3_tokenizer(out: str, vocab_size: int = 512) -> Tokenizer:
  """The demo PaliGemma tokenizer with GEMMA3_PIECES (`with_gemma3_pieces`), written to `out`."""
  tokenizer = with_gemma3_pieces(make_paligemma_tokenizer(out, vocab_size))
  tokenizer.save(out)
  return tokenizer


def _sentencepiece_pb2_importable() -> bool:
  try:
    from sentencepiece import sentencepiece_model_pb2  # pylint: disable=import-outside-toplevel,unused-import
    return True
  except Exception:  # pylint: disable=broad-except  (protobuf gencode/runtime version mismatch)
    return False


def load_hf_gemma_tokenizer(model_path: str):
  """transformers' GemmaTokenizer converted from the SentencePiece `model_path` (offline).

  transformers reads the `.model` with sentencepiece's generated protobuf module; when that module
  cannot be imported (its gencode is newer than the installed protobuf runtime), this says so and lets
  transformers use its own bundled copy of the same schema instead.
  """
  import transformers  # pylint: disable=import-outside-toplevel
  convert_slow_tokenizer = importlib.import_module("transformers.convert_slow_tokenizer")
  with tempfile.TemporaryDirectory() as tmp:
    fs.copy(model_path, os.path.join(tmp, "tokenizer.model"))  # transformers reads a local folder
    if _sentencepiece_pb2_importable():
      return transformers.GemmaTokenizer.from_pretrained(tmp)
    print("note: sentencepiece_model_pb2 does not import with this protobuf; using transformers' copy.")
    from transformers.utils import sentencepiece_model_pb2_new  # pylint: disable=import-outside-toplevel
    original = convert_slow_tokenizer.import_protobuf
    convert_slow_tokenizer.import_protobuf = lambda error_message="": sentencepiece_model_pb2_new
    try:
      return transformers.GemmaTokenizer.from_pretrained(tmp)
    finally:
      convert_slow_tokenizer.import_protobuf = original


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="where to write the .model")
  parser.add_argument("--vocab_size", type=int, default=512, help="base pieces before loc/seg")
  parser.add_argument("--gemma3", action="store_true", help="also add Gemma 3's image pieces")
  args = parser.parse_args()
  make = make_gemma3_tokenizer if args.gemma3 else make_paligemma_tokenizer
  tokenizer = make(args.out, args.vocab_size)
  print(f"Wrote {args.out}: {tokenizer.vocab_size} pieces (loc0 = {tokenizer.loc_id(0)}).")


if __name__ == "__main__":
  main()
