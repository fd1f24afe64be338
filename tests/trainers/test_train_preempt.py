"""Preemption and fatal errors of `python -m trainers.train` (issue 12 points 2 and 4), on one
process and on two of 4 CPU devices each (gloo collectives, tests/trainers/multihost.py).

SIGTERM / SIGINT: every process saves a checkpoint at one agreed step and exits 0 with a line
saying so; re-running continues with the losses of an uninterrupted run (two processes: those of
one process of 8 devices). A corrupt image (no skip_bad_examples): every process exits 1 promptly
and prints the cause, on one process and on two (the corrupt example on process 1, so the error
travels to process 0, the coordinator's host; tools/bench_exits.py repeats both directions).

Each trainer process pays ~7 s of CPU importing jax and TensorFlow: the runs that need no process
of their own (the references, the resumes, a stop at a chosen step) run in this process."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from big_paligemma import checkpoint as ckpt_lib
from tests import data_fixtures
from tests.trainers import multihost
from tests.trainers.test_train_smoke import _FakeData
from tests.trainers.test_train_smoke import read_losses
from tests.trainers.test_train_smoke import write_run
from tools import bench_exits
from trainers import state as state_lib
from trainers import train

REPO = multihost.REPO
TIMEOUT_S = 900  # a hang detector: a 2-core machine shared by other jobs can take 5 minutes
STOPPED = re.compile(r"Stopped by (SIG\w+) at step (\d+): process (\d+) of (\d+) saved checkpoint")
CAUSE = "Pre-processing failed for example"


def test_signal_in_a_step_saves_that_step_and_ends_the_loop(tmp_path, capsys):
  """In process: SIGTERM during step 3 -> checkpoint 3, no evaluation after it, the line; the
  previous handlers are back after the `with`; a second SIGINT raises KeyboardInterrupt."""
  def fake_step(state, batch):
    del batch
    if int(state.step) == 2:
      os.kill(os.getpid(), signal.SIGTERM)
    return state.replace(step=state.step + 1), {"loss": np.float32(1.0)}

  evaluated = []

  class FakeEvaluator:
    def run(self, params):
      del params
      evaluated.append(True)
      return {"ev/score": 0.5}

  plan = train.Plan(total_steps=10, warmup_steps=0, log_every=100, ckpt_every=100,
                    keep_every=None, epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path), 10, 1.0, None)
  state = state_lib.TrainState(step=np.int32(0), params={"w": np.ones([2], np.float32)},
                               opt_state={}, rng=np.zeros([2], np.uint32))
  before = signal.getsignal(signal.SIGTERM)
  with train.StopSignals() as stop:
    state, stopped = train.train_loop(state, fake_step, _FakeData(), plan, ckpt, logger,
                                      [(FakeEvaluator(), 3)], stop=stop)
    assert (int(state.step), stopped, ckpt.all_steps(), evaluated) == (3, signal.SIGTERM, [3], [])
    os.kill(os.getpid(), signal.SIGINT)  # the first SIGINT is a stop request, the second is not
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGTERM) is before
  assert "Stopped by SIGTERM at step 3: process 0 of 1 saved checkpoint 3" in capsys.readouterr().out


def _env() -> dict:
  return dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu",
              JAX_DEFAULT_MATMUL_PRECISION="highest")


def _start(flags: list[str], log_path) -> tuple[subprocess.Popen, object]:
  log = open(log_path, "w")
  proc = subprocess.Popen([sys.executable, "-m", "trainers.train", *flags], env=_env(), cwd=REPO,
                          stdout=log, stderr=subprocess.STDOUT)
  return proc, log


def _logged_steps(workdir) -> int:
  """The highest step in workdir/metrics.jsonl so far (0 if none); a line being written is skipped."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return 0
  steps = [0]
  with open(path) as f:
    for line in f:
      try:
        steps.append(json.loads(line).get("step", 0))
      except json.JSONDecodeError:
        pass
  return max(steps)


def _signal_after(procs, workdir, step: int, sig: int, targets) -> None:
  """Sends `sig` to `targets` (of `procs`) once workdir's metrics show `step`."""
  deadline = time.monotonic() + TIMEOUT_S
  while _logged_steps(workdir) < step:
    assert all(p.poll() is None for p in procs), "the run ended before it was signalled"
    assert time.monotonic() < deadline, f"no step {step} after {TIMEOUT_S} s"
    time.sleep(0.1)
  for proc in targets:
    proc.send_signal(sig)


def _read(path) -> str:
  with open(path) as f:
    return f.read()


