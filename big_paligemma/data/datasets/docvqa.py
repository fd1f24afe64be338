"""SP-DocVQA v1.0 (single-page document VQA) from its official files.

Build: `tfds build big_paligemma/data/datasets/docvqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files). This module imports
nothing from the project, so `tfds build` can load it by path. Paths go through etils.epath.
"""
import json

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_FILES = {"train": "train_v1.0_withQT.json", "validation": "val_v1.0_withQT.json",
          "test": "test_v1.0.json"}
_INSTRUCTIONS = """\
Download SP-DocVQA (Task 1) from https://rrc.cvc.uab.es/?ch=17 (registration needed) and put in
`manual_dir`: train_v1.0_withQT.json, val_v1.0_withQT.json, test_v1.0.json and the folder
documents/ with the page images (documents/<ucsf_document_id>_<page>.png).
"""


class DocVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Questions on single document pages; `answers` is empty on the test split."""

  name = "docvqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "SP-DocVQA v1.0 files with question types."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "question": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "image": tfds.features.Image(encoding_format="png"),
    }), homepage="https://rrc.cvc.uab.es/?ch=17")

  def _split_generators(self, dl_manager):
    root = epath.Path(dl_manager.manual_dir)
    paths = {split: root / name for split, name in _FILES.items()}
    for path in paths.values():
      if not path.exists():
        raise FileNotFoundError(f"DocVQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, path) for split, path in paths.items()}

  def _generate_examples(self, root, path):
    entries = json.loads(path.read_text())["data"]
    for entry in entries:
      image = root / entry["image"]
      if not image.exists():
        raise FileNotFoundError(
            f"DocVQA image {image} of question {entry['questionId']} is missing.\n{_INSTRUCTIONS}")
      yield entry["questionId"], {
          "question_id": entry["questionId"], "question": entry["question"],
          "answers": entry.get("answers", []), "image": str(image)}
