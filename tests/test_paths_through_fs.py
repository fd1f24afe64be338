"""DESIGN rule 11, read from the source: no module of the project opens or inspects a path with
the local-only calls (open(), os.path.*, os.listdir, shutil, np.load, tf.io.gfile, ...); user
paths go through big_paligemma/fs.py. ALLOWED lists the calls that are meant for local paths,
each with the reason; a listed call that is no longer there must leave the list too."""
import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("big_paligemma", "pp", "configs", "evaluators", "trainers", "tools")
LAYER = "big_paligemma/fs.py"  # the one place that may use them
LOCAL_ONLY = ("open", "os.path.", "os.listdir", "os.scandir", "os.walk", "os.stat", "os.makedirs",
              "os.mkdir", "os.remove", "os.unlink", "os.rmdir", "os.rename", "os.replace",
              "shutil.", "glob.", "pathlib.Path", "np.load", "np.save", "np.savez",
              "np.savez_compressed", "tf.io.gfile.",
              "tf.io.read_file", "tf.io.write_file", "tf.summary.create_file_writer",
              "safe_open", "save_file", "Image.open", "PIL.Image.open")
# (file, call) -> why a local path is meant there.
ALLOWED = {
    ("big_paligemma/config.py", "os.path.isfile"):
        "--config FILE.py is Python code imported from the local disk",
    ("tools/make_tokenizer.py", "os.path.join"):
        "inside a tempfile.TemporaryDirectory: sentencepiece and transformers read local files",
    ("tools/bench_pp.py", "os.path.join"): "a tempfile.TemporaryDirectory of the benchmark",
    ("tools/bench_hf_load.py", "open"): "/proc/self/status, the process's memory figures",
    ("tools/bench_hf_load.py", "os.path.exists"):
        "the benchmark's model folder, written by transformers' save_pretrained (local only)",
    ("tools/bench_hf_load.py", "os.path.join"): "as above",
    **{("tools/bench_input.py", call): "the benchmark's own files in a temporary folder (it "
       "counts the local bytes read, /proc/self/io) and the repository's own folder"
       for call in ("open", "os.path.join", "os.path.dirname", "os.path.abspath", "os.makedirs",
                    "os.path.getsize")},
    **{("tools/bench_exits.py", call): "the benchmark's own run files in a temporary folder and "
       "the repository's own folder" for call in ("open", "os.path.join", "os.path.dirname",
                                                  "os.path.abspath", "os.makedirs",
                                                  "os.path.basename")},
    ("evaluators/metrics/coco.py", "shutil.which"): "looks up the java program, not a path",
    ("big_paligemma/segmentation.py", "np.load"): "reads a file object opened with fs.open",
    ("tools/demo_data/refcoco.py", "np.savez_compressed"):
        "writes into a file object opened with fs.atomic_writer",
}


# The TFDS builders import nothing from the project (`tfds build` loads them by path): their file
# I/O is etils.epath (TFDS's own path layer, on gcsfs once big_paligemma/fs.py is imported) and
# these string operations, which work on gs:// URLs, build the paths.
BUILDERS = "big_paligemma/data/datasets/"
BUILDER_STRING_OPS = ("os.path.join", "os.path.dirname", "os.path.basename", "os.path.splitext")


def _allowed(rel: str, call: str) -> bool:
  return (rel, call) in ALLOWED or (rel.startswith(BUILDERS) and call in BUILDER_STRING_OPS)


def _dotted(node: ast.AST) -> str | None:
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    base = _dotted(node.value)
    return f"{base}.{node.attr}" if base else None
  return None


def _reads_bytes_io(call: ast.Call) -> bool:
  """Image.open(io.BytesIO(...)): bytes already read, no path."""
  return bool(call.args) and isinstance(call.args[0], ast.Call) and \
      (_dotted(call.args[0].func) or "").endswith("BytesIO")


def local_only_calls() -> dict[tuple[str, str], list[int]]:
  """(file, call) -> line numbers of every local-only call outside the layer."""
  found = {}
  for package in PACKAGES:
    for path in sorted((ROOT / package).rglob("*.py")):
      rel = path.relative_to(ROOT).as_posix()
      if rel == LAYER:
        continue
      for node in ast.walk(ast.parse(path.read_text(), rel)):
        if not isinstance(node, ast.Call):
          continue
        name = _dotted(node.func) or ""
        if any(name == p or (p.endswith(".") and name.startswith(p)) or name == p.rstrip(".")
               for p in LOCAL_ONLY) and not (name.endswith("Image.open") and _reads_bytes_io(node)):
          found.setdefault((rel, name), []).append(node.lineno)
  return found


def test_user_paths_go_through_the_fs_layer():
  found = local_only_calls()
  unexpected = {f"{f}:{lines} {call}()" for (f, call), lines in found.items()
                if not _allowed(f, call)}
  assert not unexpected, ("local-only path calls outside big_paligemma/fs.py (use fs.*, or add "
                          f"the call to ALLOWED with the reason): {sorted(unexpected)}")
  stale = sorted(f"{f} {call}" for f, call in ALLOWED if (f, call) not in found)
  assert not stale, f"ALLOWED entries no longer in the code; remove them: {stale}"


def test_the_scan_finds_what_it_must(tmp_path, monkeypatch):
  """The checker itself: a module with each kind of call is caught, bytes-only Image.open is not."""
  package = tmp_path / "tools"
  package.mkdir()
  (package / "bad.py").write_text(
      "import os, shutil, numpy as np\nfrom PIL import Image\nimport io\n"
      "open('x')\nos.path.exists('x')\nshutil.rmtree('x')\nnp.load('x')\n"
      "Image.open('x')\nImage.open(io.BytesIO(b''))\nnp.savez_compressed('x')\n")
  monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
  found = local_only_calls()
  assert {call for _, call in found} == {"open", "os.path.exists", "shutil.rmtree", "np.load",
                                         "Image.open", "np.savez_compressed"}
  assert found[("tools/bad.py", "Image.open")] == [8]
