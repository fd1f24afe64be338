"""A source for one's own data: a jsonl file, one JSON object per line.

Each line has "image" (a path, relative to the jsonl file's folder or absolute), "prefix",
"suffix" and any extra fields; every line must have the same fields. Values are strings,
numbers, booleans, or lists of strings (e.g. several reference answers). Example:

  {"image": "images/0001.png", "prefix": "caption en", "suffix": "a cat on a mat", "id": 7}

`Source(path)` reads the file by line index (random access, for the input pipeline's index
sampling): example i is a dict with "image" the file's encoded bytes (read when the example is),
the other fields as written, and "_id" = "<path>:<line number>" for error messages; `signature`
gives each field's tf.TensorSpec. `load(path)` gives the examples in order as a `tf.data.Dataset`.
Nothing is built or converted beforehand: a data config can name the file directly. Paths go
through etils.epath, so the file and its images may be gs:// URLs.
"""
import json

from etils import epath
import tensorflow as tf

REQUIRED = ("image", "prefix", "suffix")
_SCALARS = (str, int, float, bool)


def read_rows(path: str) -> list[dict]:
  """The parsed lines of `path` (blank lines skipped), validated, images as absolute paths."""
  file = epath.Path(path)
  if not file.exists():
    raise FileNotFoundError(f"jsonl file {path} does not exist.")
  root = file.parent if _is_url(path) else file.absolute().parent
  rows = []
  for number, line in enumerate(file.read_text().split("\n"), start=1):
    if line.strip():
      rows.append(_check_row(json.loads(line), f"{path}:{number}", root))
  if not rows:
    raise ValueError(f"jsonl file {path} has no examples.")
  keys = set(rows[0]) - {"_id"}
  for row in rows:
    if set(row) - {"_id"} != keys:
      raise ValueError(f"{row['_id']} has fields {sorted(set(row) - {'_id'})}; the first line has "
                       f"{sorted(keys)}. Every line needs the same fields.")
  return rows


def _is_url(path: str) -> bool:
  return "://" in str(path)


def _check_row(row: dict, where: str, root: epath.Path) -> dict:
  missing = [k for k in REQUIRED if k not in row]
  if missing:
    raise ValueError(f"{where} lacks the fields {missing}; every line needs {list(REQUIRED)}.")
  for key, value in row.items():
    is_text_list = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not (isinstance(value, _SCALARS) or is_text_list):
      raise ValueError(f"{where}: field {key!r} = {value!r}; allowed are strings, numbers, "
                       "booleans and lists of strings.")
  image = row["image"] if _is_url(row["image"]) else str(root / row["image"])
  if not epath.Path(image).exists():
    raise FileNotFoundError(f"{where}: image {image} does not exist.")
  return {**row, "image": image, "_id": where}


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


class Source:
  """The examples of a jsonl file by line index (blank lines skipped): example i reads its image."""

  def __init__(self, path: str):
    self.path = path
    self.rows = read_rows(path)
    self.signature = {key: _spec(key, [row[key] for row in self.rows]) for key in self.rows[0]}

  def __len__(self) -> int:
    return len(self.rows)

  def __getitem__(self, index: int) -> dict:
    row = self.rows[index]
    return {**row, "image": epath.Path(row["image"]).read_bytes()}


def load(path: str) -> tf.data.Dataset:
  """The examples of the jsonl file at `path`, in file order (see the module docstring)."""
  rows = read_rows(path)
  columns = {key: _column(key, [row[key] for row in rows]) for key in rows[0]}
  ds = tf.data.Dataset.from_tensor_slices(columns)
  return ds.map(lambda ex: {**ex, "image": tf.io.read_file(ex["image"])})
