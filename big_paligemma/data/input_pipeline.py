"""Input pipeline: grain index sampling over random-access sources -> TF pp -> batches; state.

Data config (a dict or ml_collections ConfigDict), one source or a mixture:
  {"name": "docvqa", "split": "train", "data_dir": "/data/tfds"}      a TFDS dataset ("name/config")
  {"jsonl": "/data/mine/train.jsonl"}                                  one's own data (data/jsonl.py)
  {"mixture": [{"name": "chartqa/human", "split": "train", "data_dir": D},
               {"name": "chartqa/augmented", "split": "train", "data_dir": D}]}
A mixture source may set "weight"; without one it weighs by its size (ChartQA: 7398 : 20901).
A training source may set its own "pp" (a pp spec replacing `input.pp` for its examples; every
source's pp must give the same fields).
The names of data/datasets.BUILDERS are this project's builders (data/datasets/); any other name
is looked up in the TFDS catalogue. Images stay encoded bytes: the pp function decodes them.

Engine. Every source is read by example index: TFDS datasets through TFDS's random-access data
source (`as_data_source`: ArrayRecord files, so they are built with `--file_format array_record`;
a TFRecord build raises an error naming the convert and rebuild commands), jsonl files by line.
grain (`grain.MapDataset`, pinned in requirements.txt) turns indices into the training stream: each
source shuffled globally per epoch by grain's index_shuffle (seeded by the seed, the source and
the epoch), endless epochs, and a mixture by grain's `mix` (a fixed interleave in the proportions
of the weights, zero weights left out). Example n of the stream is thus a function of
(config, seed, n) that reads one record and nothing else. grain's thread pool (`ReadOptions`)
reads and pre-processes the coming examples of this host in parallel, in order; the pp function
runs as a tf.function per source on each example, so pp spec strings stay TensorFlow ops. Why
this and not grain's `IndexSampler` + `ShardOptions` or per-host file shards: those deal
examples to hosts round-robin or by file, so a global batch's rows (and, with file shards, its
examples) would depend on the number of processes; with position -> record, each host computes
which positions are its rows and reads exactly those.

Training. Global batch b is stream positions [b*B, (b+1)*B) (B = global batch size); host h of n
has rows [h*lb, (h+1)*lb) of it (lb = B / n) and reads only those records: lb reads a step per
host whatever n (tools/bench_input.py). So the global batch sequence is a function of
(config, seed) alone, whatever the number of processes. `shuffle_buffer` has no effect (kept for
the config's key): grain shuffles each epoch whole. Evaluation: host h reads examples
[h*N/n, (h+1)*N/n) of the source, in order.

Bad input. Every example goes through the pp function alone; if that fails (a corrupt or unreadable
image) the iterator shuts its reader threads down and raises the TF error with a message naming
the example (`_id`: question_id, image_id or the jsonl line). With `skip_bad_examples=True` a
training row whose example fails takes the example at the same row of the next global batch
(position + B, then + 2B, ..., at most MAX_TRIES), which every process count puts on the same
host: the batches stay a function of (config, seed, data) and all hosts stay at one position. Such
a replacement also appears at its own position. Eval drops a failing example. Failures met are
counted in `Iterator.skipped_bad_examples`; a pp output field `_truncated` (set by `tolen`) in
`Iterator.truncated_examples`. Counts are per host. Other `_`-prefixed fields are dropped; eval
batches have `_mask`.

Resume. `Iterator.get_state()` is int64 [skipped_bad_examples, truncated_examples, position]:
position is the number of stream examples up to the end of the last global batch, the same on
every host (the counts are per host; a checkpoint keeps process 0's). `set_state` continues there
for any process count, reading nothing before it. A state of the tf.data pipeline before this one
(one count per source) resumes at the same count in grain's order if it has one source (the rest
of that epoch is then not exactly the unseen examples); with several it is refused.
"""
import math
import threading

from etils import epath
import grain
import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from big_paligemma.data import datasets
from big_paligemma.data import jsonl