def _finish(procs, logs, timeout: float = TIMEOUT_S) -> list[int]:
  """Return codes; a process still running after `timeout` fails the test (after killing all)."""
  deadline = time.monotonic() + timeout
  try:
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
      time.sleep(0.2)
    codes = [p.poll() for p in procs]
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
      proc.wait()
    for log in logs:
      log.close()
  assert None not in codes, f"still running after {timeout} s (a hang): {codes}"
  return codes


def _interrupt(flags, workdir, log_path, at_step: int, sig: int) -> int:
  """Runs the trainer, sends `sig` once step `at_step` is logged; -> the step it stopped at."""
  proc, log = _start([*flags, "--workdir", str(workdir)], log_path)
  try:
    _signal_after([proc], workdir, at_step, sig, [proc])
  finally:
    (code,) = _finish([proc], [log])
  out = _read(log_path)
  assert code == 0, out[-4000:]
  (match,) = STOPPED.findall(out)
  assert match[0] == signal.Signals(sig).name
  return int(match[1])


class _SignalAt(train.StopSignals):
  """The trainer's StopSignals that sends `sig` to this process (to its real handler) right after
  step `step` of the run: an in-process run stopped at a known step."""

  def __init__(self, step: int, sig: int):
    super().__init__()
    self._step, self._sig, self._calls = step, sig, 0

  def agreed(self) -> int:
    self._calls += 1  # once per step: step `self._calls` of this run is done
    if self._calls == self._step:
      os.kill(os.getpid(), self._sig)
      deadline = time.monotonic() + 10
      while not self.received and time.monotonic() < deadline:
        time.sleep(0.001)  # the Python handler runs between bytecodes of this thread
      assert self.received == self._sig, (self.received, self._sig)
    return super().agreed()


@pytest.mark.slow
def test_sigterm_and_sigint_save_and_resume_exactly(tmp_path, capsys):
  """SIGTERM to a trainer process from outside (it exits 0 with the line), then SIGINT three
  steps after the resume (in this process, through the same handlers), then a re-run to the end:
  the losses of an uninterrupted run."""
  # 60 steps leave the trainer ~55 steps (~2 s of CPU) between the logged step and the end of
  # the run for the signal to arrive in. The other runs are in this process (a trainer process
  # pays ~7 s of CPU importing jax and TensorFlow; the programs come from the compilation cache
  # that the signalled run filled).
  steps = 60
  flags = ["--config", write_run(tmp_path / "files") + f",steps={steps},ckpt_every=1000"]
  run = tmp_path / "run"
  stop1 = _interrupt(flags, run, tmp_path / "1.log", 3, signal.SIGTERM)
  assert 3 <= stop1 < steps
  assert ckpt_lib.Checkpointer(str(run / "ckpt")).all_steps() == [stop1]
  capsys.readouterr()
  with _SignalAt(3, signal.SIGINT) as stop:
    train.train([*flags, "--workdir", str(run)], stop)
  out = capsys.readouterr().out
  stop2 = stop1 + 3
  assert f"Resumed from step {stop1}" in out
  assert f"Stopped by SIGINT at step {stop2}: process 0 of 1 saved checkpoint {stop2}" in out
  assert ckpt_lib.Checkpointer(str(run / "ckpt")).all_steps() == [stop1, stop2]
  assert max(read_losses(run)) == stop2
  train.main([*flags, "--workdir", str(run)])  # resumes, to the end
  train.main([*flags, "--workdir", str(tmp_path / "ref")])  # the uninterrupted reference
  want, got = read_losses(tmp_path / "ref"), read_losses(run)
  assert sorted(want) == sorted(got) == list(range(1, steps + 1))
  for step in range(1, steps + 1):
    assert got[step] == want[step], (step, got[step], want[step])


def _two_processes(tmp_path, flags, name):
  log_paths = [tmp_path / f"{name}_{i}.log" for i in range(2)]
  logs = [open(p, "w") for p in log_paths]
  return multihost.start_processes(flags, logs), logs, log_paths


def _stop_two_processes(tmp_path, flags, name: str, at_step: int, targets) -> tuple[int, list]:
  """Runs `flags` as two processes; SIGTERM to `targets` once step `at_step` is logged: both exit
  0 having saved a checkpoint at the same step. -> (that step, the two logs)."""
  procs, logs, log_paths = _two_processes(tmp_path, flags, name)
  try:
    _signal_after(procs, tmp_path / "run", at_step, signal.SIGTERM, [procs[i] for i in targets])
  finally:
    codes = _finish(procs, logs)
  outs = [_read(p) for p in log_paths]
  assert codes == [0, 0], [out[-3000:] for out in outs]
  stops = [STOPPED.findall(out) for out in outs]
  assert [len(s) for s in stops] == [1, 1], outs
  (sig0, step0, pid0, n0), (sig1, step1, pid1, n1) = stops[0][0], stops[1][0]
  assert (sig0, sig1, pid0, pid1, n0, n1) == ("SIGTERM", "SIGTERM", "0", "1", "2", "2")
  assert step0 == step1
  assert int(step0) >= at_step
  return int(step0), outs


