"""COCO-35L (COCO Karpathy captions machine-translated to 34 languages, plus English).

Build: `tfds build big_paligemma/data/datasets/coco35l.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per (image, language), with big_vision's feature names (its `coco35l` builder):
image/id ("<cocoid>_<language>"), captions (that image's captions in that language), language.
Splits train_<lang> and dev_<lang> for each of the 35 LANGUAGES. As big_vision builds it, the
English captions are the source side of the translations into German (each English caption once).
"""
import collections
import json
import os

from etils import epath
import tensorflow_datasets as tfds

LANGUAGES = ("ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr", "he", "hi",
             "hr", "hu", "id", "it", "ja", "ko", "mi", "nl", "no", "pl", "pt", "ro", "ru", "sv",
             "sw", "te", "th", "tr", "uk", "vi", "zh")
_FILES = {"train": "coco_mt_train.jsonl", "dev": "coco_mt_dev.jsonl"}
_INSTRUCTIONS = """\
Put in `manual_dir`: coco_mt_train.jsonl and coco_mt_dev.jsonl (COCO-35L, unpacked from
https://google.github.io/crossmodal-3600/ 's coco_mt_{train,dev}.jsonl.bz2), Karpathy's
dataset_coco.json (https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip) and
the COCO 2014 images in train2014/ and val2014/ (https://cocodataset.org/#download).
"""


def read_captions(path: str) -> dict[str, dict[int, list[str]]]:
  """{language: {cocoid: captions}} of a coco_mt_*.jsonl file (English: the German lines'
  source captions)."""
  out = collections.defaultdict(lambda: collections.defaultdict(list))
  with epath.Path(path).open() as f:
    for n, line in enumerate(f, start=1):
      if not line.strip():
        continue
      row = json.loads(line)
      cocoid = int(row["image_id"].split("_")[0])
      if row["trg_lang"] not in LANGUAGES:
        raise ValueError(f"{path}:{n}: language {row['trg_lang']!r} is not one of {LANGUAGES}.")
      out[row["trg_lang"]][cocoid].append(row["translation_tokenized"])
      if row["trg_lang"] == "de":
        out["en"][cocoid].append(row["caption_tokenized"])
  return out


class Coco35l(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """COCO images with their captions in one of 35 languages."""

  name = "coco35l"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "COCO-35L train and dev."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "captions": tfds.features.Sequence(tfds.features.Text()),
        "language": tfds.features.Text(),
    }), homepage="https://google.github.io/crossmodal-3600/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = {part: os.path.join(root, name) for part, name in _FILES.items()}
    paths["karpathy"] = os.path.join(root, "dataset_coco.json")
    for path in paths.values():
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"COCO-35L file {path} is missing.\n{_INSTRUCTIONS}")
    with epath.Path(paths["karpathy"]).open() as f:
      images = {im["cocoid"]: os.path.join(root, im["filepath"], im["filename"])
                for im in json.load(f)["images"]}
    captions = {part: read_captions(paths[part]) for part in _FILES}
    return {f"{part}_{lang}": self._generate_examples(captions[part][lang], images, lang)
            for part in _FILES for lang in LANGUAGES}

  def _generate_examples(self, captions, images, lang):
    for cocoid, texts in captions.items():
      if cocoid not in images:
        raise ValueError(f"COCO-35L image {cocoid} is not in dataset_coco.json.")
      if not epath.Path(images[cocoid]).exists():
        raise FileNotFoundError(f"COCO image {images[cocoid]} is missing.\n{_INSTRUCTIONS}")
      key = f"{cocoid}_{lang}"
      yield key, {"image/id": key, "image": images[cocoid], "captions": texts, "language": lang}
