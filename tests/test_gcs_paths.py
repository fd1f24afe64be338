"""The modules that take user paths, given gs:// URLs on the Cloud Storage emulator (gcs_bucket).

Each test writes the module's input with the fs layer (or the module itself), runs the module on
the bucket, and checks what it read or wrote against the same run on a local folder.
"""
import json

import numpy as np
import pytest

from big_paligemma import fs
from big_paligemma import loading
from big_paligemma import tree as tree_lib
from big_paligemma.data import jsonl
from big_paligemma.interop import big_vision
from big_paligemma.interop import hf
from big_paligemma.interop import hf_save
from big_paligemma.tokenizer import Tokenizer
from evaluators import formats
from tests import data_fixtures
from tests.interop import test_big_vision_npz as npz_tests


def test_tokenizer_load_and_save(gcs_bucket, plain_tokenizer_path):
  local = Tokenizer.load(plain_tokenizer_path)
  local.save(f"{gcs_bucket}/tok/paligemma.model")
  remote = Tokenizer.load(f"{gcs_bucket}/tok/paligemma.model")
  assert remote.serialized_model_proto() == local.serialized_model_proto()
  assert remote.encode("a cat <loc0012>") == local.encode("a cat <loc0012>")
  with pytest.raises(FileNotFoundError, match=f"{gcs_bucket}/tok/none.model"):
    Tokenizer.load(f"{gcs_bucket}/tok/none.model")


def test_jsonl_source_and_its_images(gcs_bucket, tmp_path):
  path = data_fixtures.write_jsonl(str(tmp_path / "data"), n=3)
  fs.copytree(str(tmp_path / "data"), f"{gcs_bucket}/data")
  examples = list(jsonl.load(f"{gcs_bucket}/data/data.jsonl").as_numpy_iterator())
  want = list(jsonl.load(path).as_numpy_iterator())
  assert [e["image"] for e in examples] == [e["image"] for e in want]
  assert [e["suffix"] for e in examples] == [b"image 0", b"image 1", b"image 2"]
  assert examples[1]["_id"] == f"{gcs_bucket}/data/data.jsonl:2".encode()
  fs.remove(f"{gcs_bucket}/data/images/1.png")
  with pytest.raises(FileNotFoundError,
                     match=f"data.jsonl:2: image {gcs_bucket}/data/images/1.png does not exist"):
    jsonl.read_rows(f"{gcs_bucket}/data/data.jsonl")


def test_jsonl_image_urls_and_absolute_paths(gcs_bucket, tmp_path):
  data_fixtures.write_jsonl(str(tmp_path / "data"), n=2)
  fs.copy(str(tmp_path / "data" / "images" / "0.png"), f"{gcs_bucket}/elsewhere/0.png")
  rows = [{"image": f"{gcs_bucket}/elsewhere/0.png", "prefix": "p", "suffix": "s"},
          {"image": str(tmp_path / "data" / "images" / "1.png"), "prefix": "p", "suffix": "s"}]
  fs.write_text(f"{gcs_bucket}/mixed.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
  images = [e["image"] for e in jsonl.load(f"{gcs_bucket}/mixed.jsonl").as_numpy_iterator()]
  assert images == [(tmp_path / "data" / "images" / f"{i}.png").read_bytes() for i in (0, 1)]
  assert np.frombuffer(images[0], np.uint8)[:4].tobytes() == b"\x89PNG"


def test_big_vision_npz_save_and_load(gcs_bucket):
  flat = npz_tests._random_params(npz_tests.CFG)  # pylint: disable=protected-access
  path = f"{gcs_bucket}/bv/params.npz"
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  assert fs.listdir(f"{gcs_bucket}/bv") == ["params.npz"]
  assert loading.kind(path) == "npz"
  got = tree_lib.flatten(big_vision.load_npz(path, npz_tests.CFG))
  for p, want in flat.items():
    np.testing.assert_array_equal(np.asarray(got[p]), want, err_msg=p)


def test_hf_directory_save_load_and_a_truncated_shard(gcs_bucket):
  cfg = npz_tests.CFG
  flat = npz_tests._random_params(cfg, seed=1)  # pylint: disable=protected-access
  params = tree_lib.unflatten(flat)
  directory = f"{gcs_bucket}/hf/pg"
  hf_save.save_hf(directory, "paligemma", cfg, params, max_shard_bytes=20_000)
  names = fs.listdir(directory)
  assert "config.json" in names and "model.safetensors.index.json" in names
  assert len([n for n in names if n.endswith(".safetensors")]) > 1
  assert fs.listdir(f"{gcs_bucket}/hf") == ["pg"]  # the temporary folder is gone
  assert loading.kind(directory) == "hf"
  _, _, loaded = hf.load_hf(directory)
  want, got = tree_lib.flatten(params), tree_lib.flatten(loaded)
  for p in want:
    np.testing.assert_array_equal(np.asarray(got[p]), np.asarray(want[p]), err_msg=p)
  shard = fs.join(directory, sorted(n for n in names if n.endswith(".safetensors"))[-1])
  fs.write_bytes(shard, fs.read_bytes(shard)[:-100])
  with pytest.raises(ValueError, match=f"{shard} is truncated: tensor"):
    hf.load_hf(directory)


def test_evaluator_submission_files(gcs_bucket):
  path = f"{gcs_bucket}/preds/docvqa_test_predictions.json"
  formats.write_docvqa_submission(path, {7: "red", 9: "a circle"})
  assert json.loads(fs.read_text(path)) == [{"questionId": 7, "answer": "red"},
                                            {"questionId": 9, "answer": "a circle"}]
  assert formats.read_predictions(path, "docvqa") == {7: "red", 9: "a circle"}
