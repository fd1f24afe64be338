"""MaRVL (NLVR2's task in Indonesian, Swahili, Tamil, Turkish and Mandarin) from its official files.

Build: `tfds build big_paligemma/data/datasets/marvl.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

Splits test_id, test_sw, test_ta, test_tr, test_zh (big_vision's names), evaluation only.
Features as nlvr2.py's (image_left, image_right, sentence (MaRVL's caption), label "True" or
"False", example_id (MaRVL's id)) plus language and concept.
"""
import json
import os

from etils import epath
import tensorflow_datasets as tfds

LANGUAGES = ("id", "sw", "ta", "tr", "zh")
_INSTRUCTIONS = """\
Download MaRVL (https://marvl-challenge.github.io/download: the annotations of
https://github.com/marvl-challenge/marvl-data and the images) and put in `manual_dir`, per
language L of id, sw, ta, tr, zh: L/annotations/marvl-L.jsonl and L/images/<concept>/<image>.
"""


class MaRVL(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A caption and two images per example; the label says whether the caption is true of them."""

  name = "marvl"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "MaRVL v1.0 (2021.09) test sets."}
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
        "language": tfds.features.Text(),
        "concept": tfds.features.Text(),
    }), homepage="https://marvl-challenge.github.io/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {lang: os.path.join(root, lang, "annotations", f"marvl-{lang}.jsonl")
             for lang in LANGUAGES}
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"MaRVL file {path} is missing.\n{_INSTRUCTIONS}")
    return {f"test_{lang}": self._generate_examples(root, lang, path)
            for lang, path in paths.items()}

  def _generate_examples(self, root, lang, path):
    with epath.Path(path).open(encoding="utf-8") as f:
      entries = [json.loads(line) for line in f if line.strip()]
    for entry in entries:
      folder = os.path.join(root, lang, "images", entry["concept"])
      images = [os.path.join(folder, entry[k]) for k in ("left_img", "right_img")]
      for image in images:
        if not epath.Path(image).exists():
          raise FileNotFoundError(f"MaRVL image {image} of {entry['id']} is missing.\n"
                                  f"{_INSTRUCTIONS}")
      if not isinstance(entry["label"], bool):
        raise ValueError(f"MaRVL {entry['id']} of {path} has the label {entry['label']!r}; "
                         "MaRVL's labels are true and false.")
      yield entry["id"], {"image_left": images[0], "image_right": images[1],
                          "sentence": entry["caption"], "label": str(entry["label"]),
                          "example_id": entry["id"], "language": lang,
                          "concept": entry["concept"]}
