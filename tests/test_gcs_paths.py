"""The modules that take user paths, given gs:// URLs on the Cloud Storage emulator (gcs_bucket).

Each test writes the module's input with the fs layer (or the module itself), runs the module on
the bucket, and checks what it read or wrote against the same run on a local folder.
"""
import json

import numpy as np
import pytest

from big_paligemma import fs
from big_paligemma.data import jsonl
from big_paligemma.tokenizer import Tokenizer
from tests import data_fixtures
from tests import tokenizer_fixture


def test_tokenizer_load_and_save(gcs_bucket, tmp_path):
  local = Tokenizer.load(tokenizer_fixture.make_tiny_tokenizer(str(tmp_path)))
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
