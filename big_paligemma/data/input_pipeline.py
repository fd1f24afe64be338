"""Input pipeline: grain plans which examples each host reads, TensorFlow pre-processes them.

Data config (a dict or ml_collections ConfigDict), one source or a mixture:
  {"name": "docvqa", "split": "train", "data_dir": "/data/tfds"}      a TFDS dataset ("name/config")
  {"jsonl": "/data/mine/train.jsonl"}                                  one's own data (data/jsonl.py)
  {"mixture": [{"name": "chartqa/human", "split": "train", "data_dir": D},
               {"name": "chartqa/augmented", "split": "train", "data_dir": D}]}
A mixture source may set "weight"; without one it weighs by its size (ChartQA: 7398 : 20901).
A training source may set its own "pp" (a pp spec replacing `input.pp` for its examples; every
source's pp must give the same fields).
Sources are read by example index (data/sources.py: TFDS splits as ArrayRecord files, built with
`--file_format array_record`, a TFRecord build is refused naming the convert and rebuild commands;
jsonl files by line). Images stay encoded bytes: the pp function decodes them.

Plan (grain). `grain.MapDataset` (pinned in requirements.txt) turns stream positions into examples:
each source shuffled per epoch by grain's index_shuffle (seeded by the seed, the source and the
epoch), endless epochs, and a mixture by grain's `mix` (a fixed interleave in the proportions of
the weights, zero weights left out). Stream position n -> (source, example index, epoch) is thus a
function of (config, seed, n) and reads nothing. Global batch b is positions [b*B, (b+1)*B) (B =
global batch size); host h of n has rows [h*lb, (h+1)*lb) of it (lb = B / n) and reads only those
records: lb reads a step per host whatever n (tools/bench_input.py). So the global batch sequence
is a function of (config, seed) alone, whatever the number of processes. Why not grain's
`IndexSampler` + `ShardOptions` or per-host file shards: those deal examples to hosts round-robin
or by file, so a global batch's rows would depend on the number of processes. Evaluation: host h
reads examples [h*N/n, (h+1)*N/n) of the source, in order.

Work (TensorFlow). A local batch is one job: look its positions up in grain's plan, read its
records (TFDS: the batch's serialized records in one ArrayRecord call; jsonl: its images through
big_paligemma/fs.py, its rows are in memory), then one tf.function call in which a tf.data map
parses each record (TFDS) and runs the pp function, `num_parallel` examples at a time, in order,
and batches. Jobs run in grain's thread pool, `prefetch` local batches ahead. Why this engine
(measured on the 2-core development machine, BENCHMARKS.md "Input pipeline"): the pp is TensorFlow
ops, and TF runs them fastest with no Python between examples. One tf.function call per example
from grain's threads (this module before) spent its time in Python and the GIL: 0.19x the
examples/s of this design on tools/bench_input.py; TF fed example by example from Python
(`from_generator` over grain's iterator, a prototype) about 0.1x, and it hung at interpreter exit
(TF's threads calling into Python's stopped thread pool); grain's multiprocessing workers
(`mp_prefetch`, 2 workers, the per- example call in each: a prototype) 0.4x, each worker a TF
runtime of its own and teardown errors at exit. This design is 1.8x the tf.data pipeline before
grain on small images and 1.07x at 448 -> 224 px (compute-bound): Python is a few calls per batch,
the per-example work runs in TF's threads, and no TF thread runs our Python once a call returns, so
shutdown stays clean. Within a call, `num_parallel` -1 is tf.data.AUTOTUNE (slower than a fixed
count for such short maps). The call and the map trace the pp without autograph: the ops are TF
calls whose Python branches on static values only (a tensor used as a Python bool fails when the
pipeline is built), and autograph's rewrite of their Python took ~5 s of CPU in each process's
first pipeline (of 14 s for a whole first 5-step trainer run of the tests' tiny model).

Seeds. Every example gets `_seed`, int64 [2] = [key, epoch]: key a hash of (seed, source, example
index), epoch the epoch of its source that the read belongs to (0 in evaluation, whose seed is 0).
Random pp ops draw from it (pp.choice: another pick each epoch; pp.choice_no_replacement: each
epoch another element until all were used), so their draws are functions of (seed, data) too: the
same after a resume and on any number of hosts.

Bad input. If a batch's call fails (a corrupt or unreadable image), its examples are run one by one
through the same call; a failing one raises the TF error with a message naming it (`_id`:
question_id, image_id or the jsonl line) and the reader threads stop. With
`skip_bad_examples=True` a training row whose example fails takes the example at the same row of
the next global batch (position + B, then + 2B, ..., at most MAX_TRIES), which every process count
puts on the same host: the batches stay a function of (config, seed, data) and all hosts stay at
one position. Such a replacement also appears at its own position. In evaluation a failing example
becomes a `_mask` 0 row. Failures met are counted in `Iterator.skipped_bad_examples`; a pp output
field `_truncated` (set by `tolen`) in `Iterator.truncated_examples`. Counts are per host. Other
`_`-prefixed fields are dropped; eval batches have `_mask`.

Resume. `Iterator.get_state()` is int64 [skipped_bad_examples, truncated_examples, position]:
position is the number of stream examples up to the end of the last global batch, the same on
every host (the counts are per host; a checkpoint keeps process 0's). `set_state` continues there
for any process count, reading nothing before it. A state of the tf.data pipeline before grain
(one count per source) resumes at the same count in grain's order if it has one source (the rest
of that epoch is then not exactly the unseen examples); with several it is refused.
"""
import math

