"""A-OKVQA v1.0 (augmented OK-VQA on COCO 2017) from its official files.

Build: `tfds build big_paligemma/data/datasets/aokvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `aokvqa` builder): question,
question_id (a string), image_id, direct_answers (10), direct_answer_is_difficult,
multiple_choice_possible_answers (4 choices), multiple_choice_correct_idx, answer_rationales
(3). Splits train, val, test; the test split has no answers (correct index -1).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_SPLITS = ("train", "val", "test")
_INSTRUCTIONS = """\
Download https://prior-datasets.s3.us-east-2.amazonaws.com/aokvqa/aokvqa_v1p0.tar.gz
(https://allenai.org/project/a-okvqa) and put in `manual_dir`: aokvqa_v1p0_{train,val,test}.json
and the COCO 2017 image folders train2017/, val2017/, test2017/
(http://images.cocodataset.org/zips/{train2017,val2017,test2017}.zip).
"""


class AOKVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A-OKVQA questions with direct answers and 4 choices."""

  name = "aokvqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "A-OKVQA v1.0 files, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Text(),
        "image_id": tfds.features.Scalar(dtype=np.int64),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "direct_answers": tfds.features.Sequence(tfds.features.Text()),
        "direct_answer_is_difficult": tfds.features.Scalar(dtype=np.bool_),
        "multiple_choice_possible_answers": tfds.features.Sequence(tfds.features.Text()),
        "multiple_choice_correct_idx": tfds.features.Scalar(dtype=np.int32),
        "answer_rationales": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://allenai.org/project/a-okvqa/home")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {s: os.path.join(root, f"aokvqa_v1p0_{s}.json") for s in _SPLITS}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"A-OKVQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {s: self._generate_examples(root, s, path) for s, path in paths.items()}

  def _generate_examples(self, root, split, path):
    with epath.Path(path).open() as f:
      entries = json.load(f)
    for e in entries:
      qid = e["question_id"]
      if len(e["choices"]) != 4:
        raise ValueError(f"A-OKVQA question {qid} ({path}) has {len(e['choices'])} choices, "
                         "not 4.")
      image = os.path.join(root, f"{split}2017", f"{e['image_id']:012d}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"A-OKVQA image {image} of question {qid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield qid, {
          "question_id": qid, "image_id": e["image_id"], "image": image,
          "question": e["question"], "direct_answers": e.get("direct_answers", []),
          "direct_answer_is_difficult": e["difficult_direct_answer"],
          "multiple_choice_possible_answers": e["choices"],
          "multiple_choice_correct_idx": e.get("correct_choice_idx", -1),
          "answer_rationales": e.get("rationales", [])}
