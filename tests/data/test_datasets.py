"""The TFDS builders read the official layouts (written by tests/data_fixtures.py) into examples."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from big_paligemma.data import jsonl
from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa
from tests import data_fixtures

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build(builder_cls, manual_dir, data_dir, **kwargs):
  builder = builder_cls(data_dir=str(data_dir), **kwargs)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def _read(builder, split, key):
  """{key value: example} with the image as its stored bytes."""
  ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
  return {int(ex[key]): ex for ex in tfds.as_numpy(ds)}


def _file_bytes(path):
  with open(path, "rb") as f:
    return f.read()


def test_docvqa_reads_questions_answers_and_images(tmp_path):
  manual = data_fixtures.write_docvqa(str(tmp_path / "manual"))
  builder = _build(docvqa.DocVQA, manual, tmp_path / "out")
  train = _read(builder, "train", "question_id")
  assert sorted(train) == [101, 102, 103]
  assert train[101]["question"] == b"What is the date?"
  assert list(train[101]["answers"]) == [b"12/10/98", b"december 10, 1998"]
  assert train[103]["image"] == _file_bytes(os.path.join(manual, "documents", "gtbk0226_2.png"))
  assert sorted(_read(builder, "validation", "question_id")) == [201, 202]
  test = _read(builder, "test", "question_id")
  assert sorted(test) == [301, 302] and len(test[301]["answers"]) == 0


def test_chartqa_question_ids_are_unique_across_splits_and_configs(tmp_path):
  manual = data_fixtures.write_chartqa(str(tmp_path / "manual"))
  human = _build(chartqa.ChartQA, manual, tmp_path / "out", config="human")
  augmented = _build(chartqa.ChartQA, manual, tmp_path / "out", config="augmented")
  # 1_000_000 * (10 * split + config) + row; train 1, validation 2, test 3; human 1, augmented 2.
  train_h = _read(human, "train", "question_id")
  assert sorted(train_h) == [11_000_000, 11_000_001]
  assert train_h[11_000_001]["question"] == b"Which year is lowest?"
  assert train_h[11_000_001]["answer"] == b"2011"
  assert train_h[11_000_001]["imgname"] == b"two_col_4.png"
  assert train_h[11_000_001]["image"] == _file_bytes(
      os.path.join(manual, "train", "png", "two_col_4.png"))
  assert sorted(_read(augmented, "train", "question_id")) == [12_000_000, 12_000_001, 12_000_002]
  assert sorted(_read(augmented, "validation", "question_id")) == [22_000_000, 22_000_001]
  test_h = _read(human, "test", "question_id")
  assert list(test_h) == [31_000_000] and test_h[31_000_000]["answer"] == b"73.2%"


def test_coco_karpathy_splits_and_captions(tmp_path):
  manual = data_fixtures.write_coco_karpathy(str(tmp_path / "manual"))
  builder = _build(coco_captions.CocoCaptions, manual, tmp_path / "out")
  assert {s: builder.info.splits[s].num_examples for s in ("train", "restval", "val", "test")} == {
      "train": 2, "restval": 1, "val": 1, "test": 2}
  val = _read(builder, "val", "image_id")
  assert list(val) == [73]
  assert list(val[73]["captions"]) == [b"A motorcycle parked.", b"A red bike."]
  assert val[73]["image"] == _file_bytes(
      os.path.join(manual, "val2014", "COCO_val2014_000000000073.jpg"))
  assert sorted(_read(builder, "test", "image_id")) == [74, 133]


def test_missing_manual_file_names_the_expected_path(tmp_path):
  manual = data_fixtures.write_docvqa(str(tmp_path / "manual"))
  os.remove(os.path.join(manual, "test_v1.0.json"))
  with pytest.raises(FileNotFoundError, match=r"(?s)test_v1\.0\.json is missing.*rrc\.cvc\.uab\.es"):
    _build(docvqa.DocVQA, manual, tmp_path / "out")


@pytest.mark.slow
def test_tfds_build_command_builds_the_module_by_path(tmp_path):
  # The real `tfds build` entry point (interpreter start-up and imports take most of its ~20 s).
  manual = data_fixtures.write_chartqa(str(tmp_path / "manual"))
  command = [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build",
             os.path.join(_REPO, "big_paligemma", "data", "datasets", "chartqa.py"),
             "--config", "human", "--manual_dir", manual, "--data_dir", str(tmp_path / "out")]
  done = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-3000:]
  builder = chartqa.ChartQA(config="human", data_dir=str(tmp_path / "out"))
  assert sorted(_read(builder, "validation", "question_id")) == [21_000_000]
  assert sorted(_read(builder, "train", "question_id")) == [11_000_000, 11_000_001]


def test_jsonl_reads_fields_and_image_bytes(tmp_path):
  path = data_fixtures.write_jsonl(str(tmp_path), n=3)
  with open(path, "a") as f:  # an absolute image path works too
    f.write(json.dumps({"image": str(tmp_path / "images" / "0.png"), "prefix": "caption en",
                        "suffix": "again", "id": 9}) + "\n")
  rows = list(jsonl.load(path).as_numpy_iterator())
  assert [r["id"] for r in rows] == [0, 1, 2, 9]
  assert rows[1]["suffix"] == b"image 1" and rows[1]["prefix"] == b"caption en"
  assert rows[1]["image"] == _file_bytes(str(tmp_path / "images" / "1.png"))
  assert rows[3]["image"] == _file_bytes(str(tmp_path / "images" / "0.png"))
  assert rows[2]["_id"] == f"{path}:3".encode()


def test_jsonl_lists_of_strings_become_variable_length_fields(tmp_path):
  data_fixtures.write_jsonl(str(tmp_path), n=2)
  path = str(tmp_path / "qa.jsonl")
  with open(path, "w") as f:
    for i, answers in enumerate([["a", "b"], ["c"]]):
      f.write(json.dumps({"image": f"images/{i}.png", "prefix": "q", "suffix": answers[0],
                          "answers": answers}) + "\n")
  assert [list(r["answers"]) for r in jsonl.load(path).as_numpy_iterator()] == [
      [b"a", b"b"], [b"c"]]


@pytest.mark.parametrize("line, message", [
    ({"image": "images/0.png", "prefix": "q"}, r"lacks the fields \['suffix'\]"),
    ({"image": "images/9.png", "prefix": "q", "suffix": "a"}, r"images/9\.png does not exist"),
    ({"image": "images/0.png", "prefix": "q", "suffix": "a", "box": {"x": 1}}, "'box'"),
])
def test_jsonl_bad_lines_name_the_line_and_field(tmp_path, line, message):
  data_fixtures.write_jsonl(str(tmp_path), n=1)
  path = str(tmp_path / "bad.jsonl")
  with open(path, "w") as f:
    f.write(json.dumps(line) + "\n")
  with pytest.raises((ValueError, FileNotFoundError), match=message):
    jsonl.read_rows(path)
  with pytest.raises((ValueError, FileNotFoundError), match=r"bad\.jsonl:1"):
    jsonl.read_rows(path)