SOURCE_KEYS = ("name", "split", "data_dir", "jsonl", "weight", "pp")
ID_FIELDS = ("question_id", "image_id", "id")
MAX_TRIES = 16  # skip_bad_examples: examples tried for one training row before giving up
_ENDLESS = 2**62  # the length grain sees for the endless training stream


def sources(data_config) -> list[dict]:
  """The validated source dicts of a data config (see the module docstring)."""
  config = data_config.to_dict() if hasattr(data_config, "to_dict") else dict(data_config)
  if "mixture" in config:
    if set(config) != {"mixture"} or not config["mixture"]:
      raise ValueError(f"A mixture config has only a non-empty 'mixture' list; got {config}.")
    return [_check_source(dict(s)) for s in config["mixture"]]
  return [_check_source(config)]


def _check_source(source: dict) -> dict:
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


def num_examples(source: dict) -> int:
  """How many examples the whole source (all hosts) has."""
  if "jsonl" in source:
    return len(jsonl.read_rows(source["jsonl"]))
  return _builder(source).info.splits[source["split"]].num_examples


# ----------------------------------------------------------------------------- sources


def build_command(source: dict, data_dir: str = "DATA_DIR") -> str:
  """The `tfds build` command line that writes `source`'s dataset as ArrayRecord files."""
  name, _, config = source["name"].partition("/")
  target, flags = source["name"], ""
  if name in datasets.BUILDERS:  # ours: built by path from the release files
    target = datasets.BUILDERS[name].__module__.replace(".", "/") + ".py"
    flags = (f" --config {config}" if config else "") + " --manual_dir RAW_FILES"
  return f"tfds build {target}{flags} --data_dir {data_dir} --file_format array_record"


def _not_array_record(source: dict, builder) -> str:
  version_dir = epath.Path(builder.data_dir)
  return (
      f"TFDS dataset {source['name']!r} in {version_dir} is stored as "
      f"{builder.info.file_format.value} files, but the input pipeline reads examples by index, "
      "which needs ArrayRecord files. Convert it once (no raw files needed): `tfds convert_format "
      f"--dataset_version_dir={version_dir} --out_file_format=array_record "
      f"--out_dir=NEW_DATA_DIR/{builder.info.full_name}` and set data_dir to NEW_DATA_DIR; or "
      f"rebuild it: `{build_command(source)}`.")


class _TfdsSource:
  """A TFDS split by example index (ArrayRecord files); images stay encoded bytes; "_id" added."""

  def __init__(self, source: dict):
    builder = _builder(source)
    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    try:
      self._data = builder.as_data_source(
          source["split"], decoders={k: tfds.decode.SkipDecoding() for k in images})
    except NotImplementedError as e:
      raise ValueError(_not_array_record(source, builder)) from e
    except ValueError:  # array_record refuses a split of no files (e.g. train[-5%:] of 4)
      if builder.info.splits[source["split"]].num_examples:
        raise
      self._data = []
    self.signature = {**features.get_tensor_spec(), **{k: tf.TensorSpec([], tf.string)
                                                         for k in images + ["_id"]}}
    self._key = next((k for k in ID_FIELDS if k in features), None)
    self._prefix = f"{source['name']}/{source['split']} "

  def __len__(self) -> int:
    return len(self._data)

  def __getitem__(self, index: int) -> dict:
    record = self._data[index]
    value = record[self._key] if self._key else index
    value = value.decode() if isinstance(value, bytes) else value
    return {**record, "_id": f"{self._prefix}{self._key or 'index'}={value}"}


class _Counted:
  """A source that counts the examples read from it (`reads`); thread-safe."""

  def __init__(self, source):
    self.source = source
    self.signature = source.signature
    self.reads = 0
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> dict:
    with self._lock:
      self.reads += 1
    return self.source[int(index)]


def open_source(source: dict) -> _Counted:
  """`source` read by example index: len(), [i] -> a dict of numpy/bytes values with "_id"."""
  if "jsonl" in source:
    return _Counted(jsonl.Source(source["jsonl"]))
  return _Counted(_TfdsSource(source))


