"""Data sources read by example index: TFDS splits (ArrayRecord files) and jsonl files.

Source config (see data/input_pipeline.py): {"name": "docvqa", "split": "train", "data_dir": D}
(a TFDS dataset, "name/config"; data/datasets.BUILDERS are this project's builders, any other name
is looked up in the TFDS catalogue) or {"jsonl": PATH} (data/jsonl.py); a mixture's sources may
set "weight", a training source its own "pp" (a pp spec; see data/input_pipeline.py).

`open_source(source)` gives an object with
  len(src)                 the examples of the split: a split that cannot be parsed, names no
                           split of the dataset or selects no example is an error naming the
                           source, the split and the sizes of the dataset's splits
  src.raw(indices)         what Python reads for those examples, [n] bytes (object array): a
                           TFDS split's serialized records, read in one ArrayRecord call; a
                           jsonl file's images (through big_paligemma/fs.py, READ_THREADS at a
                           time; its rows are in memory)
  src.decode(index, raw)   TF ops: one example's record from its index and raw bytes, images as
                           encoded bytes, "_id" naming the example (question_id, image_id or id
                           when the dataset has one; the jsonl file and line)
  src.example_id(index)    that "_id" in Python, for error messages
  src.reads                how many examples raw() was asked for (the records read from storage)
"""
from concurrent import futures
import threading

from etils import epath
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from big_paligemma import fs
from big_paligemma.data import datasets
from big_paligemma.data import jsonl

SOURCE_KEYS = ("name", "split", "data_dir", "jsonl", "weight", "pp")
ID_FIELDS = ("question_id", "image_id", "id")
READ_THREADS = 16  # a jsonl source's concurrent image reads
_SPLITS_HELP = ("slices as 'train[:10%]', 'train[:500]', 'train[-5%:]', unions as "
                "'train+validation'; https://www.tensorflow.org/datasets/splits")


def check_source(source: dict) -> dict:
  """`source` if its keys are valid, else a ValueError naming the bad key."""
  unknown = sorted(set(source) - set(SOURCE_KEYS))
  if unknown:
    raise ValueError(f"Unknown data source keys {unknown} in {source}; allowed: {SOURCE_KEYS}.")
  if ("name" in source) == ("jsonl" in source):
    raise ValueError(f"A data source names exactly one of 'name' (TFDS) or 'jsonl'; got {source}.")
  if "name" in source and "split" not in source:
    raise ValueError(f"TFDS source {source['name']!r} needs a 'split' (e.g. 'train').")
  return source


def _builder(source: dict) -> tfds.core.DatasetBuilder:
  name, _, config = source["name"].partition("/")
  if name in datasets.BUILDERS:
    return datasets.BUILDERS[name](config=config or None, data_dir=source.get("data_dir"))
  return tfds.builder(source["name"], data_dir=source.get("data_dir"))


def build_command(source: dict, data_dir: str = "DATA_DIR") -> str:
  """The `tfds build` command line that writes `source`'s dataset as ArrayRecord files."""
  name, _, config = source["name"].partition("/")
  target, flags = source["name"], ""
  if name in datasets.BUILDERS:  # ours: built by path from the release files
    target = datasets.BUILDERS[name].__module__.replace(".", "/") + ".py"
    flags = (f" --config {config}" if config else "") + " --manual_dir RAW_FILES"
  return f"tfds build {target}{flags} --data_dir {data_dir} --file_format array_record"


def _split_size(source: dict, builder: tfds.core.DatasetBuilder) -> int:
  """How many examples `source`'s split selects; a ValueError naming it if none or unreadable."""
  name, split = source["name"], source["split"]
  sizes = {k: v.num_examples for k, v in builder.info.splits.items()}
  if not sizes:
    raise ValueError(f"TFDS dataset {name!r} has no splits in {builder.data_dir}: it is not built "
                     f"there. Build it: `{build_command(source)}`, or fix data_dir.")
  try:
    size = builder.info.splits[split].num_examples
  except (KeyError, ValueError, TypeError) as e:
    why = str(e).strip("'\"").splitlines()[0]  # TFDS repeats its message on a second line
    raise ValueError(f"TFDS source {name!r}: split {split!r} cannot be read ({why}). The dataset's "
                     f"splits and sizes: {sizes}; {_SPLITS_HELP}.") from None
  if not size:
    raise ValueError(f"TFDS source {name!r}: split {split!r} has no examples (the dataset's "
                     f"splits and sizes: {sizes}; a percentage rounds to whole examples). Pick a "
                     "larger slice, e.g. an example count such as 'train[:2]'.")
  return size


