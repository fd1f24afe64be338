"""ST-VQA Task 3 (scene-text VQA, open vocabulary) from its official files.

Build: `tfds build big_paligemma/data/datasets/stvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `stvqa` builder): question_id,
filename (the file_path of the JSON), question, answers (as released; the configs lower-case
them). The release has no validation split: as big_vision does, its train questions are split
into train and a pseudo-validation `val` by image. big_vision's list of val images is not
public, so ours is a fixed hash rule instead (`is_val`: md5 of the file_path, about 10%). The
test split has no answers. Images of the COCO-Text subset are read at full resolution from the
COCO train2014 folder (as big_vision's builder v1.1+).
"""
import hashlib
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_FILES = {"train": "train_task_3.json", "test": "test_task_3.json"}
_IMAGE_DIRS = {"train": "train_images", "test": "test_task3_images"}
COCO_TEXT = "coco-text/"
_INSTRUCTIONS = """\
Download ST-VQA from https://rrc.cvc.uab.es/?ch=11 (Downloads, registration needed) and put in
`manual_dir`: train_task_3.json, test_task_3.json, the folders train_images/ and
test_task3_images/, and COCO's train2014/ (http://images.cocodataset.org/zips/train2014.zip) for
the full-size COCO-Text images.
"""


def is_val(file_path: str) -> bool:
  """Whether the train image `file_path` is in our pseudo-validation split (~10% of images)."""
  return int(hashlib.md5(file_path.encode("utf-8")).hexdigest(), 16) % 10 == 0


def image_path(root: str, source: str, file_path: str) -> str:
  """The image of `file_path` (source: "train" or "test"); COCO-Text ones from train2014/."""
  if file_path.startswith(COCO_TEXT):
    return os.path.join(root, "train2014", file_path[len(COCO_TEXT):])
  return os.path.join(root, _IMAGE_DIRS[source], file_path)


class STVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """ST-VQA Task 3 questions; `answers` is empty on test."""

  name = "stvqa"
  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {"1.2.0": "Task 3 files, hash pseudo-val split, full-size COCO-Text images."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "filename": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://rrc.cvc.uab.es/?ch=11")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for name in _FILES.values():
      if not epath.Path(os.path.join(root, name)).exists():
        raise FileNotFoundError(f"ST-VQA file {os.path.join(root, name)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    return {"train": self._generate_examples(root, "train", False),
            "val": self._generate_examples(root, "train", True),
            "test": self._generate_examples(root, "test", None)}

  def _generate_examples(self, root, source, val):
    with epath.Path(os.path.join(root, _FILES[source])).open() as f:
      entries = json.load(f)["data"]
    for e in entries:
      if val is not None and is_val(e["file_path"]) != val:
        continue
      image = image_path(root, source, e["file_path"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"ST-VQA image {image} of question {e['question_id']} is "
                                f"missing.\n{_INSTRUCTIONS}")
      yield e["question_id"], {
          "question_id": e["question_id"], "filename": e["file_path"], "image": image,
          "question": e["question"], "answers": e.get("answers", [])}
