"""VizWiz-VQA (questions by blind photographers) from its official annotation files and images.

Build: `tfds build big_paligemma/data/datasets/vizwizvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per image (each has one question), with big_vision's feature names (its `vizwizvqa`
builder): question, answers (the non-empty ones of the 10), answer_confidences, answerable (-1
on test), image/filename (the id the test server wants), question_id (the number in the file
name). Splits train, val, test (no answers).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

SPLITS = ("train", "val", "test")
_INSTRUCTIONS = """\
Download from https://vizwiz.org/tasks-and-datasets/vqa/ the images (train.zip, val.zip,
test.zip) and the annotations (Annotations.zip) and put in `manual_dir` the folders train/, val/,
test/ and annotations/ ({train,val,test}.json).
"""


def question_id(filename: str) -> int:
  """VizWiz_val_00000123.jpg -> 123."""
  stem = os.path.splitext(filename)[0]
  number = stem.rsplit("_", 1)[-1]
  if not number.isdigit():
    raise ValueError(f"VizWiz image name {filename!r} does not end in _<number>.")
  return int(number)


class VizWizVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """VizWiz questions with up to 10 answers each."""

  name = "vizwizvqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "VizWiz-VQA files, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "question": tfds.features.Text(),
        "image/filename": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "answer_confidences": tfds.features.Sequence(tfds.features.Text()),
        "answerable": tfds.features.Scalar(dtype=np.int32),
    }), homepage="https://vizwiz.org/tasks-and-datasets/vqa/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for split in SPLITS:
      path = os.path.join(root, "annotations", f"{split}.json")
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"VizWiz file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, split) for split in SPLITS}

  def _generate_examples(self, root, split):
    with epath.Path(os.path.join(root, "annotations", f"{split}.json")).open() as f:
      entries = json.load(f)
    for e in entries:
      image = os.path.join(root, split, e["image"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"VizWiz image {image} is missing.\n{_INSTRUCTIONS}")
      answers = [a for a in e.get("answers", []) if a["answer"]]  # as big_vision: drop empty
      yield e["image"], {
          "question_id": question_id(e["image"]), "question": e["question"],
          "image/filename": e["image"], "image": image,
          "answers": [a["answer"] for a in answers],
          "answer_confidences": [a["answer_confidence"] for a in answers],
          "answerable": e.get("answerable", -1)}