def num_examples(source: dict) -> int:
  """How many examples the whole source (all hosts) has."""
  if "jsonl" in source:
    return len(jsonl.read_rows(source["jsonl"]))
  return _split_size(source, _builder(source))


def _not_array_record(source: dict, builder) -> str:
  version_dir = epath.Path(builder.data_dir)
  return (
      f"TFDS dataset {source['name']!r} in {version_dir} is stored as "
      f"{builder.info.file_format.value} files, but the input pipeline reads examples by index, "
      "which needs ArrayRecord files. Convert it once (no raw files needed): `tfds convert_format "
      f"--dataset_version_dir={version_dir} --out_file_format=array_record "
      f"--out_dir=NEW_DATA_DIR/{builder.info.full_name}` and set data_dir to NEW_DATA_DIR; or "
      f"rebuild it: `{build_command(source)}`.")


class _Counter:
  """`reads`: a thread-safe count of the examples asked for."""

  def __init__(self):
    self.reads = 0
    self._lock = threading.Lock()

  def _count(self, n: int) -> None:
    with self._lock:
      self.reads += n


class TfdsSource(_Counter):
  """A TFDS split by example index: serialized records read in Python, parsed by TF ops."""

  def __init__(self, source: dict):
    super().__init__()
    builder = _builder(source)
    self._size = _split_size(source, builder)
    self._source, self._builder = source, builder
    self._features = builder.info.features
    images = [k for k, f in self._features.items() if isinstance(f, tfds.features.Image)]
    self._decoders = {k: tfds.decode.SkipDecoding() for k in images}
    try:
      self._data = builder.as_data_source(
          source["split"], deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    except NotImplementedError as e:
      raise ValueError(_not_array_record(source, builder)) from e
    self._key = next((k for k in ID_FIELDS if k in self._features), None)
    self._prefix = f"{source['name']}/{source['split']} {self._key or 'index'}="
    self._parsed = None  # a data source that parses in Python, opened for error messages only

  def __len__(self) -> int:
    return self._size

  def raw(self, indices) -> np.ndarray:
    self._count(len(indices))
    records = self._data.__getitems__([int(i) for i in indices]) if len(indices) else []
    out = np.empty(len(records), object)
    out[:] = records
    return out

  def decode(self, index: tf.Tensor, raw: tf.Tensor) -> dict:
    record = self._features.deserialize_example(raw, decoders=self._decoders)
    value = record[self._key] if self._key else index
    value = value if value.dtype == tf.string else tf.strings.as_string(value)
    return {**record, "_id": self._prefix + value}

  def example_id(self, index: int) -> str:
    if not self._key:
      return f"{self._prefix}{index}"
    if self._parsed is None:
      self._parsed = self._builder.as_data_source(self._source["split"], decoders=self._decoders)
    value = self._parsed[int(index)][self._key]
    return self._prefix + (value.decode() if isinstance(value, bytes) else str(value))


class JsonlSource(_Counter):
  """A jsonl file by line index (blank lines skipped): fields from memory, images through fs."""

  def __init__(self, path: str):
    super().__init__()
    self._rows = jsonl.read_rows(path)
    self._columns = jsonl.columns(self._rows)
    # Reads a batch's images concurrently (on gs:// each read is a request of its own).
    self._pool = futures.ThreadPoolExecutor(READ_THREADS, thread_name_prefix="jsonl_read")

  def __len__(self) -> int:
    return len(self._rows)

  def raw(self, indices) -> np.ndarray:
    self._count(len(indices))
    out = np.empty(len(indices), object)
    out[:] = list(self._pool.map(fs.read_bytes, [self._rows[int(i)]["image"] for i in indices]))
    return out

  def decode(self, index: tf.Tensor, raw: tf.Tensor) -> dict:
    return {**{k: column[index] for k, column in self._columns.items()}, "image": raw}

  def example_id(self, index: int) -> str:
    return self._rows[int(index)]["_id"]


def open_source(source: dict) -> TfdsSource | JsonlSource:
  """`source` read by example index (see the module docstring)."""
  check_source(source)
  if "jsonl" in source:
    return JsonlSource(source["jsonl"])
  return TfdsSource(source)