import grain
import jax
import numpy as np
import tensorflow as tf

from big_paligemma.data import sources as sources_lib

MAX_TRIES = 16  # skip_bad_examples: examples tried for one training row before giving up
_ENDLESS = 2**62  # the length grain sees for the endless training stream
num_examples = sources_lib.num_examples


def sources(data_config) -> list[dict]:
  """The validated source dicts of a data config (see the module docstring)."""
  config = data_config.to_dict() if hasattr(data_config, "to_dict") else dict(data_config)
  if "mixture" in config:
    if set(config) != {"mixture"} or not config["mixture"]:
      raise ValueError(f"A mixture config has only a non-empty 'mixture' list; got {config}.")
    return [sources_lib.check_source(dict(s)) for s in config["mixture"]]
  return [sources_lib.check_source(config)]


# ----------------------------------------------------------------------------- seeds


def _mix64(x: np.ndarray) -> np.ndarray:
  """splitmix64's finaliser: a bijective hash of uint64s."""
  x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return x ^ (x >> np.uint64(31))


def example_seeds(seed: int, source, index, epoch) -> np.ndarray:
  """int64 [n, 2]: the `_seed` [key, epoch] of examples (source, index, epoch are [n] ints)."""
  source, index = np.atleast_1d(source).astype(np.uint64), np.atleast_1d(index).astype(np.uint64)
  with np.errstate(over="ignore"):
    run = _mix64(np.uint64(seed % 2**64) + np.uint64(0x9E3779B97F4A7C15) * (source + 1))
    key = _mix64(run ^ index)
  return np.stack([key.view(np.int64), np.atleast_1d(epoch).astype(np.int64)], axis=-1)


def _shuffle_seed(seed: int, salt: int) -> int:
  """A 32-bit shuffle seed from (seed, salt), so related seeds give unrelated orders."""
  return int(np.random.SeedSequence([seed % 2**64, salt]).generate_state(1)[0])


# ----------------------------------------------------------------------------- pre-processing


def _pp_one(src, pp_fn, index, raw, seed) -> dict:
  """TF ops: one example of `src` through pp_fn; `_`-fields dropped except `_truncated`."""
  out = pp_fn({**src.decode(index, raw), "_seed": seed})
  return {k: v for k, v in out.items() if not k.startswith("_") or k == "_truncated"}


