"""tf.data input pipeline: source -> pp -> shuffle/batch -> global jax.Array; iterator state.

Data config (a dict or ml_collections ConfigDict), one source or a mixture:
  {"name": "docvqa", "split": "train", "data_dir": "/data/tfds"}      a TFDS dataset ("name/config")
  {"jsonl": "/data/mine/train.jsonl"}                                  one's own data (data/jsonl.py)
  {"mixture": [{"name": "chartqa/human", "split": "train", "data_dir": D},
               {"name": "chartqa/augmented", "split": "train", "data_dir": D}]}
A mixture source may set "weight"; without one it weighs by its size (ChartQA: 7398 : 20901).
The names of data/datasets.BUILDERS are this project's builders (data/datasets/); any other name
is looked up in the TFDS catalogue. Images stay encoded bytes: the pp function decodes them.

Training: every host reads every source whole, in the same order, and forms the same global
batches; host h keeps rows [h*lb, (h+1)*lb) of each (lb = global batch / process count) and drops
the other rows before the pp function (they are read, never decoded). So the global batch sequence
is a function of (config, seed) alone, whatever the number of processes. Evaluation: each host
reads its own share (TFDS: `tfds.even_splits`, jsonl: every n-th line). Process index and count
are arguments that default to jax's, so tests can simulate hosts.

Bad input. Every example goes through the pp function alone; if that fails (a corrupt or unreadable
image) the pipeline raises an error naming the example (`_id`: question_id, image_id or the jsonl
line), or with `skip_bad_examples=True` drops it and counts it in `Iterator.skipped_bad_examples`.
A pp output field `_truncated` (set by `tolen`) is counted in `Iterator.truncated_examples`. Counts
are per host. Other `_`-prefixed fields are dropped before batching; eval batches keep `_mask`.

Training stream and resume. Source i is read in a fixed order (TFDS files shuffled once by the
seed), and epoch e of it goes through a shuffle buffer seeded by (seed, i, e). A mixture picks the
source of its n-th example with a stateless draw seeded by (seed, n). Example n of the stream is
row n mod B of a global batch (B = global batch size). So the position is a few integers: for
every source, how many of its examples the stream has consumed. `Iterator.get_state()` is
[skipped_bad_examples, truncated_examples, consumed_0, ...] (int64, 8 bytes a number), the
position taken at the end of the last global batch, so it is the same on every host (the counts
are per host; a checkpoint keeps process 0's). `set_state` rebuilds the
pipeline there: whole epochs are skipped for free, the rest of the current epoch is skipped before
the pp function (read, not decoded), and batches keep their boundaries. A host that skips a bad
example fills its rows from its rows of the next global batch: from then on the hosts' batches are
no longer one global batch of the stream, each host's state is its own exact position, and a
checkpoint (which keeps process 0's state) resumes the other hosts near, not exactly at, theirs.
"""
import math

import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from big_paligemma.data import datasets
from big_paligemma.data import jsonl

SOURCE_KEYS = ("name", "split", "data_dir", "jsonl", "weight")
ID_FIELDS = ("question_id", "image_id", "id")
_COUNTS = ("_bad_count", "_truncated_count")
_CARRIED = ("_id", "_pos")


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


def read_source(source: dict, process_index: int, process_count: int, *, shuffle_seed=None):
  """This host's share of one source, in a fixed order (files shuffled once when a seed is given)."""
  if "jsonl" in source:
    return jsonl.load(source["jsonl"]).shard(process_count, process_index)
  builder = _builder(source)
  split = tfds.even_splits(source["split"], n=process_count, drop_remainder=False)[process_index]
  features = builder.info.features
  decoders = {k: tfds.decode.SkipDecoding() for k, f in features.items()
              if isinstance(f, tfds.features.Image)}
  read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed, shuffle_reshuffle_each_iteration=False,
                                add_tfds_id=True, try_autocache=False)
  ds = builder.as_dataset(split=split, shuffle_files=shuffle_seed is not None, decoders=decoders,
                          read_config=read_config)
  key = next((k for k in ID_FIELDS if k in features), None)
  prefix = f"{source['name']}/{source['split']} {key}="

  def add_id(ex):
    tfds_id = ex.pop("tfds_id")
    return {**ex, "_id": prefix + tf.strings.as_string(ex[key]) if key else tfds_id}

  return ds.map(add_id)


