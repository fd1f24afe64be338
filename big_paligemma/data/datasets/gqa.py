"""GQA 1.2 balanced questions (compositional questions on Visual Genome images) from its files.

Build: `tfds build big_paligemma/data/datasets/gqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `gqa` builder): example_id (the
question id), image/id, question, answer, full_answer, is_balanced. Splits: train_balanced,
val_balanced, testdev_balanced (the split GQA accuracy is published on); the unbalanced "all"
question files (14M training questions) and the challenge/submission files are not read.
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

SPLITS = ("train_balanced", "val_balanced", "testdev_balanced")
_INSTRUCTIONS = """\
Download https://downloads.cs.stanford.edu/nlp/data/gqa/questions1.2.zip and
https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip (https://cs.stanford.edu/people/dorarad/
gqa/download.html) and put in `manual_dir`: {train,val,testdev}_balanced_questions.json and the
folder images/ (<imageId>.jpg).
"""


class GQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """GQA balanced questions with one answer each."""

  name = "gqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "GQA 1.2 balanced questions, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "example_id": tfds.features.Scalar(dtype=np.int64),
        "image/id": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answer": tfds.features.Text(),
        "full_answer": tfds.features.Text(),
        "is_balanced": tfds.features.Scalar(dtype=np.bool_),
    }), homepage="https://cs.stanford.edu/people/dorarad/gqa/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {s: os.path.join(root, f"{s}_questions.json") for s in SPLITS}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"GQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {s: self._generate_examples(root, path) for s, path in paths.items()}

  def _generate_examples(self, root, path):
    with epath.Path(path).open() as f:
      questions = json.load(f)
    for qid, q in questions.items():
      if not qid.isdigit():
        raise ValueError(f"GQA question id {qid!r} of {path} is not a number.")
      image = os.path.join(root, "images", f"{q['imageId']}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"GQA image {image} of question {qid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield qid, {"example_id": int(qid), "image/id": q["imageId"], "image": image,
                  "question": q["question"], "answer": q["answer"],
                  "full_answer": q["fullAnswer"], "is_balanced": q["isBalanced"]}
