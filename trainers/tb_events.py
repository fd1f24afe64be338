"""TensorBoard scalars written through big_paligemma/fs.py, so a gs:// workdir works with the
project's Cloud Storage clients (tf.summary writes through TensorFlow's own GCS file system, which
has no endpoint setting). Imports no TensorFlow.

The file is what tf.summary writes: TFRecord-framed `Event` protos, the first one the
"brain.Event:2" version record, scalars as float32 tensors with the scalars plugin's metadata.
Each `write` appends its records to the event file (gs://: composed onto the object).
"""
import os
import socket
import struct
import time

import google_crc32c

from big_paligemma import fs
from big_paligemma import protowire as pw

# Field numbers of tensorflow/core/util/event.proto, summary.proto and tensor.proto.
_EVENT_WALL_TIME, _EVENT_STEP, _EVENT_FILE_VERSION, _EVENT_SUMMARY = 1, 2, 3, 5
_SUMMARY_VALUE, _VALUE_TAG, _VALUE_TENSOR, _VALUE_METADATA = 1, 1, 8, 9
_METADATA_PLUGIN_DATA, _PLUGIN_NAME = 1, 1
_TENSOR_DTYPE, _TENSOR_FLOAT_VAL, _DT_FLOAT = 1, 5, 1
_SCALARS = pw.field(_METADATA_PLUGIN_DATA, pw.field(_PLUGIN_NAME, b"scalars"))


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
  """One TFRecord: length, its masked CRC-32C, the data, its masked CRC-32C."""
  length = struct.pack("<Q", len(data))
  return (length + struct.pack("<I", _masked_crc(length)) + data +
          struct.pack("<I", _masked_crc(data)))


def _scalar(tag: str, value: float) -> bytes:
  tensor = (pw.int_field(_TENSOR_DTYPE, _DT_FLOAT) +
            pw.field(_TENSOR_FLOAT_VAL, struct.pack("<f", value)))
  return pw.field(_SUMMARY_VALUE, pw.field(_VALUE_TAG, tag.encode("utf-8")) +
                  pw.field(_VALUE_METADATA, _SCALARS) + pw.field(_VALUE_TENSOR, tensor))


def scalar_event(step: int, values: dict[str, float], wall_time: float) -> bytes:
  """A serialized Event of `step` whose summary holds each (tag, value) of `values`."""
  summary = b"".join(_scalar(tag, value) for tag, value in values.items())
  return (pw.double_field(_EVENT_WALL_TIME, wall_time) + pw.int_field(_EVENT_STEP, step) +
          pw.field(_EVENT_SUMMARY, summary))


class EventFileWriter:
  """Scalars into a new event file in folder `logdir` (local or gs://)."""

  def __init__(self, logdir: str):
    now = time.time()
    name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.v2"
    self.path = fs.join(logdir, name)
    version = pw.double_field(_EVENT_WALL_TIME, now) + pw.field(_EVENT_FILE_VERSION,
                                                                 b"brain.Event:2")
    fs.makedirs(logdir)
    fs.write_bytes(self.path, record(version))

  def write(self, step: int, values: dict[str, float]) -> None:
    """One Event of `step` holding every (tag, value) of `values`."""
    fs.append_bytes(self.path, record(scalar_event(step, values, time.time())))
