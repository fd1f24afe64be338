"""big_paligemma/fs.py on a local folder and on a bucket of the Cloud Storage emulator."""
import json
import subprocess
import sys

import pytest

from big_paligemma import fs


@pytest.fixture(params=["local", "gcs"])
def root(request, tmp_path) -> str:
  if request.param == "local":
    return str(tmp_path / "root")
  return request.getfixturevalue("gcs_bucket") + "/root"


def test_write_read_exists_list(root):
  fs.write_text(fs.join(root, "a", "x.txt"), "héllo\n")
  fs.write_bytes(fs.join(root, "a", "y.bin"), b"\x00\x01")
  fs.write_text(fs.join(root, "a", "sub", "z.json"), json.dumps({"k": 1}))
  assert fs.read_text(fs.join(root, "a", "x.txt")) == "héllo\n"
  assert fs.read_bytes(fs.join(root, "a", "y.bin")) == b"\x00\x01"
  assert fs.exists(fs.join(root, "a")) and fs.isdir(fs.join(root, "a"))
  assert fs.isfile(fs.join(root, "a", "x.txt")) and not fs.isdir(fs.join(root, "a", "x.txt"))
  assert not fs.exists(fs.join(root, "a", "nope.txt"))
  assert fs.listdir(fs.join(root, "a")) == ["sub", "x.txt", "y.bin"]
  assert fs.glob(fs.join(root, "a", "*.txt")) == [fs.join(root, "a", "x.txt")]
  assert fs.glob(fs.join(root, "**", "*.json")) == [fs.join(root, "a", "sub", "z.json")]


def test_overwrite_and_append(root):
  path = fs.join(root, "m", "metrics.jsonl")
  fs.append_text(path, "1\n")
  fs.append_text(path, "2\n")
  fs.append_text(path, "3\n")
  assert fs.read_text(path) == "1\n2\n3\n"
  assert fs.listdir(fs.join(root, "m")) == ["metrics.jsonl"]  # no temporary objects left
  fs.write_text(path, "new\n")
  assert fs.read_text(path) == "new\n"


def test_open_streams_and_seeks(root):
  path = fs.join(root, "big.bin")
  data = bytes(range(256)) * 1000
  with fs.open(path, "wb") as f:
    f.write(data[:1000])
    f.write(data[1000:])
  with fs.open(path, "rb") as f:
    f.seek(2560)
    assert f.read(10) == data[2560:2570]
  with fs.open(fs.join(root, "t.txt"), "w") as f:
    f.write("line 1\nline 2\n")
  with fs.open(fs.join(root, "t.txt")) as f:
    assert list(f) == ["line 1\n", "line 2\n"]


def test_rename_remove_rmtree_copy(root, tmp_path):
  fs.write_text(fs.join(root, "d", "1.txt"), "one")
  fs.write_text(fs.join(root, "d", "e", "2.txt"), "two")
  fs.rename(fs.join(root, "d"), fs.join(root, "moved"))
  assert not fs.exists(fs.join(root, "d"))
  assert fs.read_text(fs.join(root, "moved", "e", "2.txt")) == "two"
  with pytest.raises(FileExistsError, match="moved"):
    fs.rename(fs.join(root, "moved", "1.txt"), fs.join(root, "moved", "e", "2.txt"))
  fs.copytree(fs.join(root, "moved"), str(tmp_path / "copy"))
  assert (tmp_path / "copy" / "e" / "2.txt").read_text() == "two"
  fs.copy(str(tmp_path / "copy" / "1.txt"), fs.join(root, "c.txt"))
  assert fs.read_text(fs.join(root, "c.txt")) == "one"
  fs.remove(fs.join(root, "c.txt"))
  assert not fs.exists(fs.join(root, "c.txt"))
  fs.rmtree(fs.join(root, "moved"))
  assert not fs.exists(fs.join(root, "moved"))


def test_missing_paths_are_named(root):
  missing = fs.join(root, "no", "such.txt")
  with pytest.raises(FileNotFoundError, match="such.txt"):
    fs.read_text(missing)
  with pytest.raises(FileNotFoundError, match="such.txt"):
    fs.remove(missing)
  with pytest.raises(FileNotFoundError, match="no"):
    fs.listdir(fs.join(root, "no"))


def test_path_helpers():
  assert fs.is_url("gs://b/x") and not fs.is_url("/tmp/x") and not fs.is_url("rel/x")
  assert fs.abspath("gs://b/run") == "gs://b/run"
  assert fs.abspath("rel").startswith("/")
  assert fs.join("gs://b/run", "ckpt", "10") == "gs://b/run/ckpt/10"
  assert fs.dirname("gs://b/run/metrics.jsonl") == "gs://b/run"
  assert fs.dirname("gs://b") == "gs://b"
  assert fs.basename("gs://b/run/") == "run"
  with pytest.raises(ValueError, match="s3://b/x"):
    fs.exists("s3://b/x")


def test_a_subprocess_reads_what_this_process_wrote(gcs_bucket):
  """The emulator's variables reach the processes that tests start (the trainer runs in one)."""
  fs.write_text(f"{gcs_bucket}/from_parent.txt", "parent")
  code = ("from big_paligemma import fs; import sys; b = sys.argv[1]; "
          "fs.write_text(b + '/from_child.txt', fs.read_text(b + '/from_parent.txt') + '+child')")
  subprocess.run([sys.executable, "-c", code, gcs_bucket], check=True, timeout=120)
  assert fs.read_text(f"{gcs_bucket}/from_child.txt") == "parent+child"


def test_atomic_writer_leaves_nothing_on_error(root):
  path = fs.join(root, "w", "out.npz")
  fs.write_bytes(path, b"old")
  with pytest.raises(RuntimeError, match="midway"):
    with fs.atomic_writer(path) as f:
      f.write(b"new, partial")
      raise RuntimeError("midway")
  assert fs.read_bytes(path) == b"old"
  assert fs.listdir(fs.join(root, "w")) == ["out.npz"]
  with fs.atomic_writer(fs.join(root, "w", "fresh.bin")) as f:
    f.write(b"whole")
  assert fs.read_bytes(fs.join(root, "w", "fresh.bin")) == b"whole"
