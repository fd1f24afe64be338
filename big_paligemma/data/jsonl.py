"""A source for one's own data: a jsonl file, one JSON object per line.

Each line has "image" (a path, relative to the jsonl file's folder or absolute), "prefix",
"suffix" and any extra fields; every line must have the same fields. Values are strings,
numbers, booleans, or lists of strings (e.g. several reference answers). Example:

  {"image": "images/0001.png", "prefix": "caption en", "suffix": "a cat on a mat", "id": 7}

`read_rows(path)` gives the validated rows, "image" an absolute path (or URL) and "_id" =
"<path>:<line number>" for error messages; `columns(rows)` the same as tensors, which the input
pipeline indexes by line (data/sources.py: random access, the images read through fs).
`load(path)` gives the examples in order as a `tf.data.Dataset`.
Nothing is built or converted beforehand: a data config can name the file directly. Paths go
through big_paligemma/fs.py, so the file and its images may be gs:// URLs (an image may also be
a gs:// URL itself); the images' existence is checked with one listing per folder.
"""
import json

import tensorflow as tf

from big_paligemma import fs
from big_paligemma.data import files

REQUIRED = ("image", "prefix", "suffix")
_SCALARS = (str, int, float, bool)


def read_rows(path: str) -> list[dict]:
  """The parsed lines of `path` (blank lines skipped), validated, images as absolute paths."""
  if not fs.isfile(path):
    raise FileNotFoundError(f"jsonl file {path} does not exist.")
  root = fs.dirname(fs.abspath(path))
  rows = []
  for number, line in enumerate(fs.read_text(path).split("\n"), start=1):
    if line.strip():
      rows.append(_check_row(json.loads(line), f"{path}:{number}", root))
  if not rows:
    raise ValueError(f"jsonl file {path} has no examples.")
  absent = set(files.missing([row["image"] for row in rows]))
  for row in rows:
    if row["image"] in absent:
      raise FileNotFoundError(f"{row['_id']}: image {row['image']} does not exist.")
  keys = set(rows[0]) - {"_id"}
  for row in rows:
    if set(row) - {"_id"} != keys:
      raise ValueError(f"{row['_id']} has fields {sorted(set(row) - {'_id'})}; the first line has "
                       f"{sorted(keys)}. Every line needs the same fields.")
  return rows


def _check_row(row: dict, where: str, root: str) -> dict:
  missing = [k for k in REQUIRED if k not in row]
  if missing:
    raise ValueError(f"{where} lacks the fields {missing}; every line needs {list(REQUIRED)}.")
  for key, value in row.items():
    is_text_list = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not (isinstance(value, _SCALARS) or is_text_list):
      raise ValueError(f"{where}: field {key!r} = {value!r}; allowed are strings, numbers, "
                       "booleans and lists of strings.")
  return {**row, "image": fs.join(root, row["image"]), "_id": where}


def _spec(key: str, values: list) -> tf.TensorSpec:
  """The type of one field over every row: int64, float32, bool, string or [None] strings."""
  kinds = {bool if isinstance(v, bool) else float if isinstance(v, int) else type(v) for v in values}
  if kinds == {list}:
    return tf.TensorSpec([None], tf.string)
  if len(kinds) != 1:
    raise ValueError(f"jsonl field {key!r} mixes value types {sorted(k.__name__ for k in kinds)}.")
  if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
    return tf.TensorSpec([], tf.int64)
  return tf.TensorSpec([], {bool: tf.bool, float: tf.float32, str: tf.string}[kinds.pop()])


def _column(key: str, values: list):
  """One field of every row as a tensor ([N] or ragged [N, None] strings)."""
  spec = _spec(key, values)
  if spec.shape.rank:
    return tf.ragged.constant(values, dtype=tf.string)
  return tf.constant(values, dtype=spec.dtype)


def columns(rows: list[dict]) -> dict:
  """`read_rows`' rows as one tensor per field: [N] (lists of strings: ragged [N, None])."""
  return {key: _column(key, [row[key] for row in rows]) for key in rows[0]}


def load(path: str) -> tf.data.Dataset:
  """The examples of the jsonl file at `path`, in file order (see the module docstring)."""
  ds = tf.data.Dataset.from_tensor_slices(columns(read_rows(path)))
  return ds.map(lambda ex: {**ex, "image": files.read_file(ex["image"])})
