"""AI2D (multiple-choice questions on science diagrams) from its official release.

Build: `tfds build big_paligemma/data/datasets/ai2d.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `ai2d` builder): id (the
questionId), question, possible_answers (the choices), label (the correct index), answer (its
text), abc_label, image_name. Splits: test (the images of ai2d_test_ids.csv) and train (the
others). As in big_vision's builder, a question with abcLabel true is about letter labels: its
image has every text box of the diagram's annotation painted white and its replacementText
drawn in (black, the largest size up to 100 that fits the box, centred across it, at its top).
"""
import csv
import io
import functools
import json
import os

from etils import epath
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
import tensorflow_datasets as tfds

FONT_FILE = "DMSans-Regular.ttf"
TEST_IDS_FILE = "ai2d_test_ids.csv"
_INSTRUCTIONS = """\
Download https://ai2-public-datasets.s3.amazonaws.com/diagrams/ai2d-all.zip (unzip: ai2d/ with
images/, questions/, annotations/), https://s3-us-east-2.amazonaws.com/prior-datasets/
ai2d_test_ids.csv and the font https://github.com/googlefonts/dm-fonts/raw/main/Sans/fonts/ttf/
DMSans-Regular.ttf (big_vision's, for the letter labels) into `manual_dir`.
"""


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
  return ImageFont.truetype(path, size=size)


def fitting_font(path: str, text: str, width: int, height: int) -> ImageFont.FreeTypeFont:
  """The font at `path` in the largest size (at most 100, at least 1) whose `text` fits width x
  height."""
  for size in range(100, 1, -1):
    _, _, right, bottom = _font(path, size).getbbox(text)
    if right <= width and bottom <= height:
      return _font(path, size)
  return _font(path, 1)


def draw_labels(image_path: str, texts: dict, font_path: str) -> np.ndarray:
  """The diagram [H, W, 3] uint8 with each text box of `texts` (the annotation's "text") painted
  white and its replacementText written in."""
  image = Image.open(io.BytesIO(epath.Path(image_path).read_bytes())).convert("RGB")
  draw = ImageDraw.Draw(image)
  for box in texts.values():
    (x0, y0), (x1, y1) = box["rectangle"]
    draw.rectangle((x0, y0, x1, y1), fill="white")
    text = box["replacementText"]
    font = fitting_font(font_path, text, x1 - x0, y1 - y0)
    width = font.getbbox(text)[2]
    draw.text((x0 + (x1 - x0 - width) // 2, y0), text, fill="black", font=font)
  return np.asarray(image)


class AI2D(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """AI2D questions with their choices and the correct one."""

  name = "ai2d"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.1.0": "ai2d-all files, letter labels drawn, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "id": tfds.features.Text(),
        "question": tfds.features.Text(),
        "label": tfds.features.Scalar(dtype=np.int32),
        "answer": tfds.features.Text(),
        "possible_answers": tfds.features.Sequence(tfds.features.Text()),
        "abc_label": tfds.features.Scalar(dtype=np.bool_),
        "image_name": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="png"),
    }), homepage="https://allenai.org/data/diagrams")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for name in (TEST_IDS_FILE, FONT_FILE, "ai2d/questions", "ai2d/annotations", "ai2d/images"):
      if not epath.Path(os.path.join(root, name)).exists():
        raise FileNotFoundError(f"AI2D file {os.path.join(root, name)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    with epath.Path(os.path.join(root, TEST_IDS_FILE)).open() as f:
      test_ids = {row[0].strip() for row in csv.reader(f) if row}
    return {"train": self._generate_examples(root, test_ids, False),
            "test": self._generate_examples(root, test_ids, True)}

  def _generate_examples(self, root, test_ids, test):
    folder = os.path.join(root, "ai2d", "questions")
    for name in sorted([p.name for p in epath.Path(folder).iterdir()]):
      if (name.split(".")[0] in test_ids) != test:
        continue
      with epath.Path(os.path.join(folder, name)).open() as f:
        entry = json.load(f)
      image = os.path.join(root, "ai2d", "images", entry["imageName"])
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"AI2D image {image} of {name} is missing.\n{_INSTRUCTIONS}")
      for question, q in entry["questions"].items():
        yield q["questionId"], {
            "id": q["questionId"], "question": question, "label": q["correctAnswer"],
            "answer": q["answerTexts"][q["correctAnswer"]],
            "possible_answers": q["answerTexts"], "abc_label": q["abcLabel"],
            "image_name": entry["imageName"],
            "image": self._image(root, image, name) if q["abcLabel"] else image}

  def _image(self, root, image, name):
    with epath.Path(os.path.join(root, "ai2d", "annotations", name)).open() as f:
      texts = json.load(f)["text"]
    return draw_labels(image, texts, os.path.join(root, FONT_FILE))
