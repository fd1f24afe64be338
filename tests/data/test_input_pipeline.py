"""The input pipeline: determinism, resumption, hosts' rows of the global batch (and only those
read), mixtures, eval padding, bad input, TFRecord builds refused."""
import threading
import time

import jax
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from big_paligemma.data import input_pipeline as ip
from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import docvqa
from tests import data_fixtures


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
  """docvqa and chartqa/{human,augmented} built from the fixture layouts."""
  root = tmp_path_factory.mktemp("tfds")
  out = str(root / "out")
  for cls, writer, configs in [(docvqa.DocVQA, data_fixtures.write_docvqa, [None]),
                               (chartqa.ChartQA, data_fixtures.write_chartqa, ["human", "augmented"])]:
    manual = writer(str(root / cls.name))
    for config in configs:
      cls(config=config, data_dir=out, file_format="array_record").download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir=manual))
  return out


@pytest.fixture()
def jsonl_path(tmp_path):
  return data_fixtures.write_jsonl(str(tmp_path), n=7)


def pp_id(ex):
  """Decodes the image to 4x4 and keeps the id (jsonl 'id' or 'question_id')."""
  image = tf.io.decode_image(ex["image"], channels=3, expand_animations=False)
  key = "id" if "id" in ex else "question_id"
  return {"image": tf.image.resize(image, [4, 4], method="nearest"),
          "id": tf.cast(ex[key], tf.int64)}


def _ids(iterator, n):
  return [next(iterator)["id"].tolist() for _ in range(n)]


def test_same_seed_same_batches_and_another_seed_differs(jsonl_path):
  make = lambda seed: ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=4,
                                             seed=seed, process_index=0, process_count=1)
  first = _ids(make(3), 6)
  assert first == _ids(make(3), 6)
  assert first != _ids(make(4), 6)
  stream = sum(first, [])
  epochs = [stream[i:i + 7] for i in (0, 7, 14)]
  assert all(sorted(e) == list(range(7)) for e in epochs)  # each epoch sees every example once
  assert epochs[0] != list(range(7)) and epochs[0] != epochs[1]  # shuffled, reshuffled per epoch


def _chartqa_mixture(tfds_dir):
  return {"mixture": [{"name": f"chartqa/{c}", "split": "train", "data_dir": tfds_dir}
                      for c in ("human", "augmented")]}


@pytest.mark.parametrize("source", ["jsonl", "chartqa"])
def test_restored_iterator_continues_exactly_from_a_small_state(source, jsonl_path, tfds_dir):
  config = {"jsonl": jsonl_path} if source == "jsonl" else _chartqa_mixture(tfds_dir)
  make = lambda: ip.make_train_iterator(config, pp_id, global_batch_size=2, seed=0,
                                        shuffle_buffer=10_000, process_index=0, process_count=1)
  run = make()
  _ids(run, 5)
  state = run.get_state()
  # [bad, truncated, stream position]: 10 examples consumed, 8 bytes a number.
  assert state.dtype == np.int64 and state.nbytes < 1024
  assert state.tolist() == [0, 0, 10]
  if source == "jsonl":
    assert state.tolist() == [0, 0, 10]  # 7 examples: the middle of the second epoch.
  expected = _ids(run, 8)
  resumed = make()
  resumed.set_state(state)
  assert _ids(resumed, 8) == expected


