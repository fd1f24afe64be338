"""The one file-system layer for every path a user gives: a local path or a gs:// URL.

Every workdir, checkpoint, metrics file, tokenizer, data file, image, model_init path and outfile
goes through these functions (DESIGN rule 11); no module opens a user path with `open()` or looks
at it with `os.path`. Local paths use the local file system; gs:// URLs use fsspec's gcsfs.

Clients that read and write user paths without this module, and how each reaches Cloud Storage:
  etils.epath (orbax's folders and metadata, TFDS's dataset metadata): put on its fsspec backend
    here (EPATH_USE_TF=false unless already set), so it uses gcsfs as this module does;
  tensorstore (orbax's arrays): its own GCS client;
  array_record (TFDS ArrayRecord data files): its own GCS client.
Credentials are the usual Application Default Credentials for all of them.

Pointing every client at an emulator at E = http://host:port (tests/gcs_emulator.py does, with
fake-gcs-server):
  STORAGE_EMULATOR_HOST=E                  gcsfs (this module, epath)
  GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false  gcsfs: no gRPC bucket-type probe (60 s on an emulator;
                                           read when gcsfs is imported)
  FSSPEC_GS_TOKEN=anon                     gcsfs: no credential search (read when fsspec is
                                           imported; NO_GCE_CHECK=true also skips the GCE probe)
  TENSORSTORE_GCS_HTTP_URL=E               tensorstore
  GOOGLE_AUTH_TOKEN_FOR_TESTING=<any>      tensorstore: no credential search
  CLOUD_STORAGE_EMULATOR_ENDPOINT=E        array_record (google-cloud-cpp)
TensorFlow's own GCS file system (tf.io.gfile, tf.io.read_file, tf.summary on gs://) has no
endpoint setting, so the project reads and writes no user path through it.

Semantics on gs:// that differ from a local disk: folders are name prefixes (`makedirs` does
nothing, an empty folder does not exist); a written file appears whole when it is closed (every
write is atomic); `rename` of a folder copies then deletes (not atomic); `append_text` composes
the old object with the new bytes.
"""
import contextlib
import glob as glob_lib
import os
import posixpath
import uuid
from typing import IO, Iterator

import fsspec

os.environ.setdefault("EPATH_USE_TF", "false")

PathLike = str | os.PathLike


def is_url(path: PathLike) -> bool:
  """Whether `path` is a URL (gs://...) rather than a local path."""
  return "://" in os.fspath(path)


