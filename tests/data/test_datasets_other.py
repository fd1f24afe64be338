"""The counting-and-others builders (tallyqa, countbenchqa, rsvqa, science_qa, pope, nlvr2, marvl)
read tiny copies of the official layouts, written here, into examples."""
import io
import json
import os

import numpy as np
from PIL import Image
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow_datasets as tfds

from big_paligemma.data import datasets
from big_paligemma.data.datasets import countbenchqa
from big_paligemma.data.datasets import marvl
from big_paligemma.data.datasets import nlvr2
from big_paligemma.data.datasets import pope
from big_paligemma.data.datasets import rsvqa
from big_paligemma.data.datasets import science_qa
from big_paligemma.data.datasets import tallyqa
from tests import data_fixtures as fx
from tests.data.test_datasets import _build
from tests.data.test_datasets import _file_bytes

write_image = fx._write_image  # pylint: disable=protected-access
write_json = fx._write_json  # pylint: disable=protected-access


def _read(builder, split, key):
  """{key value: example}, images as their stored bytes."""
  images = {k: tfds.decode.SkipDecoding() for k, f in builder.info.features.items()
            if isinstance(f, tfds.features.Image)}
  ds = builder.as_dataset(split=split, decoders=images)
  return {ex[key].decode() if isinstance(ex[key], bytes) else int(ex[key]): ex
          for ex in tfds.as_numpy(ds)}


def _pixels(encoded):
  return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def _jsonl(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def test_every_builder_is_registered():
  for name, cls in [("tallyqa", tallyqa.TallyQA), ("countbenchqa", countbenchqa.CountBenchQA),
                    ("rsvqa", rsvqa.RSVQA), ("science_qa", science_qa.ScienceQA),
                    ("pope", pope.POPE), ("nlvr2", nlvr2.NLVR2), ("marvl", marvl.MaRVL)]:
    assert datasets.BUILDERS[name] is cls and cls.name == name


# ------------------------------------------------------------------------------ TallyQA
TALLY = {
    "train": [dict(image="VG_100K_2/1.jpg", image_id=1, data_source="amt", question_id=10,
                   question="How many dogs?", answer=2),
              dict(image="train2014/COCO_train2014_000000000009.jpg", image_id=9,
                   data_source="imported_vqa", question_id=11, question="How many cups?",
                   answer=0)],
    "test": [dict(image="VG_100K/3.jpg", image_id=3, data_source="amt", question_id=30,
                  question="How many red cars are parked?", answer=4, issimple=False),
             dict(image="val2014/COCO_val2014_000000000042.jpg", image_id=42,
                  data_source="imported_genome", question_id=31, question="How many cats?",
                  answer=1, issimple=True)],
}


def _write_tallyqa(root):
  for i, entry in enumerate(TALLY["train"] + TALLY["test"]):
    write_image(os.path.join(root, entry["image"]), i, "JPEG")
  for split, entries in TALLY.items():
    write_json(os.path.join(root, f"{split}.json"), entries)
  return root


def test_tallyqa_counts_and_simple_complex(tmp_path):
  manual = _write_tallyqa(str(tmp_path / "manual"))
  builder = _build(tallyqa.TallyQA, manual, tmp_path / "out")
  train = _read(builder, "train", "question_id")
  assert sorted(train) == [10, 11]
  assert (train[10]["answer"], train[10]["issimple"], train[11]["answer"]) == (2, -1, 0)
  assert train[11]["image_source"] == b"imported_vqa" and train[11]["image_id"] == 9
  assert train[10]["image"] == _file_bytes(os.path.join(manual, "VG_100K_2", "1.jpg"))
  test = _read(builder, "test", "question_id")
  assert (test[30]["issimple"], test[31]["issimple"], test[30]["answer"]) == (0, 1, 4)
  assert test[30]["question"] == b"How many red cars are parked?"


def test_tallyqa_image_outside_the_known_folders_is_named(tmp_path):
  manual = _write_tallyqa(str(tmp_path / "manual"))
  write_json(os.path.join(manual, "test.json"),
                 [dict(TALLY["test"][0], image="images/3.jpg")])
  with pytest.raises(ValueError, match=r"'images/3\.jpg' \(question 30 .*is under none of"):
    _build(tallyqa.TallyQA, manual, tmp_path / "out")


# ------------------------------------------------------------------------------ CountBenchQA
def _image_cell(array, fmt):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format=fmt)
  return {"bytes": buf.getvalue(), "path": None}