def _output_spec(src, pp_fn) -> dict:
  """{field: tf.TensorSpec} of pp_fn's outputs on an example of `src` (traced, not run)."""
  fn = tf.function(lambda index, raw, seed: _pp_one(src, pp_fn, index, raw, seed),
                   autograph=False)
  out = fn.get_concrete_function(tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.string),
                                 tf.TensorSpec([2], tf.int64)).structured_outputs
  return {k: tf.TensorSpec(v.shape, v.dtype) for k, v in out.items()}


def _source_pps(specs: list[dict], srcs: list, pp_fn, source_pp) -> list:
  """Each source's pp function: its own "pp" spec (built by `source_pp`) or `pp_fn`; all must
  give the same fields (they are batched together)."""
  pps = []
  for spec in specs:
    if "pp" in spec and source_pp is None:
      raise ValueError(f"Source {spec} has its own 'pp'; the caller must pass source_pp= (spec "
                       "-> pp function), as trainers.train does.")
    pps.append(source_pp(spec["pp"]) if "pp" in spec else pp_fn)
  if any("pp" in spec for spec in specs):
    want = _output_spec(srcs[0], pps[0])
    for spec, src, fn in zip(specs[1:], srcs[1:], pps[1:]):
      if (got := _output_spec(src, fn)) != want:
        raise ValueError(f"The pp of source {spec} gives {got}, the first source's {want}; a "
                         "mixture's sources must give the same fields, dtypes and shapes.")
  return pps


class _Pp:
  """pp_fns[i] on source i's examples, a batch of examples of `srcs` in one tf.function (see
  "Work" in the docstring).

  Call with [n] source numbers, [n] example indices, [n] raw bytes (`src.raw`) and [n, 2] seeds
  (n >= 1); returns the pp outputs as numpy [n, ...] (strings: object arrays of bytes), fields of
  varying shape padded to the longest ("" / 0) when `pad`, else an error for such fields.
  """

  def __init__(self, srcs: list, pp_fns: list, num_parallel: int, pad: bool):
    def one(i, index, raw, seed):
      branches = [lambda s=s, f=f: _pp_one(s, f, index, raw, seed) for s, f in zip(srcs, pp_fns)]
      return branches[0]() if len(branches) == 1 else tf.switch_case(i, branches)

    def batch(i, index, raw, seed):
      ds = tf.data.Dataset.from_tensor_slices((i, index, raw, seed))
      ds = ds.map(tf.autograph.experimental.do_not_convert(one), num_parallel_calls=num_parallel,
                  deterministic=True)
      n = tf.shape(index, out_type=tf.int64)[0]
      return (ds.padded_batch(n) if pad else ds.batch(n)).get_single_element()

    signature = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64),
                 tf.TensorSpec([None], tf.string), tf.TensorSpec([None, 2], tf.int64)]
    self._fn = tf.function(batch, input_signature=signature, autograph=False)
    self.outputs = self._fn.get_concrete_function().structured_outputs  # traced here, once

  def __call__(self, i, index, raw, seed) -> dict[str, np.ndarray]:
    out = self._fn(i, index, raw, seed)
    return {k: np.array(v.numpy(), object) if v.dtype == tf.string else v.numpy()
            for k, v in out.items()}