# ----------------------------------------------------------------------------- pre-processing


def _tensor(value, spec) -> tf.Tensor:
  """One record value as a tensor of `spec`'s type; a ragged spec (a Sequence in a Sequence,
  e.g. RefCOCO's expressions per object) from its rows, which the data source gives as a 2-D
  array or a list of 1-D arrays."""
  if isinstance(spec, tf.RaggedTensorSpec):
    return tf.ragged.constant([list(row) for row in value], spec.dtype,
                              ragged_rank=spec.ragged_rank)
  return tf.constant(value, spec.dtype)


def _tensors(record: dict, signature: dict) -> dict:
  """A record (nested dicts of numpy, bytes or lists) as tensors of `signature`'s types."""
  return {k: _tensors(record[k], spec) if isinstance(spec, dict) else _tensor(record[k], spec)
          for k, spec in signature.items()}


def _numpy(value: tf.Tensor) -> np.ndarray:
  """A tensor as numpy; strings as an object array of bytes (as tf.data gives them)."""
  return np.array(value.numpy(), dtype=object if value.dtype == tf.string else None)


class _Preprocess:
  """pp_fn as one tf.function over a source's examples: record -> its pp output (numpy)."""

  def __init__(self, pp_fn, signature: dict):
    self._signature = signature
    self._fn = tf.function(pp_fn, input_signature=[signature])
    self.outputs = self._fn.get_concrete_function().structured_outputs  # traced here, once

  def __call__(self, record: dict) -> dict:
    try:
      out = self._fn(_tensors(record, self._signature))
    except tf.errors.OpError as e:
      raise type(e)(e.node_def, e.op, (
          f"Pre-processing failed for example {record['_id']} (a corrupt or unreadable image?); "
          "fix or remove it, or set skip_bad_examples=True to skip and count such examples. "
          f"The error: {e.message}")) from e
    return {k: _numpy(v) for k, v in out.items()}


def _kept(out: dict, bad: int) -> dict:
  """pp output -> the batch fields, with this host's counters `_bad` and `_truncated`."""
  truncated = bool(np.any(out.get("_truncated", False)))
  return {**{k: v for k, v in out.items() if not k.startswith("_")},
          "_bad": bad, "_truncated": truncated}


def element_spec(pp: _Preprocess, local_batch: int) -> dict:
  """{field: tf.TensorSpec [B_local, ...]} of the batches."""
  return {k: tf.TensorSpec([local_batch, *v.shape], v.dtype) for k, v in pp.outputs.items()
          if not k.startswith("_")}


def _placeholder(pp: _Preprocess) -> dict:
  """An example with the structure of pp's outputs (unknown sizes 0, "" / 0) and `_mask` 0."""
  def zeros(spec):
    shape = [d if d is not None else 0 for d in spec.shape]
    return np.full(shape, b"", object) if spec.dtype == tf.string else np.zeros(
        shape, spec.dtype.as_numpy_dtype)
  fields = {k: zeros(v) for k, v in pp.outputs.items() if not k.startswith("_")}
  return {**fields, "_mask": np.int32(0)}


# ----------------------------------------------------------------------------- batches


def _stack(rows: list[dict], pad: bool) -> dict[str, np.ndarray]:
  """Examples -> a batch; with `pad` fields of varying shape are padded ("" / 0) to the longest."""
  batch = {}
  for key in rows[0]:
    values = [np.asarray(row[key]) for row in rows]
    shapes = sorted({v.shape for v in values})
    if len(shapes) > 1:
      if not pad:
        raise ValueError(f"pp output field {key!r} has shapes {shapes} within one batch; give "
                         "it a fixed shape in the pp (e.g. tolen for texts).")
      top = np.max([v.shape for v in values], axis=0)
      fill = b"" if values[0].dtype == object else 0
      values = [np.pad(v, [(0, t - s) for s, t in zip(v.shape, top)], constant_values=fill)
                for v in values]
    batch[key] = np.stack(values)
  return batch