def test_mixture_state_is_the_stream_position(tfds_dir):
  it = ip.make_train_iterator(_chartqa_mixture(tfds_dir), pp_id, global_batch_size=2, seed=5,
                              process_index=0, process_count=1)
  ids = sum(_ids(it, 7), [])
  human = sum(i // 1_000_000 == 11 for i in ids)  # human train ids are 11_000_000 + row.
  assert it.get_state().tolist() == [0, 0, 14]
  assert human in (5, 6)  # grain's mix interleaves in the sizes' proportion, human 2 : augmented 3


def test_restore_skips_whole_epochs_and_examples_without_preprocessing(jsonl_path):
  calls = []

  def pp(ex):
    called = tf.py_function(lambda: calls.append(1) or 0, [], tf.int64)  # used below: not pruned
    called = tf.reshape(called, [])
    return {**pp_id(ex), "id": pp_id(ex)["id"] + called}

  # One pp call at a time: how many examples are in flight must not depend on thread timing.
  make = lambda fn: ip.make_train_iterator({"jsonl": jsonl_path}, fn, global_batch_size=2, seed=0,
                                           process_index=0, process_count=1, prefetch=1,
                                           num_parallel=1)
  expected = _ids(make(pp_id), 13)[-1]  # examples 24 and 25: the 4th and 5th of epoch 3
  it = make(pp)
  it.set_state(np.array([0, 0, 7 * 3 + 3]))
  assert next(it)["id"].tolist() == expected
  calls.clear()
  it.set_state(np.array([0, 0, 7 * 10_000 + 3]))  # epoch 10_000, 3 examples in
  next(it)
  # pp ran on the examples in flight (map buffer, batch, prefetch), not on the 70_003 skipped.
  assert 2 <= len(calls) < 40


def _replaced(stream, global_batch, bad):
  """The rows of `stream` (clean ids by position) when `bad` fails: the same row of the next
  global batch stands in; -> (ids of rows, failures met)."""
  rows, failures = [], 0
  for position in range(len(stream) - 3 * global_batch):
    tries = next(t for t in range(4) if stream[position + t * global_batch] != bad)
    rows.append(stream[position + tries * global_batch])
    failures += tries
  return rows, failures


def test_bad_example_is_replaced_by_the_same_row_of_the_next_batch(jsonl_path, tmp_path):
  make = lambda: ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=2, seed=0,
                                        skip_bad_examples=True, process_index=0, process_count=1)
  clean = sum(_ids(make(), 13), [])
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  rows, failures = _replaced(clean, 2, bad=3)  # 20 rows
  run = make()
  assert sum(_ids(run, 4), []) == rows[:8]
  state = run.get_state()
  assert state.tolist() == [_replaced(clean[:8 + 6], 2, 3)[1], 0, 8]
  assert _ids(run, 6) == np.reshape(rows[8:], (6, 2)).tolist()
  assert run.skipped_bad_examples == failures >= 2  # id 3 is in each of the 3 epochs read
  resumed = make()
  resumed.set_state(state)
  assert resumed.skipped_bad_examples == state[0]
  assert sum(_ids(resumed, 6), []) == rows[8:] and resumed.skipped_bad_examples == failures


def test_state_errors(jsonl_path):
  it = ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=2, seed=0,
                              process_index=0, process_count=1)
  with pytest.raises(ValueError, match="3 non-negative integers"):
    it.set_state(np.zeros(2, np.int64))
  with pytest.raises(ValueError, match="3 non-negative integers"):
    it.set_state(np.array([0, 0, -1]))
  with pytest.raises(ValueError, match="2-source mixture.*before grain"):
    it.set_state(np.array([0, 0, 5, 7]))  # the tf.data pipeline's mixture state
  ev = ip.make_eval_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=2,
                             process_index=0, process_count=1)
  with pytest.raises(ValueError, match="Eval iterators have no state"):
    ev.get_state()


def test_global_batch_not_divisible_by_processes_raises(jsonl_path):
  with pytest.raises(ValueError, match="global_batch_size 6 is not divisible by the 4 processes"):
    ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=6, seed=0,
                           process_index=0, process_count=4)