@pytest.mark.slow
def test_two_processes_stop_at_one_step_resume_and_train_like_one(tmp_path):
  """Two processes of 4 CPU devices (gloo): SIGTERM to process 1 alone, then, in the resumed run,
  to both: each time both save one checkpoint at the step they agree on and exit 0. The losses
  of the two-process run are those of one process of 8 devices stopped at the same step, and the
  two-process checkpoint is complete: it restores whole, data position included, with that
  run's params."""
  files = write_run(tmp_path / "files")
  mesh = f"--config.mesh={multihost.MESH}"
  flags = ["--config", files + ",steps=2000,ckpt_every=1000", mesh]
  run = tmp_path / "run"
  stop1, _ = _stop_two_processes(tmp_path, [*flags, "--workdir", str(run)], "a", 3, [1])
  ckpt = ckpt_lib.Checkpointer(str(run / "ckpt"))
  assert ckpt.all_steps() == [stop1]
  stop2, outs = _stop_two_processes(tmp_path, [*flags, "--workdir", str(run)], "b", stop1 + 3,
                                    [0, 1])
  for out in outs:
    assert f"Resumed from step {stop1}" in out, out[-3000:]
  assert ckpt_lib.Checkpointer(str(run / "ckpt")).all_steps() == [stop1, stop2]

  with _SignalAt(stop2, signal.SIGTERM) as stop:  # this process: 8 devices, the same schedule
    one = train.train([*flags, "--workdir", str(tmp_path / "one")], stop)
  want, got = read_losses(tmp_path / "one"), read_losses(run)
  assert sorted(want) == sorted(got) == list(range(1, stop2 + 1))
  np.testing.assert_allclose([got[s] for s in want], list(want.values()), rtol=0, atol=1e-5)
  assert abs(want[stop2] - want[1]) > 1e-3  # the run moved
  state, extra, metadata = ckpt_lib.Checkpointer(str(run / "ckpt")).restore(one)
  one_extra = ckpt_lib.Checkpointer(str(tmp_path / "one" / "ckpt")).restore(one)[1]
  assert metadata["step"] == int(state.step) == stop2
  assert extra["data"].tolist() == one_extra["data"].tolist()
  assert extra["data"][2] == stop2 * 8  # examples read, batch 8
  # Saved params are the one-process run's (each adam step of lr <= 1e-3 moves them ~1e-3).
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-3),
               state.params, one.params)


def _corrupt_run(tmp_path, example: int = 3) -> list[str]:
  """A run of 10 examples whose `example` (its jsonl line is example + 1) is not an image."""
  spec = write_run(tmp_path / "files")
  data_fixtures.corrupt_image(str(tmp_path / "files" / "data" / "images" / f"{example}.png"))
  return ["--config", spec + ",steps=4"]


@pytest.mark.slow
def test_corrupt_image_exits_1_promptly(tmp_path):
  proc, log = _start([*_corrupt_run(tmp_path), "--workdir", str(tmp_path / "run")],
                     tmp_path / "run.log")
  assert _finish([proc], [log]) == [1]
  out = _read(tmp_path / "run.log")
  assert CAUSE in out and "data.jsonl:4" in out, out[-4000:]


@pytest.mark.slow
def test_corrupt_image_on_process_1_stops_both_with_the_cause(tmp_path):
  """The corrupt example is one that only process 1 reads (process 0 hosts the coordinator): both
  exit 1, process 1 prints its error and process 0 prints it as process 1's. (The other
  direction, a fault on process 0, is tools/bench_exits.py's default, run 20 times there.)"""
  (example, *_) = bench_exits.examples_read_only_by(1, n=10)
  flags = [*_corrupt_run(tmp_path, example), f"--config.mesh={multihost.MESH}",
           "--workdir", str(tmp_path / "run")]
  procs, logs, log_paths = _two_processes(tmp_path, flags, "run")
  codes = _finish(procs, logs, timeout=TIMEOUT_S)
  outs = [_read(p) for p in log_paths]
  assert codes == [1, 1], [out[-3000:] for out in outs]
  name = f"data.jsonl:{example + 1}"
  for out in outs:
    assert CAUSE in out and name in out, out[-4000:]
  assert "Process 0 stops: process 1 of 2 failed with:" in outs[0], outs[0][-4000:]
  assert "stops: process" not in outs[1], outs[1][-4000:]


