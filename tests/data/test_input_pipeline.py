"""The input pipeline: determinism, resumption, hosts' rows of the global batch, mixtures, eval
padding, bad input."""
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
      cls(config=config, data_dir=out).download_and_prepare(
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
  # [bad, truncated, consumed per source]: 10 examples read, 8 bytes a number whatever the buffer.
  assert state.dtype == np.int64 and state.nbytes < 1024
  assert state[:2].tolist() == [0, 0] and state[2:].sum() == 10
  if source == "jsonl":
    assert state.tolist() == [0, 0, 10]  # 7 examples: the middle of the second epoch.
  expected = _ids(run, 8)
  resumed = make()
  resumed.set_state(state)
  assert _ids(resumed, 8) == expected


def test_mixture_state_counts_each_source(tfds_dir):
  it = ip.make_train_iterator(_chartqa_mixture(tfds_dir), pp_id, global_batch_size=2, seed=5,
                              process_index=0, process_count=1)
  ids = sum(_ids(it, 7), [])
  human = sum(i // 1_000_000 == 11 for i in ids)  # human train ids are 11_000_000 + row.
  assert it.get_state().tolist() == [0, 0, human, len(ids) - human]


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


def test_bad_example_counts_survive_a_restore(jsonl_path, tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  make = lambda: ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=2, seed=0,
                                        skip_bad_examples=True, process_index=0, process_count=1)
  run = make()
  _ids(run, 4)
  state = run.get_state()
  assert state[2] == 8 + state[0] and state[0] == run.skipped_bad_examples  # 8 good + bad read
  expected = _ids(run, 6)
  resumed = make()
  resumed.set_state(state)
  assert resumed.skipped_bad_examples == state[0]
  assert _ids(resumed, 6) == expected and 3 not in sum(expected, [])
  # 20 good examples of 6 per epoch: the bad one was passed in epochs 1-3, maybe in epoch 4.
  assert resumed.skipped_bad_examples == run.skipped_bad_examples in (3, 4)


def test_state_errors(jsonl_path):
  it = ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=2, seed=0,
                              process_index=0, process_count=1)
  with pytest.raises(ValueError, match="3 non-negative integers"):
    it.set_state(np.zeros(4, np.int64))
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


def test_host_skipping_a_bad_example_resumes_exactly_from_its_own_state(jsonl_path, tmp_path):
  data_fixtures.corrupt_image(str(tmp_path / "images" / "3.png"))
  make = lambda index: ip.make_train_iterator({"jsonl": jsonl_path}, pp_id, global_batch_size=4,
                                              seed=0, skip_bad_examples=True,
                                              process_index=index, process_count=2)
  for index in range(2):
    run = make(index)
    _ids(run, 5)
    state = run.get_state()
    assert state[0] >= 1  # this host has met the bad example: it is behind the other host
    expected = _ids(run, 5)
    resumed = make(index)
    resumed.set_state(state)
    assert _ids(resumed, 5) == expected and 3 not in sum(expected, [])
    assert resumed.skipped_bad_examples == run.skipped_bad_examples


def test_other_hosts_rows_are_not_preprocessed(jsonl_path):
  calls = []

  def pp(ex):
    called = tf.reshape(tf.py_function(lambda: calls.append(1) or 0, [], tf.int64), [])
    return {**pp_id(ex), "id": pp_id(ex)["id"] + called}

  it = ip.make_train_iterator({"jsonl": jsonl_path}, pp, global_batch_size=4, seed=0,
                              process_index=3, process_count=4, prefetch=1, num_parallel=1)
  for _ in range(20):
    assert next(it)["id"].shape == (1,)
  # 80 examples read; pp ran on this host's 20 and a few in flight (one in four), not on 80.
  assert 20 <= len(calls) < 30


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
