"""TextVQA v0.5.1 (questions that need reading the text in OpenImages photos) from its files.

Build: `tfds build big_paligemma/data/datasets/textvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `textvqa` builder): question,
answers (10; none on test), question_id, image_filepath (relative to manual_dir). Splits train,
val, test. As big_vision's builder (v1.0.1), images that OpenImages lists as rotated are turned
back (np.rot90 by Rotation / 90) and re-encoded, so every image is upright.
"""
import csv
import io
import json
import os

from etils import epath
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

# split -> (questions file, image folder); val's images are in train_images/.
_SPLITS = {"train": ("TextVQA_0.5.1_train.json", "train_images"),
           "val": ("TextVQA_0.5.1_val.json", "train_images"),
           "test": ("TextVQA_0.5.1_test.json", "test_images")}
ROTATION_FILE = "rotation.csv"
_INSTRUCTIONS = """\
Download from https://textvqa.org/dataset/ and put in `manual_dir`: TextVQA_0.5.1_{train,val,
test}.json, the folders train_images/ and test_images/ (train_val_images.zip, test_images.zip),
and OpenImages' rotation tables as train_images/rotation.csv
(https://storage.googleapis.com/openimages/2018_04/train/train-images-boxable-with-rotation.csv)
and test_images/rotation.csv
(https://storage.googleapis.com/openimages/2018_04/test/test-images-with-rotation.csv).
"""


def read_rotations(path: str) -> dict[str, int]:
  """{ImageID: degrees} of the OpenImages table at `path` (empty Rotation = 0)."""
  with epath.Path(path).open() as f:
    rows = list(csv.DictReader(f))
  if rows and not {"ImageID", "Rotation"} <= set(rows[0]):
    raise ValueError(f"{path} has no ImageID and Rotation columns; it must be OpenImages' "
                     "images-with-rotation table.")
  out = {}
  for row in rows:
    degrees = int(float(row["Rotation"])) if row["Rotation"] else 0
    if degrees % 90:
      raise ValueError(f"{path}: image {row['ImageID']} has rotation {degrees}, not a multiple "
                       "of 90.")
    out[row["ImageID"]] = degrees
  return out


class TextVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """TextVQA questions with 10 answers each (none on test)."""

  name = "textvqa"
  VERSION = tfds.core.Version("1.0.1")
  RELEASE_NOTES = {"1.0.1": "TextVQA 0.5.1 files, rotated images turned upright."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "question": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "image_filepath": tfds.features.Text(),
    }), homepage="https://textvqa.org/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    needed = {name for name, _ in _SPLITS.values()}
    needed |= {os.path.join(folder, ROTATION_FILE) for _, folder in _SPLITS.values()}
    for name in sorted(needed):
      if not epath.Path(os.path.join(root, name)).exists():
        raise FileNotFoundError(f"TextVQA file {os.path.join(root, name)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, *files) for split, files in _SPLITS.items()}

  def _generate_examples(self, root, questions_name, folder):
    rotations = read_rotations(os.path.join(root, folder, ROTATION_FILE))
    with epath.Path(os.path.join(root, questions_name)).open() as f:
      entries = json.load(f)["data"]
    for e in entries:
      qid, relative = e["question_id"], os.path.join(folder, f"{e['image_id']}.jpg")
      path = os.path.join(root, relative)
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"TextVQA image {path} of question {qid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      if e["image_id"] not in rotations:
        raise ValueError(f"TextVQA image {e['image_id']} is not in "
                         f"{os.path.join(root, folder, ROTATION_FILE)}.")
      turns = rotations[e["image_id"]] // 90
      image = path
      if turns:
        pixels = Image.open(io.BytesIO(epath.Path(path).read_bytes())).convert("RGB")
        image = np.rot90(np.asarray(pixels), turns)
      yield qid, {"question_id": qid, "question": e["question"],
                  "answers": e.get("answers", []), "image": image, "image_filepath": relative}
