"""CountBenchQA (CountBench's 540 LAION images, 2-10 objects each, with a counting question) from
its files: the Hugging Face copy of CountBench and big_vision's questions.

Build: `tfds build big_paligemma/data/datasets/countbenchqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One split, `huggingface` (as big_vision names it): the parquet rows that have an RGB image (the
Hugging Face file lacks about 10% of the images; big_vision also drops one grey-scale image),
paired row by row with the questions. Features as big_vision's `countbenchqa` builder: image,
image_id (the row), question, text (CountBench's caption), image_url, number (the count).
"""
import io
import json
import os

from etils import epath
import numpy as np
from PIL import Image
import pyarrow.parquet as pq
import tensorflow_datasets as tfds

QUESTIONS = "countbench_paired_questions.json"
PARQUET = "train-00000-of-00001-*.parquet"
_INSTRUCTIONS = f"""\
Put in `manual_dir`: the CountBench parquet file of Hugging Face's nielsr/countbench
(https://huggingface.co/datasets/nielsr/countbench/tree/main/data, {PARQUET}) and {QUESTIONS}
from big_vision (big_vision/datasets/countbenchqa/data/{QUESTIONS}).
"""


def _parquet(root: str) -> str:
  found = sorted(str(p) for p in epath.Path(root).glob(PARQUET))
  if len(found) != 1:
    raise FileNotFoundError(f"CountBenchQA wants one {PARQUET} in {root}, found {found}.\n"
                            f"{_INSTRUCTIONS}")
  return found[0]


def _rgb(cell) -> np.ndarray | None:
  """The row's image as uint8 [h,w,3], or None when the row has none or it is not RGB."""
  if cell is None or cell.get("bytes") is None:
    return None
  image = np.asarray(Image.open(io.BytesIO(cell["bytes"])))
  return image if image.ndim == 3 and image.shape[-1] == 3 else None


class CountBenchQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Counting questions on CountBench images; the answer is `number`."""

  name = "countbenchqa"
  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {"1.2.0": "big_vision's version: the `huggingface` split."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
        "image_id": tfds.features.Scalar(dtype=np.int64),
        "question": tfds.features.Text(),
        "text": tfds.features.Text(),
        "image_url": tfds.features.Text(),
        "number": tfds.features.Scalar(dtype=np.int32),
    }), homepage="https://teaching-clip-to-count.github.io/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    questions = os.path.join(root, QUESTIONS)
    if not epath.Path(questions).exists():
      raise FileNotFoundError(f"CountBenchQA file {questions} is missing.\n{_INSTRUCTIONS}")
    return {"huggingface": self._generate_examples(_parquet(root), questions)}

  def _generate_examples(self, parquet, questions):
    rows = pq.read_table(parquet, columns=["image", "text", "image_url", "number"]).to_pylist()
    with epath.Path(questions).open() as f:
      asked = [q["question"] for q in json.load(f)]
    if len(asked) != len(rows):
      raise ValueError(f"{questions} has {len(asked)} questions but {parquet} {len(rows)} rows; "
                       "they pair row by row.")
    for row, (entry, question) in enumerate(zip(rows, asked)):
      image = _rgb(entry["image"])
      if image is not None:
        yield row, {"image": image, "image_id": row, "question": question, "text": entry["text"],
                    "image_url": entry["image_url"], "number": entry["number"]}