def _fs(path: PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
  path = os.fspath(path)
  if not is_url(path):
    return fsspec.filesystem("file"), path
  protocol = path.split("://", 1)[0]
  if protocol not in ("gs", "gcs"):
    raise ValueError(f"Path {path!r}: only local paths and gs:// URLs are supported.")
  # No listings cache: another host (or process) may have written since the last listing.
  return fsspec.filesystem("gs", use_listings_cache=False), path


def _url(path: PathLike, found: str) -> str:
  """A path as fsspec lists it ('bucket/a/b') -> the caller's form ('gs://bucket/a/b')."""
  return f"gs://{found}" if is_url(path) and not is_url(found) else found


def join(path: PathLike, *parts: str) -> str:
  """`path`/`parts` ('/'-joined for URLs); a part that is a URL or an absolute path starts over
  from itself, as in os.path.join."""
  path = os.fspath(path)
  for part in parts:
    path = part if is_url(part) else (
        posixpath.join(path, part) if is_url(path) else os.path.join(path, part))
  return path


def abspath(path: PathLike) -> str:
  """The absolute form of a local path; a URL unchanged."""
  path = os.fspath(path)
  return path if is_url(path) else os.path.abspath(path)


def dirname(path: PathLike) -> str:
  """The folder holding `path` (a URL keeps its scheme: dirname('gs://b/x/y') = 'gs://b/x')."""
  path = os.fspath(path).rstrip("/")
  if not is_url(path):
    return os.path.dirname(path)
  scheme, rest = path.split("://", 1)
  return f"{scheme}://{posixpath.dirname(rest)}" if "/" in rest else path


def same_path(a: PathLike, b: PathLike) -> bool:
  """Whether `a` and `b` name the same file or folder (local: through symlinks too)."""
  a, b = os.fspath(a).rstrip("/"), os.fspath(b).rstrip("/")
  if is_url(a) or is_url(b):
    return a == b
  return os.path.realpath(a) == os.path.realpath(b)


def relpath(path: PathLike, start: PathLike) -> str:
  """`path` relative to folder `start` when both are local or both URLs; else `path` itself."""
  path, start = os.fspath(path), os.fspath(start)
  if is_url(path) != is_url(start):
    return path
  return posixpath.relpath(path, start) if is_url(path) else os.path.relpath(path, start)


def basename(path: PathLike) -> str:
  return posixpath.basename(os.fspath(path).rstrip("/"))


def exists(path: PathLike) -> bool:
  fs, p = _fs(path)
  return fs.exists(p)


def isdir(path: PathLike) -> bool:
  fs, p = _fs(path)
  return fs.isdir(p)


def isfile(path: PathLike) -> bool:
  fs, p = _fs(path)
  return fs.isfile(p)


def listdir(path: PathLike) -> list[str]:
  """The sorted names (not paths) in folder `path`; FileNotFoundError if it is not a folder."""
  fs, p = _fs(path)
  if not fs.isdir(p):
    raise FileNotFoundError(f"{os.fspath(path)!r} is not a folder.")
  if not is_url(path):
    return sorted(os.listdir(p))
  own = p.split("://", 1)[1].rstrip("/")
  return sorted({basename(f) for f in fs.ls(p, detail=False) if f.rstrip("/") != own})


def glob(pattern: PathLike) -> list[str]:
  """The sorted paths matching `pattern` (*, ?, [..]; ** crosses folders)."""
  if not is_url(pattern):
    return sorted(glob_lib.glob(os.fspath(pattern), recursive=True))
  fs, p = _fs(pattern)
  return sorted(_url(pattern, found) for found in fs.glob(p))


def makedirs(path: PathLike) -> None:
  """Creates folder `path` and its parents if missing (nothing to do on gs://)."""
  if not is_url(path):
    os.makedirs(path, exist_ok=True)


def open(path: PathLike, mode: str = "r") -> IO:  # pylint: disable=redefined-builtin
  """A file object for `path` ('r', 'rb', 'w', 'wb'); text is UTF-8. Reading a missing file
  raises FileNotFoundError naming it. gs:// files are seekable in read mode (range requests)."""
  fs, p = _fs(path)
  if "w" in mode and not is_url(path):
    makedirs(dirname(abspath(path)))
  kwargs = {} if "b" in mode else {"encoding": "utf-8"}
  try:
    return fs.open(p, mode, **kwargs)
  except FileNotFoundError as e:  # one request fewer than asking first
    raise FileNotFoundError(f"No file at {os.fspath(path)!r}.") from e


def read_bytes(path: PathLike) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def read_text(path: PathLike) -> str:
  with open(path, "r") as f:
    return f.read()


@contextlib.contextmanager
def atomic_writer(path: PathLike) -> Iterator[IO[bytes]]:
  """A binary file whose bytes appear at `path` whole when the block ends without an error, and
  not at all otherwise (local: a temporary file renamed over `path`; gs://: an upload that is
  finished on success and cancelled on error). Readers see the old file or the new one."""
  if is_url(path):
    f = open(path, "wb")
    try:
      yield f
    except BaseException:
      f.discard()
      f.closed = True  # so that neither the with-exit nor garbage collection uploads the part
      raise
    f.close()
    return
  tmp = f"{path}.tmp-{uuid.uuid4().hex}"
  try:
    with open(tmp, "wb") as f:
      yield f
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_bytes(path: PathLike, data: bytes) -> None:
  """Writes `data` to `path` atomically: readers see the old file or the whole new one."""
  with atomic_writer(path) as f:
    f.write(data)


def write_text(path: PathLike, text: str) -> None:
  """Writes `text` (UTF-8) to `path` atomically."""
  write_bytes(path, text.encode("utf-8"))


def append_text(path: PathLike, text: str) -> None:
  """Appends UTF-8 `text` to `path` (see append_bytes)."""
  append_bytes(path, text.encode("utf-8"))


def append_bytes(path: PathLike, data: bytes) -> None:
  """Appends `data` to `path` (created if missing). gs://: `data` is uploaded as a temporary
  object and composed onto the end of `path` (the bytes sent are the new ones only)."""
  if not is_url(path):
    makedirs(dirname(abspath(path)))
    with fsspec.filesystem("file").open(path, "ab") as f:
      f.write(data)
    return
  fs, p = _fs(path)
  if not fs.exists(p):
    write_bytes(path, data)
    return
  tmp = f"{p}.append-{uuid.uuid4().hex}"
  write_bytes(tmp, data)
  try:
    fs.merge(p, [p, tmp])
  finally:
    fs.rm(tmp)


def remove(path: PathLike) -> None:
  """Deletes file `path`; FileNotFoundError if there is none."""
  fs, p = _fs(path)
  if not fs.isfile(p):
    raise FileNotFoundError(f"No file at {os.fspath(path)!r} to remove.")
  fs.rm(p)


def rmtree(path: PathLike) -> None:
  """Deletes folder `path` and everything in it (nothing if it does not exist)."""
  fs, p = _fs(path)
  if fs.exists(p):
    fs.rm(p, recursive=True)


def rename(src: PathLike, dst: PathLike) -> None:
  """Moves file or folder `src` to `dst` (which must not exist). Local: one atomic rename;
  gs://: copy then delete, object by object."""
  if is_url(src) != is_url(dst):
    raise ValueError(f"rename {os.fspath(src)!r} -> {os.fspath(dst)!r}: both must be local or "
                     "both gs://; use copy to move between them.")
  if exists(dst):
    raise FileExistsError(f"rename target {os.fspath(dst)!r} exists; remove it first.")
  if not is_url(src):
    os.rename(src, dst)
    return
  fs, p = _fs(src)
  # Server-side copies, then deletes (gcsfs's mv first tries the moveTo call of hierarchical
  # buckets, which other buckets and emulators refuse after retries).
  recursive = fs.isdir(p)
  fs.copy(p, _fs(dst)[1], recursive=recursive)
  fs.rm(p, recursive=recursive)


def forget_listings(path: PathLike) -> None:
  """Makes etils.epath (orbax's file layer) list gs:// folders afresh: its own gcsfs client
  caches listings, so a folder this layer moved or removed would still show there."""
  if is_url(path):
    from etils.epath import backend  # pylint: disable=import-outside-toplevel
    backend.fsspec_backend.fs(os.fspath(path)).invalidate_cache()


def copy(src: PathLike, dst: PathLike) -> None:
  """Copies file `src` to `dst` (local or gs://, either way), streaming in 16 MiB blocks."""
  with open(src, "rb") as f, open(dst, "wb") as g:
    while block := f.read(16 * 2**20):
      g.write(block)


def copytree(src: PathLike, dst: PathLike) -> None:
  """Copies every file under folder `src` to the same relative path under `dst`."""
  fs, p = _fs(src)
  if not fs.isdir(p):
    raise FileNotFoundError(f"{os.fspath(src)!r} is not a folder.")
  root = p.rstrip("/")
  root = root.split("://", 1)[1] if is_url(src) else root
  for found in fs.find(p):
    rel = posixpath.relpath(found, root) if is_url(src) else os.path.relpath(found, root)
    copy(_url(src, found), join(dst, *rel.split(os.sep)))
