"""InfographicVQA v1.0 from its official files.

Build: `tfds build big_paligemma/data/datasets/infovqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `infovqa` builder): question_id,
filename (image_local_name), question, answers. Splits train, val, test (no answers). As
big_vision's builder (v1.1): the order of the items of a multi-span answer does not count
(the task's rules), so on val an answer "a, b" also lists every other order ("b, a").
"""
import itertools
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_FILES = {"train": "infographicsVQA_train_v1.0.json",
          "val": "infographicsVQA_val_v1.0_withQT.json",
          "test": "infographicsVQA_test_v1.0.json"}
IMAGE_DIR = "infographicsvqa_images"
_INSTRUCTIONS = """\
Download InfographicVQA (Task 3) from https://rrc.cvc.uab.es/?ch=17 (registration needed) and put
in `manual_dir`: infographicsVQA_train_v1.0.json, infographicsVQA_val_v1.0_withQT.json,
infographicsVQA_test_v1.0.json and the image folder infographicsvqa_images/.
"""


def with_permutations(answers: list[str]) -> list[str]:
  """Each answer, a multi-span one ("a, b") in every order of its items."""
  out = []
  for answer in answers:
    out.extend(", ".join(p) for p in itertools.permutations(answer.split(", ")))
  return out


class InfoVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """InfographicVQA questions; `answers` is empty on test."""

  name = "infovqa"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.1.0": "InfographicVQA v1.0 files, val answers in every span order."}
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
    }), homepage="https://www.docvqa.org/datasets/infographicvqa")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {split: os.path.join(root, name) for split, name in _FILES.items()}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"InfographicVQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, split, path) for split, path in paths.items()}

  def _generate_examples(self, root, split, path):
    with epath.Path(path).open() as f:
      entries = json.load(f)["data"]
    for e in entries:
      qid = e["questionId"]
      image = os.path.join(root, IMAGE_DIR, e["image_local_name"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"InfographicVQA image {image} of question {qid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      answers = e.get("answers", [])
      yield qid, {"question_id": qid, "filename": e["image_local_name"], "image": image,
                  "question": e["question"],
                  "answers": with_permutations(answers) if split == "val" else answers}
