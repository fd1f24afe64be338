"""`python -m trainers.train` as two processes of 4 CPU devices each (gloo collectives, a
coordinator on localhost) gives the per-step losses of one process of 8 devices, and writes a
complete checkpoint."""
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from big_paligemma import checkpoint as ckpt_lib
from tests.trainers.test_train_smoke import read_losses
from tests.trainers.test_train_smoke import write_run
from tests import xla_env
from trainers import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 5
MESH = '[("data",2),("fsdp",4),("tensor",1)]'
TIMEOUT_S = 240


pytestmark = pytest.mark.slow  # trainer processes with gloo collectives

def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_processes(flags: list[str], logs) -> list[subprocess.Popen]:
  """Process 0 and 1 of a two-process run, each with 4 CPU devices; output into `logs`."""
  env = dict(os.environ, XLA_FLAGS=xla_env.xla_flags(4), PYTHONPATH=REPO,
             JAX_PLATFORMS="cpu", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
             JAX_DEFAULT_MATMUL_PRECISION="highest")
  address = f"localhost:{_free_port()}"
  return [subprocess.Popen(
      [sys.executable, "-m", "trainers.train", *flags, f"--coordinator_address={address}",
       "--num_processes=2", f"--process_id={i}"],
      env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT) for i, log in enumerate(logs)]


def _wait(procs: list[subprocess.Popen], log_paths: list[str]) -> None:
  """Waits until every process has ended well; the first failure (its peer would wait for it in
  a collective) or the timeout raises, and the caller's `finally` kills them all."""
  deadline = time.monotonic() + TIMEOUT_S
  while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
    if any(proc.poll() not in (None, 0) for proc in procs):
      break
    time.sleep(0.5)
  codes = [proc.poll() for proc in procs]
  failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
  for i in failed or [i for i, code in enumerate(codes) if code is None][:1]:
    with open(log_paths[i]) as f:
      log = f.read()[-4000:]
    what = f"ended with {codes[i]}" if failed else f"is still running after {TIMEOUT_S} s"
    raise AssertionError(f"process {i} of the two-process run {what}:\n{log}")


def test_two_processes_train_like_one(tmp_path):
  spec = write_run(tmp_path / "files") + f",steps={STEPS},ckpt_every={STEPS}"
  flags = ["--config", spec, f"--config.mesh={MESH}"]
  log_paths = [str(tmp_path / f"process_{i}.log") for i in range(2)]
  logs = [open(p, "w") for p in log_paths]
  procs = _start_processes([*flags, "--workdir", str(tmp_path / "two")], logs)
  try:
    one = train.main([*flags, "--workdir", str(tmp_path / "one")])  # this process: 8 devices
    _wait(procs, log_paths)
  finally:
    for proc in procs:
      proc.kill()
      proc.wait()
    for log in logs:
      log.close()
  want, got = read_losses(tmp_path / "one"), read_losses(tmp_path / "two")
  assert sorted(want) == sorted(got) == list(range(1, STEPS + 1))
  np.testing.assert_allclose([got[s] for s in want], list(want.values()), rtol=0, atol=1e-5)
  assert abs(want[STEPS] - want[1]) > 1e-3  # the run moved
  # The two-process checkpoint is complete: it restores whole, data position included.
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "two" / "ckpt"))
  assert ckpt.all_steps() == [STEPS]
  state, extra, metadata = ckpt.restore(one)
  one_extra = ckpt_lib.Checkpointer(str(tmp_path / "one" / "ckpt")).restore(one)[1]
  assert metadata["step"] == int(state.step) == STEPS
  assert extra["data"].tolist() == one_extra["data"].tolist()
  assert extra["data"][2] == STEPS * 8  # examples read, batch 8
  # Saved params are the one-process run's (5 adam steps of lr <= 1e-3 each would move them 5e-3).
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-3),
               state.params, one.params)