def test_mixture_weighs_by_size_or_given_weight(tfds_dir):
  def human_fraction(weights):
    mixture = [{"name": f"chartqa/{c}", "split": "train", "data_dir": tfds_dir, **w}
               for c, w in zip(["human", "augmented"], weights)]
    it = ip.make_train_iterator({"mixture": mixture}, pp_id, global_batch_size=50, seed=1,
                                process_index=0, process_count=1)
    ids = np.concatenate([next(it)["id"] for _ in range(20)])
    return np.mean(ids // 1_000_000 == 11)  # human train ids are 11_000_000 + row.
  assert abs(human_fraction([{}, {}]) - 2 / 5) < 0.05  # fixture sizes: human 2, augmented 3.
  assert human_fraction([{"weight": 1.0}, {"weight": 0.0}]) == 1.0


def _hosts(config, count, state=None, seed=2):
  """The training iterators of hosts 0..count-1 (global batch 4), restored to `state` if given."""
  its = [ip.make_train_iterator(config, pp_id, global_batch_size=4, seed=seed, shuffle_buffer=16,
                                process_index=i, process_count=count) for i in range(count)]
  for it in its:
    if state is not None:
      it.set_state(state)
  return its


def _global_ids(its, n):
  """n global batches: the hosts' local batches concatenated in process order."""
  local = [_ids(it, n) for it in its]
  return [sum((host[b] for host in local), []) for b in range(n)]


@pytest.mark.parametrize("source", ["jsonl", "chartqa"])
def test_hosts_rows_make_the_one_process_global_batches_and_resume_alike(source, jsonl_path,
                                                                         tfds_dir):
  config = {"jsonl": jsonl_path} if source == "jsonl" else _chartqa_mixture(tfds_dir)
  (one,) = _hosts(config, 1)
  want = _ids(one, 3)
  one_state = one.get_state()
  assert one_state[2:].sum() == 12  # 7 examples per epoch: mid-epoch for jsonl
  want += _ids(one, 3)
  if source == "chartqa":  # both sources appear, in a mixed order
    assert len({i // 1_000_000 for i in sum(want, [])}) == 2
  for count in (2, 4):
    its = _hosts(config, count)
    assert _global_ids(its, 3) == want[:3]
    # Every host stands at the one-process position: the end of the last global batch.
    assert all(it.get_state().tolist() == one_state.tolist() for it in its)
    assert _global_ids(_hosts(config, count, one_state), 3) == want[3:]
    assert _global_ids(its, 3) == want[3:]


def test_bad_examples_keep_global_batches_and_positions_for_any_process_count(jsonl_path,
                                                                              tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  config = {"jsonl": jsonl_path}
  make = lambda index, count: ip.make_train_iterator(
      config, pp_id, global_batch_size=4, seed=0, skip_bad_examples=True, process_index=index,
      process_count=count)
  (one,) = [make(0, 1)]
  want = _ids(one, 10)
  assert 3 not in sum(want, []) and one.skipped_bad_examples >= 4  # 40 rows: 5 epochs of 7
  for count in (2, 4):
    its = [make(i, count) for i in range(count)]
    assert _global_ids(its, 5) == want[:5]
    assert {it.get_state()[2] for it in its} == {20}  # every host at one position
    resumed = [make(i, count) for i in range(count)]
    for it, r in zip(its, resumed):
      r.set_state(it.get_state())
    assert _global_ids(resumed, 5) == _global_ids(its, 5) == want[5:]
    assert [r.skipped_bad_examples for r in resumed] == [it.skipped_bad_examples for it in its]
    assert sum(it.skipped_bad_examples for it in its) == one.skipped_bad_examples


def test_other_hosts_rows_are_neither_read_nor_preprocessed(jsonl_path):
  calls = []

  def pp(ex):
    called = tf.reshape(tf.py_function(lambda: calls.append(1) or 0, [], tf.int64), [])
    return {**pp_id(ex), "id": pp_id(ex)["id"] + called}

  it = ip.make_train_iterator({"jsonl": jsonl_path}, pp, global_batch_size=4, seed=0,
                              process_index=3, process_count=4, prefetch=1, num_parallel=1)
  for _ in range(20):
    assert next(it)["id"].shape == (1,)
  # The stream has passed 80 examples; this host read and pre-processed its 20 and a few in
  # flight, not 80.
  assert 20 <= len(calls) < 30 and 20 <= it.records_read < 30


def test_eval_yields_each_example_once_with_padding_mask(jsonl_path):
  batches = []
  for index in range(3):
    it = ip.make_eval_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=6,
                               process_index=index, process_count=3)
    host = list(it)
    assert len(host) == it.num_batches == 2  # ceil(ceil(7 / 3) / 2)
    batches += host
  assert all(b["id"].shape == (2,) and b["image"].shape == (2, 4, 4, 3) for b in batches)
  real = [i for b in batches for i, m in zip(b["id"], b["_mask"]) if m == 1]
  assert sorted(real) == list(range(7))
  assert sum(int(b["_mask"].sum()) for b in batches) == 7


def test_eval_tfds_pads_answers_and_decodes_images(tfds_dir):
  def pp(ex):
    return {"image": tf.io.decode_png(ex["image"], channels=3)[:1, :1], "id": ex["question_id"],
            "answers": ex["answers"]}
  it = ip.make_eval_iterator({"name": "docvqa", "split": "train", "data_dir": tfds_dir}, pp,
                             global_batch_size=4, process_index=0, process_count=1)
  (batch,) = list(it)
  assert batch["_mask"].tolist() == [1, 1, 1, 0]
  by_id = {int(i): k for k, i in enumerate(batch["id"]) if batch["_mask"][k]}
  assert sorted(by_id) == [101, 102, 103]
  assert batch["answers"][by_id[102]].tolist() == [b"J. Smith", b""]
  # Question 103 is on document 1 (data_fixtures.DOCVQA_SPLITS), coloured colour(1).
  assert batch["image"][by_id[103], 0, 0].tolist() == list(data_fixtures.colour(1))


def test_corrupt_image_raises_naming_the_example(jsonl_path, tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  it = ip.make_eval_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=7,
                             process_index=0, process_count=1)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"data\.jsonl:4.*skip_bad_examples"):
    next(it)


def _reader_threads():
  return [t for t in threading.enumerate() if t.name.startswith("grain")]


@pytest.mark.parametrize("kind", ["train", "eval"])
def test_corrupt_image_stops_the_reader_threads(kind, jsonl_path, tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  before = set(_reader_threads())
  if kind == "train":
    it = ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=7, seed=0,
                                process_index=0, process_count=1, num_parallel=4)
  else:
    it = ip.make_eval_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=7,
                               process_index=0, process_count=1, num_parallel=4)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"data\.jsonl:4"):
    next(it)
  deadline = time.monotonic() + 10
  while set(_reader_threads()) - before and time.monotonic() < deadline:
    time.sleep(0.05)
  assert not set(_reader_threads()) - before


