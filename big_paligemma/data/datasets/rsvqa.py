"""RSVQA-LR and RSVQA-HR (remote-sensing VQA: Sentinel-2 and USGS aerial images) from their
official files.

Build: `tfds build big_paligemma/data/datasets/rsvqa.py --config lr_nonum --manual_dir DIR
--data_dir OUT --file_format array_record` (ArrayRecord: what the input pipeline reads; configs
lr_nonum, lr_all, hr_nonum, hr_all; each release in its own DIR, or both in one). This module
imports nothing from the project, so `tfds build` can load it by path.

One builder with four configs for big_vision's `rsvqa_lr/{nonum,all}` and `rsvqa_hr/{nonum,all}`
("rsvqa/lr_nonum" is big_vision's "rsvqa_lr/nonum"): `nonum` leaves out the numeric question types
(LR: count; HR: count and area), as big_vision's published transfers do. Splits: train, val, test
(HR also test_2, the release's test_phili). Inactive questions are skipped. Answers of LR's count
and HR's area questions are binned as big_vision does (e.g. "between 11 and 100", "more than 1000
m2"); `raw_answers` keeps the file's. Features as big_vision's builders: question_id, filename,
image, question, question_type, answers, raw_answers.
"""
import io
import json
import os

from etils import epath
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

# Per release: the file prefix, image folder and suffix, split -> the file's split name, the
# numeric question types (left out by `nonum`), the type whose answers are binned.
RELEASES = {
    "lr": dict(prefix="LR", images="Images_LR", suffix=".tif",
               splits={"train": "train", "val": "val", "test": "test"}, numeric=("count",),
               binned="count"),
    "hr": dict(prefix="USGS", images="Data", suffix=".png",
               splits={"train": "train", "val": "val", "test": "test", "test_2": "test_phili"},
               numeric=("count", "area"), binned="area"),
}
_INSTRUCTIONS = """\
Download RSVQA-LR from https://zenodo.org/records/6344334 (for the lr_* configs) or RSVQA-HR from
https://zenodo.org/records/6344367 (hr_*) and unzip into `manual_dir`: LR has
LR_split_{train,val,test}_{questions,answers}.json and Images_LR/<img_id>.tif; HR has
USGS_split_{train,val,test,test_phili}_{questions,answers}.json and Data/<img_id>.png.
"""


def bin_answer(answer: str, question_type: str, binned: str) -> str:
  """big_vision's bins for questions of type `binned` (LR: "count", HR: "area", e.g. "123m2"):
  0 / between 1 and 10 / between 11 and 100 / between 101 and 1000 / more than 1000 (HR in m2);
  every other answer unchanged."""
  if question_type != binned:
    return answer
  unit = " m2" if binned == "area" else ""
  value = int(answer[:-len("m2")] if binned == "area" else answer)
  if value == 0:
    return f"0{unit}"
  for low, high in ((1, 10), (11, 100), (101, 1000)):
    if value <= high:
      return f"between {low}{unit} and {high}{unit}"
  return f"more than 1000{unit}"


def _read_image(path: str):
  """A .tif (LR) as uint8 [h,w,3] (PIL; the release's tifs are 8-bit RGB); another file as is."""
  if not path.endswith(".tif"):
    return path
  with Image.open(io.BytesIO(epath.Path(path).read_bytes())) as image:
    return np.asarray(image.convert("RGB"))


class RSVQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Remote-sensing questions, one answer each; configs {lr,hr}_{nonum,all}."""

  name = "rsvqa"
  VERSION = tfds.core.Version("1.0.2")
  RELEASE_NOTES = {"1.0.2": "big_vision's rsvqa_lr/rsvqa_hr 1.0.2 (binned answers, png images)."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name=f"{release}_{subset}", description=f"RSVQA-{release.upper()}, "
                              f"{'non-numeric questions' if subset == 'nonum' else 'all'}")
      for release in RELEASES for subset in ("nonum", "all")]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "question_id": tfds.features.Scalar(dtype=np.int64),
        "filename": tfds.features.Text(),
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
        "question": tfds.features.Text(),
        "question_type": tfds.features.Text(),
        "answers": tfds.features.Sequence(tfds.features.Text()),
        "raw_answers": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://rsvqa.sylvainlobry.com/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    release = RELEASES[self.builder_config.name.split("_")[0]]
    files = {}
    for split, name in release["splits"].items():
      files[split] = [os.path.join(root, f"{release['prefix']}_split_{name}_{kind}.json")
                      for kind in ("questions", "answers")]
      for path in files[split]:
        if not epath.Path(path).exists():
          raise FileNotFoundError(f"RSVQA file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, release, *paths)
            for split, paths in files.items()}

  def _generate_examples(self, root, release, questions_path, answers_path):
    with epath.Path(questions_path).open() as f:
      questions = json.load(f)["questions"]
    with epath.Path(answers_path).open() as f:
      answers = {a["question_id"]: a for a in json.load(f)["answers"]}
    skip = release["numeric"] if self.builder_config.name.endswith("nonum") else ()
    for q in questions:
      if not q["active"] or q["type"] in skip:
        continue
      if q["id"] not in answers:
        raise ValueError(f"RSVQA question {q['id']} of {questions_path} has no answer in "
                         f"{answers_path}.")
      answer = answers[q["id"]]["answer"]
      filename = f"{q['img_id']}{release['suffix']}"
      image = os.path.join(root, release["images"], filename)
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"RSVQA image {image} of question {q['id']} is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield q["id"], {"question_id": q["id"], "filename": filename, "image": _read_image(image),
                      "question": q["question"], "question_type": q["type"],
                      "answers": [bin_answer(answer, q["type"], release["binned"])],
                      "raw_answers": [answer]}