def _source_size(source: dict) -> int:
  """How many examples `source` has; an empty source is an error (it cannot fill a batch)."""
  size = num_examples(source)
  if not size:
    raise ValueError(f"Training source {source} has no examples; remove it or fill it.")
  return size


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


def _zeros(spec) -> dict:
  """A placeholder example with the structure of `spec` (unknown sizes 0)."""
  return {k: tf.zeros([d if d is not None else 0 for d in s.shape], s.dtype) for k, s in spec.items()}


def _guarded(pp_fn, spec):
  """example -> a one-element dataset: pp output with `_ok` True, or a placeholder with `_ok` False.

  The example's `_id` and `_pos` (its stream position, training only) are carried past pp_fn.
  """

  def per_example(ex):
    carried = {k: ex[k] for k in _CARRIED if k in ex}
    ex = {k: v for k, v in ex.items() if k != "_pos"}
    good = tf.data.Dataset.from_tensors(ex).map(lambda e: {**pp_fn(e), "_ok": True})
    bad = tf.data.Dataset.from_tensors({**_zeros(spec), "_ok": False})
    out = good.ignore_errors().concatenate(bad).take(1)
    return out.map(lambda o: {**o, **carried})

  return per_example


def _count(counts, ex):
  bad = counts[0] + tf.cast(tf.logical_not(ex["_ok"]), tf.int64)
  truncated = tf.cast(tf.reduce_any(tf.cast(ex.get("_truncated", False), tf.bool)), tf.int64)
  counts = tf.stack([bad, counts[1] + truncated * tf.cast(ex["_ok"], tf.int64)])
  return counts, {**ex, _COUNTS[0]: counts[0], _COUNTS[1]: counts[1]}


def _assert_ok(ex):
  check = tf.debugging.Assert(ex["_ok"], [
      "Pre-processing failed for example", ex["_id"], "(a corrupt or unreadable image?). Fix or "
      "remove it, or set skip_bad_examples=True to skip and count such examples."], summarize=1)
  with tf.control_dependencies([check]):
    return {k: tf.identity(v) for k, v in ex.items()}


def preprocess(ds, pp_fn, *, skip_bad_examples: bool, num_parallel: int = 8, counts=(0, 0)):
  """Applies pp_fn per example in parallel, keeping the order; handles bad examples and counts.

  `counts` are the (bad, truncated) counts so far, when resuming.
  """
  spec = ds.map(lambda ex: {k: v for k, v in pp_fn(ex).items() if k not in _CARRIED}).element_spec
  ds = ds.interleave(_guarded(pp_fn, spec), cycle_length=num_parallel, block_length=1,
                     num_parallel_calls=num_parallel, deterministic=True)
  ds = ds.scan(tf.constant(counts, tf.int64), _count)
  ds = ds.filter(lambda ex: ex["_ok"]) if skip_bad_examples else ds.map(_assert_ok)
  keep = set(_COUNTS) | {"_mask", "_pos"}
  return ds.map(lambda ex: {k: v for k, v in ex.items() if not k.startswith("_") or k in keep})


def _options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  return options


