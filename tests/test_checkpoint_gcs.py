"""big_paligemma.checkpoint on gs:// (the Cloud Storage emulator): orbax's folders through
etils.epath on gcsfs, its arrays through tensorstore's GCS client."""
import numpy as np
import pytest

from big_paligemma import checkpoint
from big_paligemma import fs
from tests import test_checkpoint as local


def test_round_trip_on_gcs_is_exact(gcs_bucket):
  workdir = f"{gcs_bucket}/run/ckpt"
  state = local.train_state()
  ckpt = checkpoint.Checkpointer(workdir, keep_last=2)
  extra = {"data_iterator": np.arange(5, dtype=np.uint8)}
  for step in (1, 2, 3):
    ckpt.save(step, state, extra=extra, metadata={"step": step})
  ckpt.wait_until_finished()
  ckpt.close()
  assert fs.listdir(workdir) == ["2", "3"]  # keep_last on the bucket
  again = checkpoint.Checkpointer(workdir)
  assert again.all_steps() == [2, 3]
  restored, extra_back, metadata = again.restore(local.abstract(state))
  local.assert_trees_equal(restored, state)
  np.testing.assert_array_equal(extra_back["data_iterator"], extra["data_iterator"])
  assert metadata == {"step": 3}
  again.close()


def test_restore_params_from_a_gcs_workdir(gcs_bucket):
  state = local.train_state(seed=3)
  ckpt = checkpoint.Checkpointer(f"{gcs_bucket}/run/ckpt")
  ckpt.save(7, state)
  ckpt.wait_until_finished()
  ckpt.close()
  params = checkpoint.restore_params(f"{gcs_bucket}/run", local.abstract(state["params"]))
  local.assert_trees_equal(params, state["params"])
  with pytest.raises(FileNotFoundError, match=f"step 8 is not in '{gcs_bucket}/run/ckpt'"):
    checkpoint.restore_params(f"{gcs_bucket}/run", local.abstract(state["params"]), step=8)


def test_a_damaged_step_on_gcs_is_moved_aside_and_the_previous_restores(gcs_bucket, capsys):
  workdir = f"{gcs_bucket}/run/ckpt"
  local._save_steps(workdir, [1, 2])
  fs.write_text(f"{workdir}/2/metadata/metadata", "")  # an emptied metadata file
  ckpt = checkpoint.Checkpointer(workdir, keep_last=5)
  step, state, extra, _ = ckpt.restore_latest(local.TARGET, required_extra=("data",))
  assert step == 1 and int(state["step"]) == 1 and extra["data"].tobytes() == b"position 1"
  out = capsys.readouterr().out
  assert f"checkpoint step 2 at {workdir}/2 cannot be restored: JSONDecodeError" in out
  assert fs.isfile(f"{workdir}/damaged/2/state/_METADATA") and not fs.exists(f"{workdir}/2")
  assert ckpt.all_steps() == [1]
  ckpt.close()
