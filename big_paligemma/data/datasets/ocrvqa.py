"""OCR-VQA (questions on book covers) from its official dataset.json and downloaded images.

Build: `tfds build big_paligemma/data/datasets/ocrvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per (image, question) pair, as big_vision's (unreleased) `ocrvqa_id` builder:
question, answer, image/id (the book's ASIN, the key of dataset.json) and question_id, an int
unique over the dataset: 1000 * (the book's 0-based position in dataset.json) + (the question's
position in its list). Splits train, val, test (dataset.json's split 1, 2, 3).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

SPLITS = {1: "train", 2: "val", 3: "test"}
_INSTRUCTIONS = """\
Download dataset.json and loadDataset.py from https://ocr-vqa.github.io/ (the Google Drive
folder), run loadDataset.py to fetch the cover images into images/ (images/<ASIN><extension of
imageURL>), and put dataset.json and images/ in `manual_dir`.
"""


def question_id(row: int, index: int) -> int:
  """The question_id of question `index` of the book at position `row` of dataset.json."""
  if not 0 <= index < 1000:
    raise ValueError(f"OCR-VQA book {row} has a question {index}: over the 1000 the id allows.")
  return 1000 * row + index


def image_path(root: str, asin: str, entry: dict) -> str:
  return os.path.join(root, "images", asin + os.path.splitext(entry["imageURL"])[1])


class OCRVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """OCR-VQA questions with one answer each."""

  name = "ocrvqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "dataset.json with one example per question."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "image/id": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answer": tfds.features.Text(),
    }), homepage="https://ocr-vqa.github.io/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    path = os.path.join(root, "dataset.json")
    if not epath.Path(path).exists():
      raise FileNotFoundError(f"OCR-VQA file {path} is missing.\n{_INSTRUCTIONS}")
    with epath.Path(path).open() as f:
      books = list(json.load(f).items())
    missing = [image_path(root, a, e) for a, e in books
               if not epath.Path(image_path(root, a, e)).exists()]
    if missing:
      raise FileNotFoundError(f"{len(missing)} of the {len(books)} OCR-VQA images are missing, "
                              f"e.g. {missing[:3]}.\n{_INSTRUCTIONS}")
    return {name: self._generate_examples(root, books, code) for code, name in SPLITS.items()}

  def _generate_examples(self, root, books, code):
    for row, (asin, entry) in enumerate(books):
      if entry["split"] != code:
        continue
      if len(entry["questions"]) != len(entry["answers"]):
        raise ValueError(f"OCR-VQA book {asin} has {len(entry['questions'])} questions and "
                         f"{len(entry['answers'])} answers.")
      for index, (question, answer) in enumerate(zip(entry["questions"], entry["answers"])):
        qid = question_id(row, index)
        yield qid, {"question_id": qid, "image/id": asin, "image": image_path(root, asin, entry),
                    "question": question, "answer": answer}
