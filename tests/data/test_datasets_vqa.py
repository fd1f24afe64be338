"""The VQA transfers' TFDS builders read their official layouts (tests/data_fixtures_vqa.py)."""
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image
from PIL import ImageFont
import pytest
import tensorflow_datasets as tfds

from big_paligemma.data import datasets
from big_paligemma.data.datasets import ai2d
from big_paligemma.data.datasets import aokvqa
from big_paligemma.data.datasets import gqa
from big_paligemma.data.datasets import infovqa
from big_paligemma.data.datasets import ocrvqa
from big_paligemma.data.datasets import okvqa
from big_paligemma.data.datasets import stvqa
from big_paligemma.data.datasets import textvqa
from big_paligemma.data.datasets import vizwizvqa
from big_paligemma.data.datasets import vqav2
from big_paligemma.data.datasets import xgqa
from tests import data_fixtures
from tests import data_fixtures_vqa as fx


def _build(builder_cls, manual_dir, data_dir):
  builder = builder_cls(data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def _read(builder, split, key):
  """{key value: example} with the image as its stored bytes."""
  ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
  out = {}
  for ex in tfds.as_numpy(ds):
    value = ex[key]
    out[value.decode() if isinstance(value, bytes) else int(value)] = ex
  return out


def _texts(values):
  return [v.decode() for v in values]


def _file_bytes(path):
  with open(path, "rb") as f:
    return f.read()


def _pixels(encoded):
  return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def test_every_vqa_builder_is_registered_under_its_name():
  classes = (vqav2.VQAv2, textvqa.TextVQA, okvqa.OKVQA, aokvqa.AOKVQA, gqa.GQA, xgqa.XGQA,
             vizwizvqa.VizWizVQA, ai2d.AI2D, stvqa.STVQA, infovqa.InfoVQA, ocrvqa.OCRVQA)
  for cls in classes:
    assert datasets.BUILDERS[cls.name] is cls


MODULES = (vqav2, textvqa, okvqa, aokvqa, gqa, xgqa, vizwizvqa, ai2d, stvqa, infovqa, ocrvqa)
LOAD_BY_PATH = """
import importlib.util, sys
for path in sys.argv[1:]:
  spec = importlib.util.spec_from_file_location("m", path)
  spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("loaded", len(sys.argv) - 1)
"""


def test_builder_modules_load_by_path_without_the_project(tmp_path):
  # What `tfds build path.py` needs: the module imports nothing from the project (not importable
  # from tmp_path).
  paths = [m.__file__ for m in MODULES]
  done = subprocess.run([sys.executable, "-c", LOAD_BY_PATH, *paths], cwd=str(tmp_path),
                        capture_output=True, text=True,
                        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
  assert done.returncode == 0 and f"loaded {len(paths)}" in done.stdout, done.stderr[-2000:]


def test_vqav2(tmp_path):
  manual = fx.write_vqav2(str(tmp_path / "m"))
  b = _build(vqav2.VQAv2, manual, tmp_path / "out")
  train = _read(b, "train", "question_id")
  assert sorted(train) == [9001, 9002]
  ex = train[9001]
  assert ex["question_text"] == b"What color is the plate?" and ex["answer_type"] == b"other"
  assert _texts(ex["answers"]) == fx.ANSWERS_10 and ex["top_answer"] == b"white"
  assert ex["question_type"] == b"what color is the" and ex["image/id"] == 9
  assert list(train[9002]["answer_confidences"]) == [1] * 10  # "maybe" of no/maybe/yes
  assert ex["image/filename"] == b"COCO_train2014_000000000009.jpg"
  assert ex["image"] == _file_bytes(os.path.join(manual, "train2014",
                                                 "COCO_train2014_000000000009.jpg"))
  val = _read(b, "validation", "question_id")
  assert list(val) == [42001] and val[42001]["answer_type"] == b"yes/no"
  for split in ("test", "test-dev"):
    test = _read(b, split, "question_id")
    assert list(test) == [1001] and len(test[1001]["answers"]) == 0
    assert test[1001]["image/filename"] == b"COCO_test2015_000000000001.jpg"


def test_vqav2_leaves_out_test_questions_without_image_but_not_train_ones(tmp_path, caplog):
  manual = fx.write_vqav2(str(tmp_path / "m"))
  _write_json = data_fixtures._write_json  # pylint: disable=protected-access
  _write_json(os.path.join(manual, "v2_OpenEnded_mscoco_test2015_questions.json"), {"questions": [
      {"image_id": 1, "question": "What is this?", "question_id": 1001},
      {"image_id": 5, "question": "Where?", "question_id": 5001}]})  # no image 5
  b = _build(vqav2.VQAv2, manual, tmp_path / "out")
  assert list(_read(b, "test", "question_id")) == [1001]
  assert "VQAv2 test: 1 questions left out" in caplog.text and "[5001]" in caplog.text
  os.remove(os.path.join(manual, "val2014", "COCO_val2014_000000000042.jpg"))
  with pytest.raises(FileNotFoundError, match=r"COCO_val2014_000000000042\.jpg of question 42001"):
    _build(vqav2.VQAv2, manual, tmp_path / "out2")


def test_okvqa(tmp_path):
  manual = fx.write_okvqa(str(tmp_path / "m"))
  b = _build(okvqa.OKVQA, manual, tmp_path / "out")
  train = _read(b, "train", "question_id")
  ex = train[5001]
  assert ex["question"] == b"What animal is this?" and ex["image_id"] == 7
  assert _texts(ex["answers"]) == ["cat"] * 8 + ["kitty"] * 2
  assert _texts(ex["answers_raw"])[-1] == "KITTY"
  assert list(ex["answers_confidence"]) == [True, False] * 5
  assert ex["question_type_readable"] == b"Plants and Animals"
  val = _read(b, "val", "question_id")
  assert list(val) == [6001]
  assert val[6001]["question_type_readable"] == b"Vehicles and Transportation"


def test_aokvqa(tmp_path):
  manual = fx.write_aokvqa(str(tmp_path / "m"))
  b = _build(aokvqa.AOKVQA, manual, tmp_path / "out")
  ex = _read(b, "train", "question_id")["22jbM6gDxdaMaunuzgrsBB"]
  assert _texts(ex["multiple_choice_possible_answers"]) == ["skateboard", "train", "delivery",
                                                             "cab"]
  assert ex["multiple_choice_correct_idx"] == 3 and _texts(ex["direct_answers"]) == ["cab"] * 10
  assert ex["image"] == _file_bytes(os.path.join(manual, "train2017", "000000299207.jpg"))
  assert ex["direct_answer_is_difficult"] == False  # pylint: disable=singleton-comparison
  assert _read(b, "val", "question_id")["b2nLkX"]["direct_answer_is_difficult"]
  test = _read(b, "test", "question_id")["tst0"]
  assert test["multiple_choice_correct_idx"] == -1 and len(test["direct_answers"]) == 0


def test_textvqa_turns_rotated_images_upright(tmp_path):
  manual = fx.write_textvqa(str(tmp_path / "m"))
  b = _build(textvqa.TextVQA, manual, tmp_path / "out")
  train = _read(b, "train", "question_id")[34602]
  assert train["question"] == b"what brand is the bottle?" and _texts(train["answers"]) == [
      "coke"] * 10
  assert train["image_filepath"] == b"train_images/0054c91397f2fe05.jpg"
  w, h = data_fixtures.IMAGE_SIZE
  assert _pixels(train["image"]).shape == (w, h, 3)  # 12x8 listed rotated by 90: now 8 wide
  val = _read(b, "val", "question_id")[34603]  # empty rotation: the file as it is
  assert val["image"] == _file_bytes(os.path.join(manual, "train_images",
                                                  "7a8f6e4c8b2d0001.jpg"))
  test = _read(b, "test", "question_id")[40001]
  assert len(test["answers"]) == 0 and _pixels(test["image"]).shape == (h, w, 3)


def test_textvqa_needs_the_rotation_tables(tmp_path):
  manual = fx.write_textvqa(str(tmp_path / "m"))
  os.remove(os.path.join(manual, "test_images", "rotation.csv"))
  with pytest.raises(FileNotFoundError, match=r"(?s)test_images/rotation\.csv is missing.*"
                     r"test-images-with-rotation\.csv"):
    _build(textvqa.TextVQA, manual, tmp_path / "out")


def test_gqa_and_xgqa(tmp_path):
  manual = fx.write_gqa(str(tmp_path / "m"))
  b = _build(gqa.GQA, manual, tmp_path / "out")
  assert {s: b.info.splits[s].num_examples for s in gqa.SPLITS} == dict.fromkeys(gqa.SPLITS, 1)
  ex = _read(b, "testdev_balanced", "example_id")[20968379]
  assert (ex["question"], ex["answer"], ex["image/id"]) == (b"Who wears the hat?", b"man",
                                                            b"n288870")
  assert ex["full_answer"] == b"The man wears the hat." and ex["is_balanced"]
  x = _build(xgqa.XGQA, manual, tmp_path / "out")
  assert sorted(x.info.splits) == sorted(f"test_zs_{lang}" for lang in xgqa.LANGUAGES)
  de = _read(x, "test_zs_de", "example_id")["20968379_de"]
  assert de["question"].decode() == "Wer trägt den Hut?" and de["answer"] == b"man"
  assert de["image"] == ex["image"]


def test_vizwizvqa(tmp_path):
  manual = fx.write_vizwizvqa(str(tmp_path / "m"))
  b = _build(vizwizvqa.VizWizVQA, manual, tmp_path / "out")
  train = _read(b, "train", "question_id")[0]
  assert _texts(train["answers"]) == ["soap"] * 9  # the empty answer is dropped
  assert train["image/filename"] == b"VizWiz_train_00000000.jpg" and train["answerable"] == 1
  val = _read(b, "val", "question_id")
  assert list(val) == [123] and val[123]["answerable"] == 0
  test = _read(b, "test", "question_id")[7]
  assert len(test["answers"]) == 0 and test["answerable"] == -1


def test_ai2d_draws_the_letter_labels(tmp_path):
  font = ImageFont.load_default(size=10).font_bytes  # Pillow's built-in FreeType font
  manual = fx.write_ai2d(str(tmp_path / "m"), font)
  b = _build(ai2d.AI2D, manual, tmp_path / "out")
  train = _read(b, "train", "id")
  assert list(train) == ["0.png-0"]
  ex = train["0.png-0"]
  assert ex["question"] == b"Which part is green?" and ex["answer"] == b"leaf" and ex["label"] == 0
  assert _texts(ex["possible_answers"]) == ["leaf", "root", "stem", "seed"] and not ex["abc_label"]
  assert ex["image"] == _file_bytes(os.path.join(manual, "ai2d", "images", "0.png"))
  test = _read(b, "test", "id")["1.png-0"]
  assert test["abc_label"] and test["answer"] == b"A"
  pixels = _pixels(test["image"]).astype(int)
  box = pixels[1:8, 2:11]  # the text box (2, 1)-(10, 7): white with a dark "A" drawn in
  assert (box.min(axis=2) > 200).mean() > 0.3 and (box.max(axis=2) < 200).any()
  assert tuple(pixels[7, 0]) == pytest.approx(data_fixtures.colour(1), abs=3)  # outside: as is


def test_stvqa_pseudo_val_by_image_and_full_size_coco_text(tmp_path):
  manual = fx.write_stvqa(str(tmp_path / "m"))
  b = _build(stvqa.STVQA, manual, tmp_path / "out")
  train, val = _read(b, "train", "question_id"), _read(b, "val", "question_id")
  assert [stvqa.is_val(path) for _, path, _, _ in fx.STVQA_TRAIN] == [False, True, False]
  assert sorted(train) == [11, 13] and list(val) == [12]
  ex = {**train, **val}
  assert ex[11]["image"] == _file_bytes(os.path.join(manual, "train2014",
                                                     "COCO_train2014_000000000057.jpg"))
  assert _texts(ex[12]["answers"]) == ["STOP", "stop"] and ex[12]["filename"] == (
      b"imagenet/n0001_10.jpg")
  test = _read(b, "test", "question_id")
  assert list(test) == [21] and len(test[21]["answers"]) == 0
  # The rule is a fixed function of the path: about one image in ten.
  share = np.mean([stvqa.is_val(f"imagenet/{i}.jpg") for i in range(2000)])
  assert 0.08 < share < 0.12


def test_infovqa_val_answers_in_every_span_order(tmp_path):
  manual = fx.write_infovqa(str(tmp_path / "m"))
  b = _build(infovqa.InfoVQA, manual, tmp_path / "out")
  assert _texts(_read(b, "train", "question_id")[65718]["answers"]) == ["cats, dogs"]
  val = _read(b, "val", "question_id")[98213]
  assert _texts(val["answers"]) == [
      "cats, dogs, fish", "cats, fish, dogs", "dogs, cats, fish", "dogs, fish, cats",
      "fish, cats, dogs", "fish, dogs, cats", "pets"]
  assert val["filename"] == b"1.jpeg"
  assert len(_read(b, "test", "question_id")[10001]["answers"]) == 0


def test_ocrvqa_one_example_per_question(tmp_path):
  manual = fx.write_ocrvqa(str(tmp_path / "m"))
  b = _build(ocrvqa.OCRVQA, manual, tmp_path / "out")
  train = _read(b, "train", "question_id")
  assert sorted(train) == [0, 1]  # book 0, questions 0 and 1
  assert (train[1]["question"], train[1]["answer"]) == (b"Is this a comic book?", b"No")
  assert train[0]["image/id"] == b"0001"
  val = _read(b, "val", "question_id")
  assert list(val) == [1000] and val[1000]["answer"] == b"Big Cats"
  assert _pixels(val[1000]["image"])[0, 0].tolist() == list(data_fixtures.colour(1))
  assert list(_read(b, "test", "question_id")) == [2000]


def test_ocrvqa_missing_images_are_counted(tmp_path):
  manual = fx.write_ocrvqa(str(tmp_path / "m"))
  os.remove(os.path.join(manual, "images", "0003.jpg"))
  with pytest.raises(FileNotFoundError, match=r"(?s)1 of the 3 OCR-VQA images are missing, "
                     r"e\.g\. \[.*0003\.jpg'\].*loadDataset\.py"):
    _build(ocrvqa.OCRVQA, manual, tmp_path / "out")