def _write_countbench(root):
  """4 rows: RGB png (3 apples), no image, grey png (dropped), RGB png (7 cats)."""
  os.makedirs(root)
  rgb = [np.full((6, 5, 3), (10 * i, 50, 90), np.uint8) for i in range(2)]
  table = pa.table({
      "image_url": [f"http://x/{i}.jpg" for i in range(4)],
      "text": ["three apples", "two dogs", "five birds", "seven cats"],
      "number": [3, 2, 5, 7],
      "image": [_image_cell(rgb[0], "PNG"), None,
                _image_cell(np.zeros((4, 4), np.uint8), "PNG"), _image_cell(rgb[1], "PNG")]})
  pq.write_table(table, os.path.join(root, "train-00000-of-00001-cf54c241ba947306.parquet"))
  questions = [{"question": f"How many {w} are there in the image?"}
               for w in ("apples", "dogs", "birds", "cats")]
  write_json(os.path.join(root, countbenchqa.QUESTIONS), questions)
  return root, rgb


def test_countbenchqa_pairs_questions_and_drops_missing_or_grey_images(tmp_path):
  manual, rgb = _write_countbench(str(tmp_path / "manual"))
  builder = _build(countbenchqa.CountBenchQA, manual, tmp_path / "out")
  rows = _read(builder, "huggingface", "image_id")
  assert sorted(rows) == [0, 3]
  assert rows[3]["question"] == b"How many cats are there in the image?"
  assert (rows[3]["number"], rows[3]["text"], rows[0]["number"]) == (7, b"seven cats", 3)
  np.testing.assert_array_equal(_pixels(rows[0]["image"]), rgb[0])
  np.testing.assert_array_equal(_pixels(rows[3]["image"]), rgb[1])


def test_countbenchqa_question_count_must_match_rows(tmp_path):
  manual, _ = _write_countbench(str(tmp_path / "manual"))
  write_json(os.path.join(manual, countbenchqa.QUESTIONS), [{"question": "q"}])
  with pytest.raises(ValueError, match="has 1 questions but .* 4 rows"):
    _build(countbenchqa.CountBenchQA, manual, tmp_path / "out")


