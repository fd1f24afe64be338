"""trainers/tb_events.py: the event files it writes (local and on the emulated bucket) read back
with TensorFlow's reader (which checks the record checksums) equal to what tf.summary writes."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from big_paligemma import fs
from trainers import tb_events


def _events(path: str) -> list:
  return list(tf.compat.v1.train.summary_iterator(path))


def _tf_summary_events(logdir: str, steps: dict[int, dict[str, float]]) -> list:
  metadata = summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    for step, values in steps.items():
      for name, value in values.items():
        tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)
  writer.close()
  return _events(tf.io.gfile.glob(f"{logdir}/events.out.tfevents.*")[0])


def _scalars(events) -> list:
  out = []
  for e in events:
    for v in e.summary.value:
      out.append((e.step, v.tag, v.metadata.plugin_data.plugin_name,
                  float(tf.make_ndarray(v.tensor))))
  return out


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_event_file_matches_tf_summary(where, tmp_path, request):
  logdir = (request.getfixturevalue("gcs_bucket") + "/run/tb" if where == "gcs"
            else str(tmp_path / "tb"))
  steps = {10: {"loss": 2.5, "lr": 1e-3}, 20: {"loss": 1.25, "lr": 5e-4}}
  writer = tb_events.EventFileWriter(logdir)
  for step, values in steps.items():
    writer.write(step, values)
  assert fs.listdir(logdir) == [fs.basename(writer.path)]
  local = tmp_path / "copy.tfevents"
  local.write_bytes(fs.read_bytes(writer.path))
  ours = _events(str(local))
  assert ours[0].file_version == "brain.Event:2"
  theirs = _tf_summary_events(str(tmp_path / "tf"), steps)
  assert _scalars(ours) == _scalars(theirs)
  assert [(s, t) for s, t, _, _ in _scalars(ours)] == [(10, "loss"), (10, "lr"), (20, "loss"),
                                                       (20, "lr")]
  assert np.isclose(_scalars(ours)[1][3], 1e-3)


def test_a_flipped_bit_is_caught_by_the_reader(tmp_path):
  writer = tb_events.EventFileWriter(str(tmp_path))
  writer.write(1, {"loss": 1.0})
  data = bytearray(fs.read_bytes(writer.path))
  data[-6] ^= 1
  (tmp_path / "bad.tfevents").write_bytes(bytes(data))
  with pytest.raises(tf.errors.DataLossError):
    _events(str(tmp_path / "bad.tfevents"))