class Iterator:
  """Batches as dicts of numpy arrays [B_local, ...]; training ones resume with get/set_state.

  `skipped_bad_examples` and `truncated_examples` are this host's running counts (part of the
  training state). `records_read` counts the records this host has read from storage, those in
  flight included. `close()` stops the reader threads (done on an error too).
  """

  num_batches = None  # eval: batches per host (the same on every host); train: None

  def __init__(self, sources: list, local_batch: int, spec: dict):
    self.local_batch = local_batch
    self.element_spec = spec
    self._sources = sources
    self._it = None
    self.skipped_bad_examples = self.truncated_examples = 0

  def __iter__(self):
    return self

  @property
  def records_read(self) -> int:
    return sum(s.reads for s in self._sources)

  def _open(self, examples: grain.MapDataset, num_parallel: int, buffer: int) -> None:
    self.close()
    options = grain.ReadOptions(num_threads=num_parallel, prefetch_buffer_size=buffer)
    self._it = iter(examples.to_iter_dataset(options))

  def _take(self) -> dict | None:
    """This host's next example (counted), or None at the end."""
    try:
      example = next(self._it)
    except StopIteration:
      return None
    except BaseException:
      self.close()
      raise
    self.skipped_bad_examples += example.pop("_bad")
    self.truncated_examples += example.pop("_truncated", False)
    return example

  def close(self) -> None:
    if self._it is not None:
      self._it.close()
      self._it = None

  def __del__(self):
    if getattr(self, "_it", None) is not None:
      self.close()

  def get_state(self) -> np.ndarray:
    raise ValueError("Eval iterators have no state: they always run from the first example.")

  def set_state(self, state: np.ndarray) -> None:
    del state
    self.get_state()


class _TrainIterator(Iterator):
  """This host's rows of the global batches from stream position `position` on."""

  def __init__(self, open_rows, sources: list, local_batch: int, global_batch: int, spec: dict):
    super().__init__(sources, local_batch, spec)
    self._open_rows = open_rows
    self._global_batch = global_batch
    self._start(np.zeros(3, np.int64))

  def _start(self, state: np.ndarray) -> None:
    self.skipped_bad_examples, self.truncated_examples = int(state[0]), int(state[1])
    self.position = int(state[2])
    self._open(*self._open_rows(self.position))

  def __next__(self) -> dict[str, np.ndarray]:
    rows = [self._take() for _ in range(self.local_batch)]
    self.position += self._global_batch
    return _stack(rows, pad=False)

  def get_state(self) -> np.ndarray:
    """int64 [3]: the two counts, then the stream position (see the module docstring)."""
    return np.array([self.skipped_bad_examples, self.truncated_examples, self.position],
                    np.int64)

  def set_state(self, state: np.ndarray) -> None:
    """Continues from a `get_state()` of an iterator built from the same config and seed."""
    state = np.asarray(state)
    if state.ndim != 1 or state.dtype.kind not in "iu" or (state < 0).any():
      raise ValueError(f"Iterator state {state!r} is not 3 non-negative integers (a get_state() "
                       "of a training iterator with the same data config).")
    if len(state) > 3:
      raise ValueError(
          f"Iterator state {state!r} has one count per source of a {len(state) - 2}-source "
          "mixture: it was saved by the tf.data pipeline before grain, whose mixture order this "
          "pipeline cannot continue. Finish that run with its version, or start a new workdir.")
    if len(state) != 3:
      raise ValueError(f"Iterator state {state!r} is not 3 non-negative integers (a get_state() "
                       "of a training iterator with the same data config).")
    self._start(state.astype(np.int64))