# ------------------------------------------------------------------------------ RSVQA
def _write_rsvqa(root, release):
  """Per split: image 0 with a presence question (and an inactive one), a count, an area (HR)."""
  info = rsvqa.RELEASES[release]
  kinds = [("presence", "Is there a road?", "yes"), ("count", "How many buildings?", "42"),
           ("comp", "Is the road bigger?", "no")]
  if release == "hr":
    kinds.append(("area", "What is the area of buildings?", "1500m2"))
  qid = 0
  for s, name in enumerate(info["splits"].values()):
    questions, answers = [], []
    for k, (qtype, text, answer) in enumerate(kinds + [("presence", "Inactive?", "yes")]):
      qid += 1
      questions.append({"id": qid, "img_id": s, "type": qtype, "question": text,
                        "answers_ids": [1000 + qid], "active": k < len(kinds)})
      answers.append({"id": 1000 + qid, "question_id": qid, "answer": answer,
                      "active": k < len(kinds)})
    for kind, obj in (("questions", {"questions": questions}), ("answers", {"answers": answers})):
      write_json(os.path.join(root, f"{info['prefix']}_split_{name}_{kind}.json"), obj)
    path = os.path.join(root, info["images"], f"{s}{info['suffix']}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (6, 6), fx.colour(s)).save(path, format="TIFF" if release == "lr" else "PNG")
  return root


@pytest.mark.parametrize("answer,qtype,binned,want", [
    ("0", "count", "count", "0"), ("7", "count", "count", "between 1 and 10"),
    ("11", "count", "count", "between 11 and 100"), ("1000", "count", "count",
                                                      "between 101 and 1000"),
    ("1001", "count", "count", "more than 1000"), ("37", "count", "area", "37"),
    ("0m2", "area", "area", "0 m2"), ("10m2", "area", "area", "between 1 m2 and 10 m2"),
    ("2500m2", "area", "area", "more than 1000 m2"), ("yes", "presence", "count", "yes")])
def test_rsvqa_bins_as_big_vision(answer, qtype, binned, want):
  assert rsvqa.bin_answer(answer, qtype, binned) == want


def test_rsvqa_lr_nonum_and_all(tmp_path):
  manual = _write_rsvqa(str(tmp_path / "manual"), "lr")
  nonum = _build(rsvqa.RSVQA, manual, tmp_path / "out", config="lr_nonum")
  assert set(nonum.info.splits) == {"train", "val", "test"}
  train = _read(nonum, "train", "question_id")
  assert sorted(train) == [1, 3]  # the count (2) is numeric, 4 inactive
  assert train[1]["question_type"] == b"presence" and list(train[1]["answers"]) == [b"yes"]
  assert train[1]["filename"] == b"0.tif"
  np.testing.assert_array_equal(_pixels(train[1]["image"]), np.full((6, 6, 3), fx.colour(0)))
  every = _read(_build(rsvqa.RSVQA, manual, tmp_path / "out", config="lr_all"), "val",
                "question_id")
  assert sorted(every) == [5, 6, 7]
  assert list(every[6]["answers"]) == [b"between 11 and 100"]
  assert list(every[6]["raw_answers"]) == [b"42"]


def test_rsvqa_hr_test_2_and_area_bins(tmp_path):
  manual = _write_rsvqa(str(tmp_path / "manual"), "hr")
  builder = _build(rsvqa.RSVQA, manual, tmp_path / "out", config="hr_all")
  assert set(builder.info.splits) == {"train", "val", "test", "test_2"}
  test_2 = _read(builder, "test_2", "question_id")  # the release's test_phili, written last
  assert sorted(test_2) == [16, 17, 18, 19]
  assert list(test_2[17]["answers"]) == [b"42"]  # HR counts stay numbers
  assert list(test_2[19]["answers"]) == [b"more than 1000 m2"]
  assert test_2[16]["image"] == _file_bytes(os.path.join(manual, "Data", "3.png"))
  nonum = _build(rsvqa.RSVQA, manual, tmp_path / "out", config="hr_nonum")
  assert sorted(_read(nonum, "test_2", "question_id")) == [16, 18]


def test_rsvqa_missing_file_names_it(tmp_path):
  manual = _write_rsvqa(str(tmp_path / "manual"), "lr")
  with pytest.raises(FileNotFoundError, match=r"USGS_split_train_questions\.json is missing"):
    _build(rsvqa.RSVQA, manual, tmp_path / "out", config="hr_nonum")


# ------------------------------------------------------------------------------ ScienceQA
def _problem(split, image, choices, answer, hint=""):
  return dict(question=f"Which is {choices[answer]}?", choices=choices, answer=answer, hint=hint,
              image=image, task="closed choice", grade="grade3", subject="natural science",
              topic="biology", category="Plants", skill="Identify plants", lecture="Plants grow.",
              solution="Look.", split=split)


def _write_science_qa(root):
  problems = {"5": _problem("train", "image.png", ["fern", "moss", "oak"], 2, hint="A forest."),
              "6": _problem("train", None, ["a", "b"], 0),
              "17": _problem("val", "image.png", ["x", "y"], 1),
              "40": _problem("test", "image.png", ["up", "down"], 0)}
  for i, (pid, p) in enumerate(problems.items()):
    if p["image"]:
      write_image(os.path.join(root, p["split"], pid, "image.png"), i, "PNG")
  write_json(os.path.join(root, "problems.json"), problems)
  return root


def test_science_qa_image_problems_with_lettered_choices(tmp_path):
  manual = _write_science_qa(str(tmp_path / "manual"))
  builder = _build(science_qa.ScienceQA, manual, tmp_path / "out")
  train = _read(builder, "train", "question_id")
  assert sorted(train) == [5]  # problem 6 has no image
  ex = train[5]
  assert ex["indexed_choices"] == b"(A) fern, (B) moss, (C) oak"
  assert (ex["indexed_answer"], ex["answer"], ex["hint"]) == (b"C", 2, b"A forest.")
  assert list(ex["choices"]) == [b"fern", b"moss", b"oak"] and ex["question"] == b"Which is oak?"
  assert ex["image"] == _file_bytes(os.path.join(manual, "train", "5", "image.png"))
  assert _read(builder, "val", "question_id")[17]["hint"] == b"N/A"  # empty hint, as official
  assert sorted(_read(builder, "test", "question_id")) == [40]


# ------------------------------------------------------------------------------ POPE
def _write_pope(root):
  names = ["COCO_val2014_000000000042.jpg", "COCO_val2014_000000000073.jpg"]
  for i, name in enumerate(names):
    write_image(os.path.join(root, "val2014", name), i, "JPEG")
  for c, config in enumerate(pope.CONFIGS):
    _jsonl(os.path.join(root, f"coco_pope_{config}.json"), [
        {"question_id": 1, "image": names[0], "text": "Is there a dog in the image?",
         "label": "yes"},
        {"question_id": 2, "image": names[1], "text": f"Is there an apple{c} in the image?",
         "label": "no"}])
  return root


def test_pope_configs_questions_and_things(tmp_path):
  manual = _write_pope(str(tmp_path / "manual"))
  builder = _build(pope.POPE, manual, tmp_path / "out", config="adversarial")
  assert list(builder.info.splits) == ["test"]
  test = _read(builder, "test", "question_id")
  assert (test[1]["answer"], test[1]["thing"], test[2]["thing"]) == (b"yes", b"dog", b"apple2")
  assert test[2]["image/filename"] == b"COCO_val2014_000000000073.jpg"
  assert test[2]["image"] == _file_bytes(os.path.join(manual, "val2014",
                                                  "COCO_val2014_000000000073.jpg"))


# ------------------------------------------------------------------------------ NLVR2 / MaRVL
def _write_nlvr2(root):
  """Pairs: train-7-1 (directory 3), dev-850-0, test1-20-2; one sentence each, dev has two."""
  rows = {"train": [("train-7-1-0", "True", 3)],
          "dev": [("dev-850-0-0", "False", None), ("dev-850-0-1", "True", None)],
          "test1": [("test1-20-2-0", "False", None)]}
  i = 0
  for split, entries in rows.items():
    lines = []
    for ident, label, directory in entries:
      pair = ident.rsplit("-", 1)[0]
      folder = os.path.join(root, "images", split, "" if directory is None else str(directory))
      for side in (0, 1):
        write_image(os.path.join(folder, f"{pair}-img{side}.png"), i, "PNG")
        i += 1
      line = {"identifier": ident, "sentence": f"sentence of {ident}", "label": label,
              "left_url": "http://l", "right_url": "http://r", "writer": "w", "synset": "s",
              "query": "q", "validation": {}, "extra_validations": {}}
      if directory is not None:
        line["directory"] = directory
      lines.append(line)
    _jsonl(os.path.join(root, f"{split}.json"), lines)
  return root


def test_nlvr2_pairs_labels_and_ids(tmp_path):
  manual = _write_nlvr2(str(tmp_path / "manual"))
  builder = _build(nlvr2.NLVR2, manual, tmp_path / "out")
  assert set(builder.info.splits) == {"train", "dev", "test"}
  train = _read(builder, "train", "example_id")
  ex = train["train-7-1-0"]
  assert (ex["label"], ex["sentence"]) == (b"True", b"sentence of train-7-1-0")
  assert ex["image_left"] == _file_bytes(os.path.join(manual, "images/train/3/train-7-1-img0.png"))
  assert ex["image_right"] == _file_bytes(os.path.join(manual, "images/train/3/train-7-1-img1.png"))
  dev = _read(builder, "dev", "example_id")
  assert sorted(dev) == ["dev-850-0-0", "dev-850-0-1"]
  assert dev["dev-850-0-1"]["image_left"] == dev["dev-850-0-0"]["image_left"]  # one pair
  assert list(_read(builder, "test", "example_id")) == ["test1-20-2-0"]


def test_nlvr2_missing_image_is_named(tmp_path):
  manual = _write_nlvr2(str(tmp_path / "manual"))
  os.remove(os.path.join(manual, "images", "dev", "dev-850-0-img1.png"))
  with pytest.raises(FileNotFoundError, match=r"dev-850-0-img1\.png of dev-850-0-0 is missing"):
    _build(nlvr2.NLVR2, manual, tmp_path / "out")


def _write_marvl(root):
  for i, lang in enumerate(marvl.LANGUAGES):
    concept = f"{i}-Konsep"
    for side in ("a", "b"):
      write_image(os.path.join(root, lang, "images", concept, f"{i}-{side}.jpg"), i, "JPEG")
    _jsonl(os.path.join(root, lang, "annotations", f"marvl-{lang}.jsonl"), [
        {"id": f"{lang}-0", "concept": concept, "language": lang, "caption": f"kalimat {lang} ü",
         "left_img": f"{i}-a.jpg", "right_img": f"{i}-b.jpg", "label": i % 2 == 0,
         "chapter": "x", "annotator_info": {}}])
  return root


def test_marvl_languages_as_test_splits(tmp_path):
  manual = _write_marvl(str(tmp_path / "manual"))
  builder = _build(marvl.MaRVL, manual, tmp_path / "out")
  assert set(builder.info.splits) == {f"test_{lang}" for lang in marvl.LANGUAGES}
  ex = _read(builder, "test_sw", "example_id")["sw-0"]
  assert (ex["label"], ex["language"], ex["concept"]) == (b"False", b"sw", b"1-Konsep")
  assert ex["sentence"].decode() == "kalimat sw ü"
  assert ex["image_right"] == _file_bytes(os.path.join(manual, "sw", "images", "1-Konsep", "1-b.jpg"))
  assert _read(builder, "test_id", "example_id")["id-0"]["label"] == b"True"
