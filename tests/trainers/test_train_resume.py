"""Exact resume: a 12-step run equals one SIGKILLed right after step 6's checkpoint and restarted
(losses of steps 7..12 identical, on CPU); the restart, SIGKILLed while saving step 12, leaves
step 9 as the checkpoint a further restart resumes from. A damaged latest checkpoint (step 9 of
that run) resumes from the one before it."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from big_paligemma import checkpoint
from tests.trainers.test_train_smoke import read_losses
from tests.trainers.test_train_smoke import write_run
from trainers import train

pytestmark = pytest.mark.slow  # two trainer processes and three runs in this one
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# argv: mode (after_save | during_save) step, then the trainer's flags.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import jax
    jax.config.update("jax_default_matmul_precision", "highest")
    from big_paligemma import checkpoint
    mode, kill_step = sys.argv[1], int(sys.argv[2])
    if mode == "after_save":  # step `kill_step` is committed, then the process dies.
      save = checkpoint.Checkpointer.save
      def save_then_die(self, step, *args, **kwargs):
        save(self, step, *args, **kwargs)
        if step == kill_step:
          self.wait_until_finished()
          os.kill(os.getpid(), signal.SIGKILL)
      checkpoint.Checkpointer.save = save_then_die
    else:  # every file of step `kill_step` is written; the process dies before the rename.
      from orbax.checkpoint._src.path import atomicity
      finalize = atomicity.AtomicRenameTemporaryPath.finalize
      async def die_before_rename(self):
        if self._final_path.name == str(kill_step):
          os.kill(os.getpid(), signal.SIGKILL)
        await finalize(self)
      atomicity.AtomicRenameTemporaryPath.finalize = die_before_rename
    from trainers import train
    train.main(sys.argv[3:])
""")


def _run(mode: str, kill_step: int, flags: list[str]) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-c", KILLER, mode, str(kill_step), *flags], env=env,
                        capture_output=True, text=True, timeout=300, cwd=REPO)


def test_killed_runs_resume_exactly(tmp_path, capsys):
  spec = write_run(tmp_path / "files") + ",steps=12,ckpt_every=3"
  train.main(["--config", spec, "--workdir", str(tmp_path / "ref")])
  want = read_losses(tmp_path / "ref")
  assert sorted(want) == list(range(1, 13))

  flags = ["--config", spec, "--workdir", str(tmp_path / "run")]
  proc = _run("after_save", 6, flags)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  assert max(read_losses(tmp_path / "run")) == 6

  proc = _run("during_save", 12, flags)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  assert "Resumed from step 6" in proc.stdout
  got = read_losses(tmp_path / "run")
  for step in range(1, 13):
    assert got[step] == want[step], (step, got[step], want[step])
  ckpt_dir = tmp_path / "run" / "ckpt"
  assert any(p.name.startswith("12.") and "tmp" in p.name for p in ckpt_dir.iterdir())
  ckpt = checkpoint.Checkpointer(str(ckpt_dir))
  assert ckpt.all_steps() == [6, 9]  # keep_last=2
  assert ckpt.latest_step() == 9  # what a restart resumes from (build_state restores latest_step)

  # A damaged latest checkpoint: step 9's biggest data file zero-filled. The re-run (in this
  # process) reports it, moves it to ckpt/damaged/9, resumes from step 6 and repeats steps 7..12
  # exactly.
  data = [p for p in (ckpt_dir / "9" / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
  biggest = max(data, key=lambda p: p.stat().st_size)
  biggest.write_bytes(b"\0" * biggest.stat().st_size)
  capsys.readouterr()
  train.main(flags)
  out = capsys.readouterr().out
  assert f"checkpoint step 9 at {ckpt_dir / '9'} cannot be restored" in out
  assert "Resumed from step 6 of 6." in out
  assert (ckpt_dir / "damaged" / "9" / "state").is_dir()
  got = read_losses(tmp_path / "run")
  for step in range(1, 13):
    assert got[step] == want[step], (step, got[step], want[step])
  assert checkpoint.Checkpointer(str(ckpt_dir)).all_steps() == [9, 12]
