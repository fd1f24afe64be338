"""Gemma SentencePiece tokenizer with PaliGemma's `<locNNNN>` and `<segNNN>` tokens.

A plain Gemma `tokenizer.model` (256000 pieces) is extended on load with 1024 `<loc0000>`..`<loc1023>`
and 128 `<seg000>`..`<seg127>` user-defined pieces with the next ids (256000..257151), by appending
them to the serialized ModelProto; a PaliGemma tokenizer that already has them is used as it is. Imports no TensorFlow.
"""
import struct
from typing import Sequence

import sentencepiece as spm

from big_paligemma import fs
from big_paligemma.loc_tokens import LOC_PIECES
from big_paligemma.loc_tokens import NUM_LOC
from big_paligemma.loc_tokens import NUM_SEG
from big_paligemma.loc_tokens import SEG_PIECES
from big_paligemma.protowire import field as _field
from big_paligemma.protowire import varint as _varint

_USER_DEFINED = 4  # ModelProto.SentencePiece.Type.USER_DEFINED


def user_defined_pieces(pieces: Sequence[str]) -> bytes:
  """Serialized `ModelProto.pieces` entries (piece, score 0, USER_DEFINED) for `pieces`.

  Appending them to a serialized ModelProto appends them to its repeated `pieces` field (protobuf
  wire format), so no generated protobuf module (and no protobuf version pin) is needed.
  """
  out = []
  for piece in pieces:
    entry = _field(1, piece.encode("utf-8")) + b"\x15" + struct.pack("<f", 0.0) + b"\x18" + _varint(_USER_DEFINED)
    out.append(_field(1, entry))
  return b"".join(out)


def _processor(proto: bytes) -> spm.SentencePieceProcessor:
  sp = spm.SentencePieceProcessor()
  sp.LoadFromSerializedProto(proto)
  return sp


def _extend_proto(proto: bytes) -> bytes:
  """The model with the loc then seg pieces appended, unless all of them are already there."""
  sp = _processor(proto)
  extra = LOC_PIECES + SEG_PIECES
  present = [p for p in extra if sp.IdToPiece(sp.PieceToId(p)) == p]
  if len(present) == len(extra):
    return proto
  if present:
    raise ValueError(f"Tokenizer has {len(present)} of the {len(extra)} loc/seg pieces (e.g. {present[0]!r}); "
                     "expected all or none. Use a plain Gemma or a complete PaliGemma tokenizer.model.")
  return proto + user_defined_pieces(extra)


class Tokenizer:
  """SentencePiece with the PaliGemma loc/seg tokens. Build it with `Tokenizer.load(path)`."""

  def __init__(self, proto: bytes):
    """`proto`: a serialized SentencePiece ModelProto (Gemma or PaliGemma)."""
    self._proto_bytes = _extend_proto(proto)
    self._sp = _processor(self._proto_bytes)
    self._loc0 = self._sp.PieceToId(LOC_PIECES[0])
    self._seg0 = self._sp.PieceToId(SEG_PIECES[0])

  @classmethod
  def load(cls, path: str) -> "Tokenizer":
    """Reads a SentencePiece `.model` file (Gemma or PaliGemma)."""
    if not fs.isfile(path):
      raise FileNotFoundError(f"No tokenizer model at {path!r}; build a small one with tools/make_tokenizer.py.")
    return cls(fs.read_bytes(path))

  def serialized_model_proto(self) -> bytes:
    """The extended model as bytes (what `save` writes; TF ops load the same proto)."""
    return self._proto_bytes

  def save(self, path: str) -> None:
    """Writes the extended model, loadable by `Tokenizer.load`, sentencepiece and transformers."""
    fs.write_bytes(path, self._proto_bytes)

  @property
  def vocab_size(self) -> int:
    return self._sp.GetPieceSize()

  @property
  def pad_id(self) -> int:
    return self._sp.pad_id()

  @property
  def eos_id(self) -> int:
    return self._sp.eos_id()

  @property
  def bos_id(self) -> int:
    return self._sp.bos_id()

  def loc_id(self, i: int) -> int:
    """Id of `<loc{i:04d}>`, 0 <= i < 1024."""
    if not 0 <= i < NUM_LOC:
      raise ValueError(f"loc index {i} is outside [0, {NUM_LOC}).")
    return self._loc0 + i

  def seg_id(self, i: int) -> int:
    """Id of `<seg{i:03d}>`, 0 <= i < 128."""
    if not 0 <= i < NUM_SEG:
      raise ValueError(f"seg index {i} is outside [0, {NUM_SEG}).")
    return self._seg0 + i

  def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
    """Token ids of `text`, optionally with `<bos>` first and `<eos>` last."""
    ids = self._sp.EncodeAsIds(text)
    return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

  def to_str(self, ids: Sequence[int], stop_at_eos: bool = True) -> str:
    """Text of `ids`; with `stop_at_eos` everything from the first `<eos>` on is dropped."""
    ids = [int(i) for i in ids]
    if stop_at_eos and self.eos_id in ids:
      ids = ids[:ids.index(self.eos_id)]
    return self._sp.DecodeIds(ids)

  decode = to_str

  def id_to_piece(self, i: int) -> str:
    return self._sp.IdToPiece(int(i))