class Iterator:
  """Batches as dicts of numpy arrays [B_local, ...]; training ones resume with get/set_state.

  `build(state)` makes the batch dataset starting at `state` (see the module docstring); eval
  iterators (`num_batches` set) always start at the beginning and have no state.
  `skipped_bad_examples` and `truncated_examples` are this host's running counts; they are part
  of the state, so they survive a restore. `restart(consumed)` maps the position after this host's
  last example to the position a restart continues from (the end of its global batch).
  """

  def __init__(self, build, num_sources: int, num_batches: int | None = None, restart=None):
    self._build = build
    self._restart = restart
    self.num_batches = num_batches  # eval: batches per host (the same on every host); train: None
    self._start(np.zeros(2 + num_sources, np.int64))

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    batch = {k: v.numpy() for k, v in next(self._it).items()}
    self.skipped_bad_examples = max(self.skipped_bad_examples, int(batch.pop(_COUNTS[0]).max()))
    self.truncated_examples = max(self.truncated_examples, int(batch.pop(_COUNTS[1]).max()))
    if "_pos" in batch:
      self._consumed = batch.pop("_pos")[-1]
    return batch

  def get_state(self) -> np.ndarray:
    """int64 [2 + number of sources]: the two counts, then the examples consumed of each source."""
    self._check_resumable()
    counts = [self.skipped_bad_examples, self.truncated_examples]
    consumed = self._restart(self._consumed) if self._restart else self._consumed
    return np.array(counts + [int(c) for c in consumed], np.int64)

  def set_state(self, state: np.ndarray) -> None:
    """Continues from a `get_state()` of an iterator built from the same config and seed."""
    self._check_resumable()
    state = np.asarray(state)
    expected = (2 + len(self._consumed),)
    if state.shape != expected or state.dtype.kind not in "iu" or (state < 0).any():
      raise ValueError(f"Iterator state {state!r} is not {expected[0]} non-negative integers "
                       "(a get_state() of a training iterator with the same data config).")
    self._start(state.astype(np.int64))

  def _start(self, state: np.ndarray) -> None:
    self.skipped_bad_examples, self.truncated_examples = int(state[0]), int(state[1])
    self._consumed = state[2:]
    self.dataset = self._build(state)
    self._it = iter(self.dataset)

  def _check_resumable(self) -> None:
    if self.num_batches is not None:
      raise ValueError("Eval iterators have no state: they always run from the first example.")


def _key(seed: int, salt: int) -> int:
  """A 64-bit stream key from (seed, salt), so related seeds give unrelated streams."""
  return int(tf.random.stateless_uniform([], seed=[seed, salt], minval=None, maxval=None,
                                         dtype=tf.int64))


def _epochs(ds: tf.data.Dataset, size: int, key: int, shuffle_buffer: int, consumed: int):
  """Endless epochs of `ds` (`size` examples) from example `consumed` on; epoch e shuffled by (key, e)."""
  epoch, offset = divmod(consumed, size)

  def one_epoch(e):
    seed = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(key, tf.int64), e]),
                                       minval=None, maxval=None, dtype=tf.int64)
    return ds.shuffle(min(shuffle_buffer, size), seed=seed, reshuffle_each_iteration=False)

  return tf.data.Dataset.counter(epoch).flat_map(one_epoch).skip(offset)


def _source_draw(weights: list, key: int):
  """n -> the source of example n of a mixture: a draw with probabilities weights / sum, seeded
  by (key, n)."""
  logits = tf.math.log(tf.constant(weights, tf.float64) / sum(weights))[None]

  def draw(n):
    seed = tf.stack([tf.constant(key, tf.int64), n])
    return tf.random.stateless_categorical(logits, 1, seed=seed)[0, 0]

  return draw


def _mix(streams: list, draw, consumed: np.ndarray) -> tf.data.Dataset:
  """Example n comes from source draw(n); each gets `_pos`: the examples consumed of every source
  up to and including it (so example n has sum(_pos) = n + 1).
  """
  streams = [s.map(lambda ex, i=i: {**ex, "_src": tf.constant(i, tf.int64)})
             for i, s in enumerate(streams)]
  ds = streams[0]
  if len(streams) > 1:
    choices = tf.data.Dataset.counter(int(consumed.sum())).map(draw)
    ds = tf.data.Dataset.choose_from_datasets(streams, choices)

  def position(pos, ex):
    pos = pos + tf.one_hot(ex["_src"], len(streams), dtype=tf.int64)
    return pos, {**{k: v for k, v in ex.items() if k != "_src"}, "_pos": pos}

  return ds.scan(tf.constant(consumed, tf.int64), position)


