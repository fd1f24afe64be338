"""Tokenizer: loc/seg extension, encode/decode, and parity with sentencepiece and HF GemmaTokenizer."""
import os

import pytest
import sentencepiece as spm

from big_paligemma.tokenizer import Tokenizer, user_defined_pieces
from tools.make_tokenizer import load_hf_gemma_tokenizer

TEXTS = ["detect cat<loc0012><loc1023> ; 2024  é\n x", "  leading spaces", "caption en",
         "naïve 日本語 😀", "a\n\nb   c", "<seg005><loc0000> dog", "answer en how many? 3.14159",
         "trailing space ", "\ttab"]


@pytest.fixture(scope="module")
def plain_path(plain_tokenizer_path):
  return plain_tokenizer_path


@pytest.fixture(scope="module")
def tok(plain_path):
  return Tokenizer.load(plain_path)


def test_loc_seg_ids_follow_base_vocab(tok, plain_path):
  base = spm.SentencePieceProcessor(model_file=plain_path).GetPieceSize()
  assert tok.vocab_size == base + 1024 + 128
  assert (tok.pad_id, tok.eos_id, tok.bos_id) == (0, 1, 2)
  assert tok.loc_id(0) == base and tok.loc_id(1023) == base + 1023
  assert tok.seg_id(0) == base + 1024 and tok.seg_id(127) == base + 1151
  assert tok.id_to_piece(base + 7) == "<loc0007>" and tok.id_to_piece(base + 1024 + 9) == "<seg009>"
  with pytest.raises(ValueError, match="loc index 1024"):
    tok.loc_id(1024)


def test_loc_token_in_text_is_one_id(tok):
  assert tok.encode("<loc0012>") == [tok.loc_id(12)]
  assert tok.encode("<loc0000><loc1023><seg127>") == [tok.loc_id(0), tok.loc_id(1023), tok.seg_id(127)]


def test_bos_eos_and_decode(tok):
  body = tok.encode("a cat")
  assert tok.encode("a cat", bos=True, eos=True) == [2] + body + [1]
  assert tok.to_str([2] + body + [1] + tok.encode("dog")) == "a cat"
  assert tok.to_str(body + [1] + tok.encode("dog"), stop_at_eos=False) == "a cat" + "dog"
  for text in TEXTS:
    assert tok.decode(tok.encode(text)) == text


def test_saved_paligemma_model_is_accepted_unchanged(tok, tmp_path):
  path = str(tmp_path / "pg.model")
  tok.save(path)
  again = Tokenizer.load(path)
  assert again.vocab_size == tok.vocab_size
  assert again.serialized_model_proto() == tok.serialized_model_proto()


def test_partial_loc_tokens_are_rejected(plain_path, tmp_path):
  path = str(tmp_path / "partial.model")
  with open(plain_path, "rb") as f, open(path, "wb") as g:
    g.write(f.read() + user_defined_pieces(["<loc0000>"]))
  with pytest.raises(ValueError, match="1 of the 1152"):
    Tokenizer.load(path)


def test_plain_text_matches_sentencepiece(tok, plain_path):
  sp = spm.SentencePieceProcessor(model_file=plain_path)
  for text in TEXTS:
    if "<" not in text:
      assert tok.encode(text) == sp.EncodeAsIds(text), text


def test_matches_hf_gemma_tokenizer(tok, tmp_path):
  path = os.path.join(tmp_path, "paligemma.model")
  tok.save(path)
  hf = load_hf_gemma_tokenizer(path)
  assert (hf.pad_token_id, hf.eos_token_id, hf.bos_token_id) == (0, 1, 2)
  for text in TEXTS:
    assert hf.encode(text, add_special_tokens=False) == tok.encode(text), text
    assert hf.decode(tok.encode(text)) == text