def test_corrupt_image_skipped_and_counted(jsonl_path, tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  it = ip.make_eval_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=4,
                             skip_bad_examples=True, process_index=0, process_count=1)
  batches = list(it)
  real = [i for b in batches for i, m in zip(b["id"], b["_mask"]) if m]
  assert sorted(real) == [0, 1, 2, 4, 5, 6] and it.skipped_bad_examples == 1


def test_truncated_examples_are_counted_and_internal_fields_dropped(jsonl_path):
  def pp(ex):
    return {**pp_id(ex), "_truncated": ex["id"] >= 5, "_scratch": tf.constant(1)}
  it = ip.make_eval_iterator({"jsonl": jsonl_path}, pp, global_batch_size=4,
                             process_index=0, process_count=1)
  batches = list(it)
  assert it.truncated_examples == 2  # ids 5 and 6
  assert set(batches[0]) == {"image", "id", "_mask"}


def test_make_global_arrays_shards_the_batch():
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  n = len(jax.devices())
  batch = {"x": np.arange(n * 3, dtype=np.float32).reshape(n, 3)}
  out = ip.make_global_arrays(batch, sharding)
  assert out["x"].shape == (n, 3) and out["x"].sharding == sharding
  np.testing.assert_array_equal(np.asarray(out["x"]), batch["x"])
  with pytest.raises(TypeError, match="'s'"):
    ip.make_global_arrays({"s": np.array([b"a"] * n, dtype=object)}, sharding)


def test_config_errors_name_the_key():
  with pytest.raises(ValueError, match="shuffle"):
    ip.sources({"jsonl": "x.jsonl", "shuffle": True})
  with pytest.raises(ValueError, match="split"):
    ip.sources({"name": "docvqa"})
  with pytest.raises(ValueError, match="exactly one"):
    ip.sources({"name": "docvqa", "split": "train", "jsonl": "x.jsonl"})


def test_tfrecord_build_is_refused_naming_the_convert_and_build_commands(tmp_path):
  manual = data_fixtures.write_docvqa(str(tmp_path / "manual"))
  docvqa.DocVQA(data_dir=str(tmp_path / "old")).download_and_prepare(  # TFDS's default: TFRecord
      download_config=tfds.download.DownloadConfig(manual_dir=manual))
  config = {"name": "docvqa", "split": "train", "data_dir": str(tmp_path / "old")}
  with pytest.raises(ValueError, match=r"tfrecord files.*tfds convert_format "
                     r"--dataset_version_dir=\S*old/docvqa/1\.0\.0 --out_file_format=array_record"
                     r".*tfds build big_paligemma/data/datasets/docvqa\.py .*--file_format "
                     r"array_record"):
    ip.make_train_iterator(config, pp_id, global_batch_size=2, seed=0, process_index=0,
                           process_count=1)