class _Reader:
  """Reads and pre-processes examples given as [(source, index, epoch)] (see the docstring)."""

  def __init__(self, srcs: list, pp: _Pp, seed: int):
    self.srcs, self._pp, self._seed = srcs, pp, seed

  def __call__(self, plan: list[tuple[int, int, int]]) -> dict[str, np.ndarray]:
    """The pp outputs of the examples of `plan` [n, ...]; a tf.errors.OpError if one fails."""
    i, index, epoch = (np.array(c, np.int64) for c in zip(*plan))
    raw = np.empty(len(plan), object)
    for s, src in enumerate(self.srcs):
      if (i == s).any():
        raw[i == s] = src.raw(index[i == s])
    return self._pp(i.astype(np.int32), index, raw, example_seeds(self._seed, i, index, epoch))

  def one(self, plan: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """One example's pp outputs (no batch axis); an error naming it if it fails."""
    try:
      return {k: v[0] for k, v in self([plan]).items()}
    except tf.errors.OpError as e:
      name = self.srcs[plan[0]].example_id(plan[1])
      raise type(e)(e.node_def, e.op, (
          f"Pre-processing failed for example {name} (a corrupt or unreadable image?); "
          "fix or remove it, or set skip_bad_examples=True to skip and count such examples. "
          f"The error: {e.message}")) from e


def _counted(batch: dict, bad: int) -> dict:
  """A batch with this host's counters: `_bad` failures, `_truncated` examples cut by tolen."""
  truncated = batch.pop("_truncated", None)
  rows = 0 if truncated is None else int(np.any(
      np.reshape(truncated, (len(truncated), -1)) != 0, axis=1).sum())
  return {**batch, "_bad": bad, "_truncated": rows}


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
      values = [np.pad(v, [(0, t - s) for s, t in zip(v.shape, top)], constant_values=_fill(v))
                for v in values]
    batch[key] = np.stack(values)
  return batch


def _fill(value: np.ndarray):
  return b"" if value.dtype == object else 0


def element_spec(pp: _Pp, local_batch: int) -> dict:
  """{field: tf.TensorSpec [B_local, ...]} of the batches."""
  return {k: tf.TensorSpec([local_batch, *v.shape[1:]], v.dtype) for k, v in pp.outputs.items()
          if not k.startswith("_")}


def _placeholders(pp: _Pp, n: int) -> dict[str, np.ndarray]:
  """n rows with the structure of pp's outputs (unknown sizes 0, "" / 0)."""
  def zeros(spec):
    shape = [n] + [d if d is not None else 0 for d in spec.shape[1:]]
    return np.full(shape, b"", object) if spec.dtype == tf.string else np.zeros(
        shape, spec.dtype.as_numpy_dtype)
  return {k: zeros(v) for k, v in pp.outputs.items() if not k.startswith("_")}


# ----------------------------------------------------------------------------- iterators


class Iterator:
  """Batches as dicts of numpy arrays [B_local, ...]; training ones resume with get/set_state.

  `skipped_bad_examples` and `truncated_examples` are this host's running counts (part of the
  training state). `records_read` counts the records this host has read from storage, those in
  flight included. `close()` stops the reader threads (done on an error too).
  """

  num_batches = None  # eval: batches per host (the same on every host); train: None

  def __init__(self, srcs: list, local_batch: int, spec: dict):
    self.local_batch = local_batch
    self.element_spec = spec
    self._sources = srcs
    self._it = None
    self.skipped_bad_examples = self.truncated_examples = 0

  def __iter__(self):
    return self

  @property
  def records_read(self) -> int:
    return sum(s.reads for s in self._sources)

  def _open(self, batches: grain.MapDataset, prefetch: int) -> None:
    self.close()
    options = grain.ReadOptions(num_threads=prefetch, prefetch_buffer_size=prefetch)
    self._it = iter(batches.to_iter_dataset(options))

  def _take(self) -> dict:
    """The next batch, its counters added to this host's counts."""
    try:
      batch = next(self._it)
    except BaseException:
      self.close()
      raise
    self.skipped_bad_examples += batch.pop("_bad")
    self.truncated_examples += batch.pop("_truncated")
    return batch

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

  def __init__(self, open_batches, srcs: list, local_batch: int, global_batch: int, spec: dict):
    super().__init__(srcs, local_batch, spec)
    self._open_batches = open_batches
    self._global_batch = global_batch
    self._start(np.zeros(3, np.int64))

  def _start(self, state: np.ndarray) -> None:
    self.skipped_bad_examples, self.truncated_examples = int(state[0]), int(state[1])
    self.position = int(state[2])
    self._open(*self._open_batches(self.position))

  def __next__(self) -> dict[str, np.ndarray]:
    batch = self._take()
    self.position += self._global_batch
    return batch

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
  """This host's examples in order, in `num_batches` batches padded with `_mask` 0 rows."""

  def __init__(self, batches: grain.MapDataset, srcs: list, local_batch: int, pp: _Pp,
               prefetch: int):
    super().__init__(srcs, local_batch, {**element_spec(pp, local_batch),
                                         "_mask": tf.TensorSpec([local_batch], tf.int32)})
    self.num_batches = len(batches)
    self._done = 0
    self._open(batches, prefetch)

  def __next__(self) -> dict[str, np.ndarray]:
    if self._done == self.num_batches:
      self.close()
      raise StopIteration
    self._done += 1
    return self._take()


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


def _weights(specs: list, srcs: list) -> list:
  weights = [float(s["weight"]) if "weight" in s else len(src) for s, src in zip(specs, srcs)]
  if min(weights) < 0 or not sum(weights) > 0:
    raise ValueError(f"Mixture weights {weights} must be >= 0 with a positive sum.")
  return weights


def _plan(sizes: list[int], weights: list, seed: int) -> grain.MapDataset:
  """Stream position -> (source, example index, epoch of that source)."""
  streams = [grain.MapDataset.range(n).shuffle(seed=_shuffle_seed(seed, i)).repeat()
             .map_with_index(lambda p, index, i=i, n=n: (i, index, p // n))
             for i, n in enumerate(sizes)]
  used = [i for i, w in enumerate(weights) if w > 0]
  if len(used) == 1:
    return streams[used[0]]
  return grain.MapDataset.mix([streams[i] for i in used], [weights[i] for i in used])


class _TrainRows:
  """Position -> this host's pp'd rows, bad examples handled (see "Bad input" in the docstring)."""

  def __init__(self, reader: _Reader, plan: grain.MapDataset, global_batch: int,
               skip_bad_examples: bool):
    self._read, self._plan = reader, plan
    self._global_batch, self._skip = global_batch, skip_bad_examples

  def batch(self, positions: range) -> dict[str, np.ndarray]:
    try:
      return _counted(self._read([self._plan[p] for p in positions]), bad=0)
    except tf.errors.OpError:  # one by one: which failed, replaced or raised
      rows = [self.example(p) for p in positions]
      bad = sum(row.pop("_bad") for row in rows)
      return _counted(_stack(rows, pad=False), bad)

  def example(self, position: int) -> dict:
    for tries in range(MAX_TRIES):
      try:
        return {**self._read.one(self._plan[position + tries * self._global_batch]),
                "_bad": tries}
      except tf.errors.OpError:
        if not self._skip:
          raise
    raise ValueError(f"The {MAX_TRIES} examples at stream positions {position} + k * "
                     f"{self._global_batch} all failed pre-processing; check the data.")


def make_train_iterator(data_config, pp_fn, *, global_batch_size: int, seed: int,
                        skip_bad_examples: bool = False, process_index: int | None = None,
                        process_count: int | None = None, num_parallel: int = 8,
                        prefetch: int = 2, source_pp=None) -> Iterator:
  """Endless shuffled batches: this host's rows of each global batch, [B / process_count, ...].

  Same config and seed -> the same global batches on every run, for any number of processes,
  and after a restore. `num_parallel` examples of a batch are pre-processed at a time (-1:
  tf.data.AUTOTUNE); `prefetch` local batches are read and pre-processed ahead, in parallel. A
  mixture source with its own "pp" (a pp spec) is pre-processed by `source_pp(spec)` instead of
  `pp_fn` (e.g. a prompt per source, as big_vision's per-source input configs).
  """
  index, count = _process(process_index, process_count)
  local_batch = _local_batch(global_batch_size, count)
  specs = sources(data_config)
  srcs = [sources_lib.open_source(s) for s in specs]
  pp = _Pp(srcs, _source_pps(specs, srcs, pp_fn, source_pp), num_parallel, pad=False)
  plan = _plan([len(s) for s in srcs], _weights(specs, srcs) if len(specs) > 1 else [1.0], seed)
  rows = _TrainRows(_Reader(srcs, pp, seed), plan, global_batch_size, skip_bad_examples)
  first_row = index * local_batch

  def open_batches(position: int):
    def local(b: int) -> dict:  # this host's b-th batch from `position` on
      start = position + b * global_batch_size + first_row
      return rows.batch(range(start, start + local_batch))
    return grain.MapDataset.range(_ENDLESS).map(local), max(prefetch, 1)

  return _TrainIterator(open_batches, srcs, local_batch, global_batch_size,
                        element_spec(pp, local_batch))


# ----------------------------------------------------------------------------- evaluation


class _EvalRows:
  """Example indices -> a local batch with `_mask`, failing examples raised or left out."""

  def __init__(self, reader: _Reader, pp: _Pp, local_batch: int, skip_bad_examples: bool):
    self._read, self._pp = reader, pp
    self._local_batch, self._skip = local_batch, skip_bad_examples

  def batch(self, indices: range) -> dict[str, np.ndarray]:
    plan = [(0, i, 0) for i in indices]
    try:
      batch, bad = (self._read(plan) if plan else None), 0
    except tf.errors.OpError:
      rows, bad = [], 0
      for example in plan:
        try:
          rows.append(self._read.one(example))
        except tf.errors.OpError:
          if not self._skip:
            raise
          bad += 1
      batch = _stack(rows, pad=True) if rows else None
    return _counted(self._padded(batch), bad)

  def _padded(self, batch: dict | None) -> dict[str, np.ndarray]:
    """`batch` (or nothing) filled up to the local batch with `_mask` 0 rows."""
    if batch is None:
      return {**_placeholders(self._pp, self._local_batch),
              "_mask": np.zeros(self._local_batch, np.int32)}
    n = len(next(iter(batch.values())))
    fill = self._local_batch - n

    def pad(v):
      return np.concatenate([v, np.full((fill, *v.shape[1:]), _fill(v), v.dtype)])
    return {**{k: pad(v) for k, v in batch.items()},
            "_mask": np.repeat(np.int32([1, 0]), [n, fill])}


def make_eval_iterator(data_config, pp_fn, *, global_batch_size: int,
                       skip_bad_examples: bool = False, process_index: int | None = None,
                       process_count: int | None = None, num_parallel: int = 8,
                       prefetch: int = 2) -> Iterator:
  """Every example of one source exactly once, in order, split over hosts.

  Each host yields `num_batches` batches [global_batch_size / process_count, ...]; the last ones are
  filled with placeholder rows whose `_mask` is 0 (1 on real examples). Fields of varying
  length (e.g. several answers) are padded to the longest in the batch ("" / 0).
  """
  index, count = _process(process_index, process_count)
  local_batch = _local_batch(global_batch_size, count)
  (spec,) = _single(sources(data_config))
  if "pp" in spec:
    raise ValueError(f"Eval source {spec} has a 'pp'; an eval's pp is its own `pp` entry.")
  src = sources_lib.open_source(spec)
  size = len(src)
  start, end = index * size // count, (index + 1) * size // count
  pp = _Pp([src], [pp_fn], num_parallel, pad=True)
  rows = _EvalRows(_Reader([src], pp, 0), pp, local_batch, skip_bad_examples)

  def local(b: int) -> dict:  # this host's b-th batch
    first = start + b * local_batch
    return rows.batch(range(min(first, end), min(first + local_batch, end)))

  num_batches = math.ceil(math.ceil(size / count) / local_batch)
  batches = grain.MapDataset.range(num_batches).map(local)
  return _EvalIterator(batches, [src], local_batch, pp, max(prefetch, 1))


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
