"""xGQA zero-shot test sets (GQA testdev-balanced questions in 8 languages) from IGLUE's files.

Build: `tfds build big_paligemma/data/datasets/xgqa.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files).
This module imports nothing from the project, so `tfds build` can load it by path.

One example per question, with big_vision's feature names (its `xgqa` builder): example_id
("<question id>_<language>"), image/id, question (in the language), answer (English). Splits
test_zs_<language> for the languages of LANGUAGES (the zero-shot evaluation of a GQA transfer);
the few-shot splits are not read.
"""
import json
import os

from etils import epath
import tensorflow_datasets as tfds

LANGUAGES = ("bn", "de", "en", "id", "ko", "pt", "ru", "zh")
_INSTRUCTIONS = """\
Download the zero-shot annotations of https://github.com/e-bug/iglue (datasets/xGQA/annotations/
zero_shot/testdev_balanced_questions_<lang>.json for bn, de, en, id, ko, pt, ru, zh) into
`manual_dir`/annotations/zero_shot/, and put GQA's image folder images/
(https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip) in `manual_dir`.
"""


def annotation_path(root: str, lang: str) -> str:
  return os.path.join(root, "annotations", "zero_shot", f"testdev_balanced_questions_{lang}.json")


class XGQA(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """xGQA questions (one answer each, in English) per language."""

  name = "xgqa"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "xGQA zero-shot test files, big_vision's feature names."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "example_id": tfds.features.Text(),
        "image/id": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "question": tfds.features.Text(),
        "answer": tfds.features.Text(),
    }), homepage="https://github.com/adapter-hub/xGQA")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for lang in LANGUAGES:
      if not epath.Path(annotation_path(root, lang)).exists():
        raise FileNotFoundError(f"xGQA file {annotation_path(root, lang)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    return {f"test_zs_{lang}": self._generate_examples(root, lang) for lang in LANGUAGES}

  def _generate_examples(self, root, lang):
    with epath.Path(annotation_path(root, lang)).open() as f:
      questions = json.load(f)
    for qid, q in questions.items():
      image = os.path.join(root, "images", f"{q['imageId']}.jpg")
      if not epath.Path(image).exists():
        raise FileNotFoundError(f"xGQA image {image} of question {qid} ({lang}) is missing.\n"
                                f"{_INSTRUCTIONS}")
      example_id = f"{qid}_{lang}"
      yield example_id, {"example_id": example_id, "image/id": q["imageId"], "image": image,
                         "question": q["question"], "answer": q["answer"]}
