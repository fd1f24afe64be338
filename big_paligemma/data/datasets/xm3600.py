"""Crossmodal-3600 (3600 images captioned by humans in 36 languages) from its official files.

Build: `tfds build big_paligemma/data/datasets/xm3600.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per (image, language), with big_vision's feature names (its `xm3600` builder):
image/id ("<image key>_<language>"), captions, captions/tokenized, language. One split per
language (the 36 LANGUAGES: COCO-35L's and Cusco Quechua "quz").
"""
import json
import os

from etils import epath
import tensorflow_datasets as tfds

LANGUAGES = ("ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr", "he", "hi",
             "hr", "hu", "id", "it", "ja", "ko", "mi", "nl", "no", "pl", "pt", "quz", "ro", "ru",
             "sv", "sw", "te", "th", "tr", "uk", "vi", "zh")
_INSTRUCTIONS = """\
Download Crossmodal-3600 from https://google.github.io/crossmodal-3600/ and put in `manual_dir`
captions.jsonl and the folder images/ (<image key>.jpg, from images.tgz).
"""


class Xm3600(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """XM3600 images with their captions in one of 36 languages."""

  name = "xm3600"
  VERSION = tfds.core.Version("1.0.1")
  RELEASE_NOTES = {"1.0.1": "captions.jsonl with the tokenized captions."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    texts = tfds.features.Sequence(tfds.features.Text())
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "captions": texts, "captions/tokenized": texts,
        "language": tfds.features.Text(),
    }), homepage="https://google.github.io/crossmodal-3600/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    path = os.path.join(root, "captions.jsonl")
    if not epath.Path(path).exists():
      raise FileNotFoundError(f"XM3600 file {path} is missing.\n{_INSTRUCTIONS}")
    with epath.Path(path).open() as f:
      rows = [json.loads(line) for line in f if line.strip()]
    return {lang: self._generate_examples(root, rows, lang) for lang in LANGUAGES}

  def _generate_examples(self, root, rows, lang):
    for row in rows:
      key = row["image/key"]
      if lang not in row:
        raise ValueError(f"XM3600 image {key} has no {lang!r} captions in captions.jsonl.")
      image = os.path.join(root, "images", f"{key}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"XM3600 image {image} is missing.\n{_INSTRUCTIONS}")
      yield f"{key}_{lang}", {"image/id": f"{key}_{lang}", "image": image,
                              "captions": row[lang]["caption"],
                              "captions/tokenized": row[lang]["caption/tokenized"],
                              "language": lang}