class _EvalIterator(Iterator):
  """This host's examples in order, in `num_batches` batches padded with `_mask` 0 examples."""

  def __init__(self, examples, sources, local_batch: int, num_batches: int, pp: _Preprocess,
               num_parallel: int):
    super().__init__(sources, local_batch, {**element_spec(pp, local_batch),
                                            "_mask": tf.TensorSpec([local_batch], tf.int32)})
    self.num_batches = num_batches
    self._placeholder = _placeholder(pp)
    self._done = 0
    self._open(examples, num_parallel, max(num_parallel, 2 * local_batch))

  def __next__(self) -> dict[str, np.ndarray]:
    if self._done == self.num_batches:
      self.close()
      raise StopIteration
    rows = []
    while len(rows) < self.local_batch:
      example = self._take() if self._it is not None else None
      if example is None:
        rows.append(self._placeholder)
      elif example:  # an empty dict is a dropped bad example
        rows.append({**example, "_mask": np.int32(1)})
    self._done += 1
    return _stack(rows, pad=True)


# ----------------------------------------------------------------------------- training stream


def _process(process_index, process_count) -> tuple[int, int]:
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if not 0 <= index < count:
    raise ValueError(f"process_index {index} is not in [0, process_count={count}).")
  return index, count


def _local_batch(global_batch_size: int, process_count: int) -> int:
  if global_batch_size % process_count:
    raise ValueError(f"global_batch_size {global_batch_size} is not divisible by the "
                     f"{process_count} processes; pick a multiple of {process_count}.")
  return global_batch_size // process_count


def _seed(seed: int, salt: int) -> int:
  """A 32-bit shuffle seed from (seed, salt), so related seeds give unrelated orders."""
  return int(np.random.SeedSequence([seed % 2**64, salt]).generate_state(1)[0])


def _weights(specs: list, srcs: list) -> list:
  weights = [float(s["weight"]) if "weight" in s else len(src) for s, src in zip(specs, srcs)]
  if min(weights) < 0 or not sum(weights) > 0:
    raise ValueError(f"Mixture weights {weights} must be >= 0 with a positive sum.")
  return weights


def _stream(srcs: list, weights: list, seed: int) -> grain.MapDataset:
  """Example n of the endless training stream as (source index, record)."""
  streams = [grain.MapDataset.source(s).shuffle(seed=_seed(seed, i)).repeat()
             .map(lambda record, i=i: (i, record)) for i, s in enumerate(srcs)]
  used = [i for i, w in enumerate(weights) if w > 0]
  if len(used) == 1:
    return streams[used[0]]
  return grain.MapDataset.mix([streams[i] for i in used], [weights[i] for i in used])


def _row_example(stream, pps: list, global_batch: int, skip_bad_examples: bool):
  """position -> the pp'd example of that training row (see "Bad input" in the docstring)."""

  def example(position: int) -> dict:
    for tries in range(MAX_TRIES):
      i, record = stream[position + tries * global_batch]
      try:
        return _kept(pps[i](record), bad=tries)
      except tf.errors.OpError:
        if not skip_bad_examples:
          raise
    raise ValueError(f"The {MAX_TRIES} examples at stream positions {position} + k * "
                     f"{global_batch} all failed pre-processing; check the data.")

  return example


def _source_pps(specs: list[dict], srcs: list, pp_fn, source_pp) -> list[_Preprocess]:
  """Each source's pp: its own "pp" spec (built by `source_pp`) or `pp_fn`; all must give the
  same fields (they are batched together)."""
  pps = []
  for spec, src in zip(specs, srcs):
    if "pp" in spec and source_pp is None:
      raise ValueError(f"Source {spec} has its own 'pp'; the caller must pass source_pp= (spec "
                       "-> pp function), as trainers.train does.")
    pps.append(_Preprocess(source_pp(spec["pp"]) if "pp" in spec else pp_fn, src.signature))
  want = element_spec(pps[0], 1)
  for spec, p in zip(specs[1:], pps[1:]):
    if element_spec(p, 1) != want:
      raise ValueError(f"The pp of source {spec} gives {element_spec(p, 1)}, the first source's "
                       f"{want}; a mixture's sources must give the same fields, dtypes and shapes.")
  return pps


