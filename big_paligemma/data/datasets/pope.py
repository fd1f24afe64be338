"""POPE (yes/no object-hallucination questions on COCO val2014 images) from its official files.

Build: `tfds build big_paligemma/data/datasets/pope.py --config random --manual_dir DIR
--data_dir OUT --file_format array_record` (ArrayRecord: what the input pipeline reads; configs
random, popular, adversarial: big_vision's pope_random, pope_popular, pope_adversarial). This
module imports nothing from the project, so `tfds build` can load it by path.

One split, test (POPE has no training data). Features as big_vision's `pope` builder: question_id
(the file's), image/filename, image, question, answer ("yes" or "no"), thing (the object asked
about).
"""
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

CONFIGS = ("random", "popular", "adversarial")
_INSTRUCTIONS = """\
Put in `manual_dir`: coco_pope_random.json, coco_pope_popular.json and coco_pope_adversarial.json
(JSON lines, from https://github.com/AoiDragon/POPE, output/coco/) and the COCO val2014/ image
folder (http://images.cocodataset.org/zips/val2014.zip).
"""


def thing(question: str) -> str:
  """The object of "Is there a(n) <thing> in the image?"."""
  for head in ("Is there an ", "Is there a "):
    question = question.replace(head, "")
  return question.replace(" in the image?", "")


class POPE(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Yes/no questions whether an object is in the image; configs random/popular/adversarial."""

  name = "pope"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "POPE's COCO question files as released."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=c, description=f"POPE's {c} negatives.")
                     for c in CONFIGS]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "image/filename": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answer": tfds.features.Text(),
        "thing": tfds.features.Text(),
    }), homepage="https://github.com/AoiDragon/POPE")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    path = os.path.join(root, f"coco_pope_{self.builder_config.name}.json")
    if not epath.Path(path).exists():
      raise FileNotFoundError(f"POPE file {path} is missing.\n{_INSTRUCTIONS}")
    return {"test": self._generate_examples(root, path)}

  def _generate_examples(self, root, path):
    with epath.Path(path).open() as f:
      rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
      if row["label"] not in ("yes", "no"):
        raise ValueError(f"POPE question {row['question_id']} of {path} has the label "
                         f"{row['label']!r}; POPE's labels are 'yes' and 'no'.")
      image = os.path.join(root, "val2014", row["image"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"POPE image {image} of question {row['question_id']} is "
                                f"missing.\n{_INSTRUCTIONS}")
      yield row["question_id"], {
          "question_id": row["question_id"], "image/filename": row["image"], "image": image,
          "question": row["text"], "answer": row["label"], "thing": thing(row["text"])}
