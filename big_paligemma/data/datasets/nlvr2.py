"""NLVR2 (is a sentence true of a pair of photographs?) from its official files.

Build: `tfds build big_paligemma/data/datasets/nlvr2.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

Splits train, dev, test (the release's test1). Features as big_vision's pp reads them: image_left
(the pair's img0), image_right (img1), sentence, label ("True" or "False"), example_id (NLVR2's
identifier, "split-set-pair-sentence", which the consistency metric groups by).
"""
import json
import os

from etils import epath
import tensorflow_datasets as tfds

SPLITS = {"train": "train", "dev": "dev", "test": "test1"}
_INSTRUCTIONS = """\
Put in `manual_dir`: train.json, dev.json and test1.json (JSON lines, from
https://github.com/lil-lab/nlvr, nlvr2/data/) and the images (requested from the NLVR2 authors,
https://lil.nlp.cornell.edu/nlvr/) as images/train/<directory>/, images/dev/, images/test1/, each
pair named <identifier without its last field>-img0.png and -img1.png.
"""


def image_paths(root: str, split_dir: str, entry: dict) -> tuple[str, str]:
  """The pair's two image files: images/<split>/[<directory>/]<pair>-img{0,1}.png."""
  pair = entry["identifier"].rsplit("-", 1)[0]
  folder = os.path.join(root, "images", split_dir, str(entry.get("directory", "")))
  return tuple(os.path.join(folder, f"{pair}-img{i}.png") for i in (0, 1))


class NLVR2(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A sentence and two images; the label says whether the sentence is true of them."""

  name = "nlvr2"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "NLVR2 train/dev/test1 as released."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image_left": tfds.features.Image(shape=(None, None, 3)),
        "image_right": tfds.features.Image(shape=(None, None, 3)),
        "sentence": tfds.features.Text(),
        "label": tfds.features.Text(),
        "example_id": tfds.features.Text(),
    }), homepage="https://lil.nlp.cornell.edu/nlvr/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {split: os.path.join(root, f"{name}.json") for split, name in SPLITS.items()}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"NLVR2 file {path} is missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, SPLITS[split], path)
            for split, path in paths.items()}

  def _generate_examples(self, root, split_dir, path):
    with epath.Path(path).open() as f:
      entries = [json.loads(line) for line in f if line.strip()]
    for entry in entries:
      left, right = image_paths(root, split_dir, entry)
      for image in (left, right):
        if not epath.Path(image).exists():
          raise FileNotFoundError(f"NLVR2 image {image} of {entry['identifier']} is missing.\n"
                                  f"{_INSTRUCTIONS}")
      if entry["label"] not in ("True", "False"):
        raise ValueError(f"NLVR2 {entry['identifier']} of {path} has the label "
                         f"{entry['label']!r}; NLVR2's labels are 'True' and 'False'.")
      yield entry["identifier"], {"image_left": left, "image_right": right,
                                  "sentence": entry["sentence"], "label": entry["label"],
                                  "example_id": entry["identifier"]}