def make_train_iterator(data_config, pp_fn, *, global_batch_size: int, seed: int,
                        shuffle_buffer: int | None = None, skip_bad_examples: bool = False,
                        process_index: int | None = None, process_count: int | None = None,
                        num_parallel: int = 8, prefetch: int = 2, source_pp=None) -> Iterator:
  """Endless shuffled batches: this host's rows of each global batch, [B / process_count, ...].

  Same config and seed -> the same global batches on every run, for any number of processes,
  and after a restore. `num_parallel` threads read and pre-process up to `prefetch` local
  batches ahead. `shuffle_buffer` has no effect (grain shuffles whole epochs). A mixture source
  with its own "pp" (a pp spec) is pre-processed by `source_pp(spec)` instead of `pp_fn` (e.g. a
  prompt per source, as big_vision's per-source input configs).
  """
  del shuffle_buffer
  index, count = _process(process_index, process_count)
  local_batch = _local_batch(global_batch_size, count)
  specs = sources(data_config)
  srcs = [open_source(s) for s in specs]
  for spec, src in zip(specs, srcs):
    if not len(src):
      raise ValueError(f"Training source {spec} has no examples; remove it or fill it.")
  pps = _source_pps(specs, srcs, pp_fn, source_pp)
  stream = _stream(srcs, _weights(specs, srcs) if len(specs) > 1 else [1.0], seed)
  example = _row_example(stream, pps, global_batch_size, skip_bad_examples)
  first_row = index * local_batch

  def open_rows(position: int):
    def row(k: int) -> dict:  # this host's k-th example from `position` on
      return example(position + k // local_batch * global_batch_size + first_row + k % local_batch)
    return (grain.MapDataset.range(_ENDLESS).map(row), num_parallel,
            max(num_parallel, prefetch * local_batch))

  return _TrainIterator(open_rows, srcs, local_batch, global_batch_size,
                        element_spec(pps[0], local_batch))


# ----------------------------------------------------------------------------- evaluation


def make_eval_iterator(data_config, pp_fn, *, global_batch_size: int,
                       skip_bad_examples: bool = False, process_index: int | None = None,
                       process_count: int | None = None, num_parallel: int = 8) -> Iterator:
  """Every example of one source exactly once, in order, split over hosts.

  Each host yields `num_batches` batches [global_batch_size / process_count, ...]; the last ones are
  filled with placeholder examples whose `_mask` is 0 (1 on real examples). Fields of varying
  length (e.g. several answers) are padded to the longest in the batch ("" / 0).
  """
  index, count = _process(process_index, process_count)
  local_batch = _local_batch(global_batch_size, count)
  (spec,) = _single(sources(data_config))
  if "pp" in spec:
    raise ValueError(f"Eval source {spec} has a 'pp'; an eval's pp is its own `pp` entry.")
  src = open_source(spec)
  size = len(src)
  num_batches = math.ceil(math.ceil(size / count) / local_batch)
  pp = _Preprocess(pp_fn, src.signature)

  def example(record: dict) -> dict:
    try:
      return _kept(pp(record), bad=0)
    except tf.errors.OpError:
      if not skip_bad_examples:
        raise
      return {"_bad": 1}

  share = grain.MapDataset.source(src)[index * size // count:(index + 1) * size // count]
  return _EvalIterator(share.map(example), [src], local_batch, num_batches, pp, num_parallel)


def _single(specs: list) -> list:
  if len(specs) != 1:
    raise ValueError(f"Evaluation reads one source, not a mixture of {len(specs)}.")
  return specs


def make_global_arrays(local_batch: dict, sharding: jax.sharding.Sharding) -> dict:
  """This host's batch -> global jax.Arrays [B, ...] laid out by `sharding` (the batch sharding)."""
  out = {}
  for key, value in local_batch.items():
    if value.dtype == object:
      raise TypeError(f"Batch field {key!r} holds strings; keep it on the host (pop it before "
                      "make_global_arrays) or drop it in the pp with keep(...).")
    out[key] = jax.make_array_from_process_local_data(sharding, value)
  return out
