"""ScienceQA (multiple-choice science questions; the IMG subset: questions with an image) from its
official files.

Build: `tfds build big_paligemma/data/datasets/science_qa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

Splits train, val, test (the `split` of each problem); problems without an image are left out, as
big_vision does. Features as big_vision's `science_qa` builder (question, choices, answer (the right
choice's index), hint ("N/A" when empty, as the official code), task, grade, subject, topic,
category, skill, lecture, solution, image, indexed_choices "(A) x, (B) y", indexed_answer "B"),
plus question_id (the problem id).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPLITS = ("train", "val", "test")
_TEXT = ("question", "task", "grade", "subject", "topic", "category", "skill", "lecture",
         "solution")
_INSTRUCTIONS = """\
Download ScienceQA (https://scienceqa.github.io/#download: problems.json from the repo's
data/scienceqa/, and train.zip, val.zip, test.zip of the images) and put in `manual_dir`:
problems.json and the folders train/, val/, test/ with <problem id>/image.png.
"""


def indexed_choices(choices: list[str]) -> str:
  """"(A) first, (B) second, ..." as the official prompts (and big_vision) write the options."""
  if len(choices) > len(LETTERS):
    raise ValueError(f"ScienceQA problem with {len(choices)} choices: more than the letters.")
  return ", ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))


class ScienceQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Multiple-choice questions with an image; `answer` is the right choice's index."""

  name = "science_qa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "The IMG subset of ScienceQA as released."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    text = {k: tfds.features.Text() for k in _TEXT + ("hint", "indexed_choices",
                                                        "indexed_answer")}
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        **text, "question_id": tfds.features.Scalar(dtype=np.int64),
        "choices": tfds.features.Sequence(tfds.features.Text()),
        "answer": tfds.features.Scalar(dtype=np.int32),
        "image": tfds.features.Image(encoding_format="png"),
    }), homepage="https://scienceqa.github.io/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    path = os.path.join(root, "problems.json")
    if not epath.Path(path).exists():
      raise FileNotFoundError(f"ScienceQA file {path} is missing.\n{_INSTRUCTIONS}")
    with epath.Path(path).open() as f:
      problems = json.load(f)
    return {split: self._generate_examples(root, split, problems) for split in _SPLITS}

  def _generate_examples(self, root, split, problems):
    for pid, p in problems.items():
      if p["split"] != split or not p["image"]:
        continue
      image = os.path.join(root, split, pid, p["image"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"ScienceQA image {image} of problem {pid} is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield int(pid), {
          **{k: p[k] for k in _TEXT}, "question_id": int(pid), "hint": p["hint"] or "N/A",
          "choices": p["choices"], "answer": p["answer"], "image": image,
          "indexed_choices": indexed_choices(p["choices"]),
          "indexed_answer": LETTERS[p["answer"]]}
