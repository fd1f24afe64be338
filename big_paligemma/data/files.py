"""Files read inside tf.data through big_paligemma/fs.py, so that gs:// works with every client
the project points at Cloud Storage (TensorFlow's own GCS file system has no endpoint setting)."""
import numpy as np
import tensorflow as tf

from big_paligemma import fs


def _read(path) -> bytes:
  try:
    return fs.read_bytes(np.asarray(path).item().decode())
  except FileNotFoundError as e:  # the error tf.io.read_file gives
    raise tf.errors.NotFoundError(None, None, str(e)) from e


def read_file(path: tf.Tensor) -> tf.Tensor:
  """The bytes of the file at the scalar string tensor `path` (a local path or gs:// URL), as a
  scalar tf.string; in place of tf.io.read_file. A missing file fails naming it."""
  data = tf.numpy_function(_read, [path], tf.string, stateful=False)
  data.set_shape([])
  return data


def missing(paths: list[str]) -> list[str]:
  """The paths of `paths` that are not files; one listing per folder (not one request per file)."""
  folders = {}
  for path in paths:
    folders.setdefault(fs.dirname(path), set()).add(fs.basename(path))
  absent = set()
  for folder, names in folders.items():
    present = set(fs.listdir(folder)) if fs.isdir(folder) else set()
    absent |= {fs.join(folder, n) for n in names - present}
  return [p for p in paths if p in absent]
