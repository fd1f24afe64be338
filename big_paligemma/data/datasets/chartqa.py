"""ChartQA (human-written and machine-generated questions on charts) from its official files.

Build: `tfds build big_paligemma/data/datasets/chartqa.py --config human --manual_dir DIR
--data_dir OUT --file_format array_record` (and again with `--config augmented`); the input
pipeline reads ArrayRecord files. This module imports nothing from the project, so `tfds build`
can load it by path. Paths go through etils.epath (gs:// works).

question_id is unique across splits and configs:
  question_id = 1_000_000 * (10 * split_code + config_code) + row
with split_code train 1, validation 2, test 3; config_code human 1, augmented 2; row the 0-based
position in the split's JSON file (< 1_000_000). E.g. row 5 of val_augmented.json -> 22_000_005.
"""
import json

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_SPLIT_DIRS = {"train": "train", "validation": "val", "test": "test"}
_SPLIT_CODES = {"train": 1, "validation": 2, "test": 3}
_CONFIG_CODES = {"human": 1, "augmented": 2}
_INSTRUCTIONS = """\
Download ChartQA from https://github.com/vis-nlp/ChartQA (ChartQA Dataset folder) and put in
`manual_dir` the folders train/, val/, test/, each with <split>_human.json,
<split>_augmented.json and png/ (the chart images).
"""


def question_id(split: str, config: str, row: int) -> int:
  """The question_id of row `row` of `split` ('train'|'validation'|'test') and `config`."""
  if not 0 <= row < 1_000_000:
    raise ValueError(f"ChartQA row {row} does not fit the question_id scheme (< 1_000_000).")
  return 1_000_000 * (10 * _SPLIT_CODES[split] + _CONFIG_CODES[config]) + row


class ChartQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Chart questions with one answer each; configs `human` and `augmented`."""

  name = "chartqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "ChartQA files as released."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="human", description="Human-written questions."),
      tfds.core.BuilderConfig(name="augmented", description="Machine-generated questions."),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "question": tfds.features.Text(),
        "answer": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="png"),
        "imgname": tfds.features.Text(),
    }), homepage="https://github.com/vis-nlp/ChartQA")

  def _split_generators(self, dl_manager):
    root = epath.Path(dl_manager.manual_dir)
    config = self.builder_config.name
    paths = {split: root / d / f"{d}_{config}.json" for split, d in _SPLIT_DIRS.items()}
    for path in paths.values():
      if not path.exists():
        raise FileNotFoundError(f"ChartQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(split, path) for split, path in paths.items()}

  def _generate_examples(self, split, path):
    rows = json.loads(path.read_text())
    image_dir = path.parent / "png"
    for row, entry in enumerate(rows):
      image = image_dir / entry["imgname"]
      if not image.exists():
        raise FileNotFoundError(f"ChartQA image {image} (row {row} of {path}) is missing.")
      qid = question_id(split, self.builder_config.name, row)
      yield qid, {"question_id": qid, "question": entry["query"], "answer": entry["label"],
                  "image": str(image), "imgname": entry["imgname"]}
