"""Screen2Words (summaries of Android screens from RICO) from its official files.

Build: `tfds build big_paligemma/data/datasets/screen2words.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per screen, with big_vision's feature names (its `screen2_words` builder): image/id
(the RICO screen id), image/filename, summary (the screen's 5 summaries). Splits train, dev, test.
"""
import collections
import csv
import io
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_SPLITS = ("train", "dev", "test")
_INSTRUCTIONS = """\
Put in `manual_dir`: screen_summaries.csv and split/{train,dev,test}_screens.txt from
https://github.com/google-research-datasets/screen2words, and the RICO screenshots as
combined/<screen id>.jpg (RICO's "UI Screenshots and View Hierarchies", unique_uis.tar.gz, from
http://www.interactionmining.org/rico).
"""


def _csv_text(path: str) -> io.StringIO:
  """The UTF-8 text of the CSV file at `path`, line ends kept as written (what the csv module
  expects of a file opened with newline="")."""
  return io.StringIO(epath.Path(path).read_bytes().decode("utf-8"), newline="")


class Screen2Words(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """RICO screens with their summaries."""

  name = "screen2_words"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Screen2Words files on RICO screenshots."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": tfds.features.Scalar(dtype=np.int32),
        "image/filename": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "summary": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://github.com/google-research-datasets/screen2words")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = [os.path.join(root, "screen_summaries.csv")] + [
        os.path.join(root, "split", f"{split}_screens.txt") for split in _SPLITS]
    for path in paths:
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"Screen2Words file {path} is missing.\n{_INSTRUCTIONS}")
    summaries = collections.defaultdict(list)
    for row in csv.DictReader(_csv_text(paths[0])):
      summaries[int(row["screenId"])].append(row["summary"])
    return {split: self._generate_examples(root, path, summaries)
            for split, path in zip(_SPLITS, paths[1:])}

  def _generate_examples(self, root, path, summaries):
    with epath.Path(path).open() as f:
      screens = [int(line) for line in f if line.strip()]
    for screen in screens:
      if not summaries[screen]:
        raise ValueError(f"Screen {screen} of {path} has no summary in screen_summaries.csv.")
      image = os.path.join(root, "combined", f"{screen}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"RICO screenshot {image} is missing.\n{_INSTRUCTIONS}")
      yield screen, {"image/id": screen, "image/filename": f"{screen}.jpg", "image": image,
                     "summary": summaries[screen]}
