"""TallyQA (open-ended counting questions on Visual Genome and COCO images) from its official files.

Build: `tfds build big_paligemma/data/datasets/tallyqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

Features as big_vision's `tallyqa` builder: image, image_id, image_source (the file's
data_source), question, question_id, answer (the count), issimple (test: 1 simple, 0 complex;
train: -1, not annotated).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_SPLITS = ("train", "test")
_IMAGE_DIRS = ("VG_100K", "VG_100K_2", "train2014", "val2014")
_INSTRUCTIONS = """\
Put in `manual_dir`: train.json and test.json from
https://github.com/manoja328/tallyqa/blob/master/tallyqa.zip?raw=true, the Visual Genome image
folders VG_100K/ and VG_100K_2/ (https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip and
images2.zip) and the COCO 2014 folders train2014/ and val2014/ (https://cocodataset.org/#download).
The JSON files name each image by its path under these folders (e.g. "VG_100K_2/2410408.jpg").
"""


class TallyQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Counting questions, one integer answer each; test questions marked simple or complex."""

  name = "tallyqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "TallyQA train/test as released."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "image_id": tfds.features.Scalar(dtype=np.int64),
        "image_source": tfds.features.Text(),
        "question": tfds.features.Text(),
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "answer": tfds.features.Scalar(dtype=np.int32),
        "issimple": tfds.features.Scalar(dtype=np.int32),
    }), homepage="https://github.com/manoja328/TallyQA_dataset")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {split: os.path.join(root, f"{split}.json") for split in _SPLITS}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"TallyQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, split, path) for split, path in paths.items()}

  def _generate_examples(self, root, split, path):
    with epath.Path(path).open() as f:
      entries = json.load(f)
    for entry in entries:
      if entry["image"].split("/")[0] not in _IMAGE_DIRS:
        raise ValueError(f"TallyQA image path {entry['image']!r} (question "
                         f"{entry['question_id']} of {path}) is under none of {_IMAGE_DIRS}.")
      image = os.path.join(root, entry["image"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"TallyQA image {image} of question {entry['question_id']} is "
                                f"missing.\n{_INSTRUCTIONS}")
      yield f"{entry['image_id']}/{entry['question_id']}", {
          "image": image, "image_id": entry["image_id"], "image_source": entry["data_source"],
          "question": entry["question"], "question_id": entry["question_id"],
          "answer": int(entry["answer"]),
          "issimple": int(entry["issimple"]) if split == "test" else -1}
