"""OK-VQA v1.1 (outside-knowledge VQA on COCO 2014) from its official files.

Build: `tfds build big_paligemma/data/datasets/okvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `okvqa` builder): question,
answers (the 10 answers), answers_raw, answers_confidence (10 bools), answer_type,
question_type (e.g. "eight") and question_type_readable, question_id, image_id. Splits: train,
val (the official evaluation split).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_FILES = {"train": ("OpenEnded_mscoco_train2014_questions.json",
                    "mscoco_train2014_annotations.json", "train2014"),
          "val": ("OpenEnded_mscoco_val2014_questions.json",
                  "mscoco_val2014_annotations.json", "val2014")}
QUESTION_TYPES = {
    "one": "Vehicles and Transportation", "two": "Brands, Companies and Products",
    "three": "Objects, Material and Clothing", "four": "Sports and Recreation",
    "five": "Cooking and Food", "six": "Geography, History, Language and Culture",
    "seven": "People and Everyday life", "eight": "Plants and Animals",
    "nine": "Science and Technology", "ten": "Weather and Climate", "other": "Other"}
_CONFIDENCE = {"yes": True, "no": False}
_INSTRUCTIONS = """\
Download from https://okvqa.allenai.org/download.html and put in `manual_dir` (unzipped):
OpenEnded_mscoco_{train,val}2014_questions.json, mscoco_{train,val}2014_annotations.json and
the COCO 2014 image folders train2014/, val2014/ (http://images.cocodataset.org/zips/).
"""


class OKVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """OK-VQA questions with 10 answers each."""

  name = "okvqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "OK-VQA v1.1 files, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "image_id": tfds.features.Scalar(dtype=np.int64),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "answers_raw": tfds.features.Sequence(tfds.features.Text()),
        "answers_confidence": tfds.features.Sequence(np.bool_),
        "answer_type": tfds.features.Text(),
        "question_type": tfds.features.Text(),
        "question_type_readable": tfds.features.Text(),
    }), homepage="https://okvqa.allenai.org/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for questions, annotations, _ in _FILES.values():
      for name in (questions, annotations):
        if not epath.Path(os.path.join(root, name)).exists():
          raise FileNotFoundError(f"OK-VQA file {os.path.join(root, name)} is missing.\n"
                                  f"{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, *files) for split, files in _FILES.items()}

  def _generate_examples(self, root, questions_name, annotations_name, folder):
    with epath.Path(os.path.join(root, questions_name)).open() as f:
      questions = {q["question_id"]: q for q in json.load(f)["questions"]}
    with epath.Path(os.path.join(root, annotations_name)).open() as f:
      annotations = json.load(f)["annotations"]
    for ann in annotations:
      qid = ann["question_id"]
      if qid not in questions:
        raise ValueError(f"OK-VQA question {qid} of {annotations_name} is not in "
                         f"{questions_name}.")
      image = os.path.join(root, folder, f"COCO_{folder}_{ann['image_id']:012d}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"OK-VQA image {image} of question {qid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      answers = ann["answers"]
      yield qid, {
          "question_id": qid, "image_id": ann["image_id"], "image": image,
          "question": questions[qid]["question"],
          "answers": [a["answer"] for a in answers],
          "answers_raw": [a["raw_answer"] for a in answers],
          "answers_confidence": [_CONFIDENCE[a["answer_confidence"]] for a in answers],
          "answer_type": ann["answer_type"], "question_type": ann["question_type"],
          "question_type_readable": QUESTION_TYPES[ann["question_type"]]}
