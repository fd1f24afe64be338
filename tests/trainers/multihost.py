"""Helpers of the tests that run `python -m trainers.train` as two processes of 4 CPU devices each
(gloo collectives, a coordinator on localhost): tests/trainers/test_train_preempt.py checks that
such a run gives the per-step losses of one process of 8 devices, stops and resumes together,
writes a complete checkpoint and stops on a fault of either process."""
import os
import socket
import subprocess
import sys

from tests import xla_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESH = '[("data",2),("fsdp",4),("tensor",1)]'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start_processes(flags: list[str], logs) -> list[subprocess.Popen]:
  """Process 0 and 1 of a two-process run, each with 4 CPU devices; output into `logs`."""
  env = dict(os.environ, XLA_FLAGS=xla_env.xla_flags(4), PYTHONPATH=REPO,
             JAX_PLATFORMS="cpu", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
             JAX_DEFAULT_MATMUL_PRECISION="highest")
  address = f"localhost:{_free_port()}"
  return [subprocess.Popen(
      [sys.executable, "-m", "trainers.train", *flags, f"--coordinator_address={address}",
       "--num_processes=2", f"--process_id={i}"],
      env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT) for i, log in enumerate(logs)]
