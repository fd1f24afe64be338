"""Test set-up: the CPU platform with 8 simulated devices for the sharding tests, float32 matmuls
(jax's default precision again for the modules that compile for a TPU: `trainer_precision`), quiet
TensorFlow; session-wide fixtures (the tiny tokenizers, a Cloud Storage emulator for the gs://
tests, `gcs_bucket`).

Tiers: `python -m pytest -q -n 2` runs everything (what `.ci/run` does); `-m "not slow"` leaves out
the end-to-end runs of the trainer, the tools and the multi-process tests (each marked `slow`),
for a quick loop while editing.

Compiled programs are shared through JAX's persistent compilation cache in a directory of this run
(made by the first process, inherited by the xdist workers and by the trainers that tests start
as subprocesses; removed at exit): the suite compiles the same tiny models in many processes, and
a cache hit spares the compile (41% of the CPU time of the resume test's five trainer runs). An
entry read while another process writes it fails to decompress, and jax then compiles (with a
warning) instead of failing.

The platform and the device count are pinned, not defaulted: a test of 8-device meshes must not
pick up a GPU or a TPU of the machine, nor a user's XLA_FLAGS without the device count. The
trainers that tests start as subprocesses inherit both variables. XLA:CPU compiles without LLVM
optimisation (tests/xla_env.py: half the compile time; results differ in the last bits only).
"""
import atexit
import os
import shutil
import tempfile

import pytest

from tests import xla_env

DEVICE_COUNT = 8
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = xla_env.xla_flags(DEVICE_COUNT)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="big_paligemma_tests_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Read when gcsfs is imported: its gRPC bucket-type probe takes 60 s against an emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import jax  # noqa: E402

jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_default_matmul_precision", "highest")


def pytest_sessionstart(session):
  """Stops at once with the reason if jax was set up before this file (e.g. by a plugin) with
  another platform or device count: the sharding tests would fail one by one otherwise."""
  del session
  devices = jax.devices()
  if len(devices) != DEVICE_COUNT or devices[0].platform != "cpu":
    pytest.exit(f"the tests need {DEVICE_COUNT} CPU devices, jax has {len(devices)} "
                f"{devices[0].platform} device(s): jax was initialised before tests/conftest.py "
                "set JAX_PLATFORMS=cpu and XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{DEVICE_COUNT}; run pytest without plugins that import jax first.", returncode=4)


def pytest_collection_modifyitems(session, config, items):
  """Runs the modules that hold a `slow` test first (each module's tests kept together, so its
  module fixtures are built once per worker): with `-n 2` the long end-to-end tests then start
  early, and the short tests fill both workers at the end instead of one worker finishing a long
  trainer test alone (the trainer tests sort last by path). Every xdist worker sorts the same
  collection the same way (a stable sort), as xdist requires."""
  del session, config
  slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
  items.sort(key=lambda item: item.path not in slow_modules)


@pytest.fixture(scope="session")
def plain_tokenizer_path(tmp_path_factory) -> str:
  """The tiny plain SentencePiece model (tests/tokenizer_fixture.py), trained once per session."""
  from tests import tokenizer_fixture  # pylint: disable=import-outside-toplevel
  return tokenizer_fixture.make_tiny_tokenizer(str(tmp_path_factory.mktemp("tok_plain")))


@pytest.fixture(scope="session")
def paligemma_tokenizer_path(tmp_path_factory) -> str:
  """The same model with the loc/seg pieces (`paligemma.model`), made once per session. Tests
  read it; one that needs to change the file copies it first."""
  from tests import tokenizer_fixture  # pylint: disable=import-outside-toplevel
  return tokenizer_fixture.make_tiny_paligemma_tokenizer(
      str(tmp_path_factory.mktemp("tok_paligemma")))


@pytest.fixture(scope="module")
def trainer_precision():
  """For the modules that compile for a TPU with libtpu (`pytestmark =
  pytest.mark.usefixtures("trainer_precision")`): jax's default matmul precision, the one the
  trainer and tools/plan compile with, instead of the "highest" set above for the CPU parity
  tests. At "highest" libtpu emulates each float32 matmul with several bfloat16 passes, a program
  the trainer never runs, and compiles ~4x slower (test_tpu_layouts: 92 s of compiles, 34 s at
  the default)."""
  with jax.default_matmul_precision(None):
    yield


@pytest.fixture(scope="session")
def v5e_2x2():
  """The 4 compile-only devices of libtpu's v5e:2x2 topology (no TPU needed); the test is skipped,
  with the reason printed, where libtpu cannot load."""
  os.environ.setdefault("TPU_ACCELERATOR_TYPE", "v5litepod-16")
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # other test processes may hold it
  try:
    from jax.experimental import topologies  # pylint: disable=import-outside-toplevel
    return topologies.get_topology_desc(topology_name="v5e:2x2", platform="tpu").devices
  except Exception as e:  # pylint: disable=broad-except
    print(f"no libtpu compile-only client: {e}")
    pytest.skip(f"libtpu cannot load here ({type(e).__name__}: {str(e)[:200]}); "
                "pip install libtpu to run it.")


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