def _rows_of_host(ds, global_batch: int, local_batch: int, index: int) -> tf.data.Dataset:
  """Keeps this host's rows of each global batch: the examples n with n mod global_batch in
  [index * local_batch, (index + 1) * local_batch)."""
  def mine(ex):
    row = (tf.reduce_sum(ex["_pos"]) - 1) % global_batch
    return tf.logical_and(row >= index * local_batch, row < (index + 1) * local_batch)

  return ds.filter(mine)


def _restart_fn(draw, num_sources: int, global_batch: int, local_batch: int, index: int):
  """consumed after this host's last example -> the position a restart continues from.

  That is the end of the global batch when the host has no more rows in it (then every host
  gives the same position), else the position itself (a host behind after skipping bad examples).
  """
  def restart(consumed):
    consumed = np.asarray(consumed, np.int64)
    n = int(consumed.sum())  # the next example of the stream
    if n % global_batch < (index + 1) * local_batch:
      return consumed
    end = (n // global_batch + 1) * global_batch
    if num_sources == 1:
      return consumed + (end - n)
    drawn = list(tf.data.Dataset.range(n, end).map(draw).as_numpy_iterator())
    return consumed + np.bincount(drawn, minlength=num_sources).astype(np.int64)

  return restart


def _weights(specs: list) -> list:
  weights = [float(s["weight"]) if "weight" in s else num_examples(s) for s in specs]
  if min(weights) < 0 or not sum(weights) > 0:
    raise ValueError(f"Mixture weights {weights} must be >= 0 with a positive sum.")
  return weights


def make_train_iterator(data_config, pp_fn, *, global_batch_size: int, seed: int,
                        shuffle_buffer: int = 10_000, skip_bad_examples: bool = False,
                        process_index: int | None = None, process_count: int | None = None,
                        num_parallel: int = 8, prefetch: int = 2) -> Iterator:
  """Endless shuffled batches: this host's rows of each global batch, [B / process_count, ...].

  Same config and seed -> the same global batches on every run, for any number of processes,
  and after a restore.
  """
  index, count = _process(process_index, process_count)
  local_batch = _local_batch(global_batch_size, count)
  specs = sources(data_config)
  sizes = [_source_size(s) for s in specs]
  draw = _source_draw(_weights(specs) if len(specs) > 1 else [1.0], _key(seed, -1))
  reads = [read_source(s, 0, 1, shuffle_seed=_key(seed, i) % 2**31) for i, s in enumerate(specs)]

  def build(state):
    consumed = np.asarray(state[2:], np.int64)
    streams = [_epochs(ds, size, _key(seed, i), shuffle_buffer, int(c))
               for i, (ds, size, c) in enumerate(zip(reads, sizes, consumed))]
    ds = _mix(streams, draw, consumed)
    if count > 1:
      ds = _rows_of_host(ds, global_batch_size, local_batch, index)
    ds = preprocess(ds, pp_fn, skip_bad_examples=skip_bad_examples, num_parallel=num_parallel,
                    counts=tuple(int(c) for c in state[:2]))
    ds = ds.batch(local_batch, drop_remainder=True).prefetch(prefetch)
    return ds.with_options(_options())

  restart = _restart_fn(draw, len(specs), global_batch_size, local_batch, index)
  return Iterator(build, len(specs), restart=restart)


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
  (source,) = _single(sources(data_config))
  num_batches = math.ceil(math.ceil(num_examples(source) / count) / local_batch)
  ds = preprocess(read_source(source, index, count), pp_fn,
                  skip_bad_examples=skip_bad_examples, num_parallel=num_parallel)
  ds = ds.map(lambda ex: {**ex, "_mask": tf.constant(1, tf.int32)})
  pad = tf.data.Dataset.from_tensors(_zeros(ds.element_spec)).repeat()
  ds = ds.concatenate(pad).take(num_batches * local_batch).padded_batch(local_batch)
  ds = ds.prefetch(2).with_options(_options())
  return Iterator(lambda state: ds, 0, num_batches=num_batches)


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
