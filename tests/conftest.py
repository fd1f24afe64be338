"""Test set-up: 8 simulated CPU devices for the sharding tests, float32 matmuls, quiet TensorFlow;
a Cloud Storage emulator for the gs:// tests (`gcs_bucket`)."""
import os

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Read when gcsfs is imported: its gRPC bucket-type probe takes 60 s against an emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(scope="session")
def gcs_emulator():
  """One fake-gcs-server process per test session (tests/gcs_emulator.py)."""
  from tests import gcs_emulator as emulator_lib  # pylint: disable=import-outside-toplevel
  emulator = emulator_lib.Emulator()
  yield emulator
  emulator.stop()


@pytest.fixture
def gcs_bucket(gcs_emulator, monkeypatch) -> str:
  """'gs://<a new empty bucket>' on the emulator; this process's clients and the subprocesses it
  starts (which inherit os.environ) are pointed at the emulator for the test."""
  from tests import gcs_emulator as emulator_lib  # pylint: disable=import-outside-toplevel
  emulator_lib.set_in_process(gcs_emulator.env, monkeypatch)
  return f"gs://{gcs_emulator.create_bucket()}"
