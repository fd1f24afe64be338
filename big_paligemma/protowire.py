"""Protobuf wire format by hand, for the few messages written without generated modules
(tokenizer pieces, TensorBoard events): no protobuf or TensorFlow import needed."""
import struct


def varint(n: int) -> bytes:
  """A base-128 varint of `n` >= 0."""
  out = bytearray()
  while True:
    out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
    n >>= 7
    if not n:
      return bytes(out)


def field(number: int, payload: bytes) -> bytes:
  """A length-delimited field (string, bytes, sub-message, packed repeated)."""
  return varint(number << 3 | 2) + varint(len(payload)) + payload


def int_field(number: int, n: int) -> bytes:
  """A varint field (int32/int64 >= 0, enum, bool)."""
  return varint(number << 3) + varint(n)


def double_field(number: int, x: float) -> bytes:
  return varint(number << 3 | 1) + struct.pack("<d", x)
