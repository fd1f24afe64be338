"""VQAv2 (balanced real images) from its official question/annotation files and COCO images.

Build: `tfds build big_paligemma/data/datasets/vqav2.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `vqa` builder): question_text,
answers (the 10 human answers), answer_type ("yes/no", "number", "other"), question_type,
top_answer, question_id. Splits: train, validation, test, test-dev (test and test-dev have no
answers; test-dev's questions are a subset of test's). As big_vision's builder, a test or test-dev
question whose image is not in test2015/ is left out (big_vision saw a few); the build logs how
many and which. A missing train or validation image is an error.
"""
import json
import os

from absl import logging
from etils import epath
import numpy as np
import tensorflow_datasets as tfds

# split -> (question/annotation file infix, image folder).
_SPLITS = {"train": ("train2014", "train2014"), "validation": ("val2014", "val2014"),
           "test": ("test2015", "test2015"), "test-dev": ("test-dev2015", "test2015")}
_INSTRUCTIONS = """\
Download from https://visualqa.org/download.html (VQAv2, "Balanced Real Images") and put in
`manual_dir`: v2_OpenEnded_mscoco_{train2014,val2014,test2015,test-dev2015}_questions.json,
v2_mscoco_{train2014,val2014}_annotations.json (unzipped) and the COCO image folders train2014/,
val2014/, test2015/ (http://images.cocodataset.org/zips/{train2014,val2014,test2015}.zip).
"""


def questions_file(split: str) -> str:
  return f"v2_OpenEnded_mscoco_{_SPLITS[split][0]}_questions.json"


def annotations_file(split: str) -> str:
  return f"v2_mscoco_{_SPLITS[split][0]}_annotations.json"


class VQAv2(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """VQAv2 questions on COCO images; `answers` is empty on test and test-dev."""

  name = "vqav2"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "VQAv2 v2 files, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "image/id": tfds.features.Scalar(dtype=np.int64),
        "image/filename": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question_text": tfds.features.Text(),
        "question_type": tfds.features.Text(),
        "answer_type": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "answer_confidences": tfds.features.Sequence(
            tfds.features.ClassLabel(names=["no", "maybe", "yes"])),
        "top_answer": tfds.features.Text(),
    }), homepage="https://visualqa.org/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for split in _SPLITS:
      names = [questions_file(split)] + ([annotations_file(split)] if "test" not in split else [])
      for name in names:
        if not epath.Path(os.path.join(root, name)).exists():
          raise FileNotFoundError(f"VQAv2 file {os.path.join(root, name)} is missing.\n"
                                  f"{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, split) for split in _SPLITS}

  def _generate_examples(self, root, split):
    with epath.Path(os.path.join(root, questions_file(split))).open() as f:
      questions = json.load(f)["questions"]
    annotations = {}
    if "test" not in split:
      with epath.Path(os.path.join(root, annotations_file(split))).open() as f:
        annotations = {a["question_id"]: a for a in json.load(f)["annotations"]}
    folder, left_out = _SPLITS[split][1], []
    for q in questions:
      qid = q["question_id"]
      filename = f"COCO_{folder}_{q['image_id']:012d}.jpg"
      image = os.path.join(root, folder, filename)
      if not epath.Path(image).exists() and "test" in split:
        left_out.append(qid)
        continue
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"VQAv2 image {image} of question {qid} ({split}) is missing.\n"
                                f"{_INSTRUCTIONS}")
      ann = annotations.get(qid, {})
      if "test" not in split and not ann:
        raise ValueError(f"VQAv2 question {qid} has no entry in {annotations_file(split)}.")
      answers = ann.get("answers", [])
      yield qid, {
          "question_id": qid, "image/id": q["image_id"], "image/filename": filename,
          "image": image, "question_text": q["question"],
          "question_type": ann.get("question_type", ""),
          "answer_type": ann.get("answer_type", ""),
          "answers": [a["answer"] for a in answers],
          "answer_confidences": [a["answer_confidence"] for a in answers],
          "top_answer": ann.get("multiple_choice_answer", "")}
    if left_out:
      logging.warning("VQAv2 %s: %d questions left out, their images are not in %s/: %s", split,
                      len(left_out), folder, left_out[:20])
