"""TextCaps v0.1 (captions that read the text in images) from its official files.

Build: `tfds build big_paligemma/data/datasets/textcaps.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per image, with big_vision's feature names (its `text_caps` builder): image/id,
image_filepath (relative to manual_dir), texts (the image's reference captions; empty on test).
Splits train, val, test.
"""
import collections
import json
import os

from etils import epath
import tensorflow_datasets as tfds

# split -> (annotation file, image folder); val's images are in train_images/.
_SPLITS = {"train": ("TextCaps_0.1_train.json", "train_images"),
           "val": ("TextCaps_0.1_val.json", "train_images"),
           "test": ("TextCaps_0.1_test.json", "test_images")}
_INSTRUCTIONS = """\
Download from https://textvqa.org/textcaps/dataset/ and put in `manual_dir`:
TextCaps_0.1_{train,val,test}.json and the image folders train_images/ and test_images/ (the
TextVQA images: train_val_images.zip, test_images.zip).
"""


class TextCaps(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """TextCaps images with their reference captions (none on test)."""

  name = "text_caps"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "TextCaps 0.1 files."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": tfds.features.Text(),
        "image_filepath": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "texts": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://textvqa.org/textcaps/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for name, _ in _SPLITS.values():
      if not epath.Path(os.path.join(root, name)).exists():
        raise FileNotFoundError(f"TextCaps file {os.path.join(root, name)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, name, folder)
            for split, (name, folder) in _SPLITS.items()}

  def _generate_examples(self, root, name, folder):
    with epath.Path(os.path.join(root, name)).open() as f:
      rows = json.load(f)["data"]
    images, captions = {}, collections.defaultdict(list)
    for row in rows:  # One row per caption (one per image on test).
      images[row["image_id"]] = row["image_name"]
      if row.get("caption_str"):
        captions[row["image_id"]].append(row["caption_str"])
    for image_id, image_name in images.items():
      path = os.path.join(folder, f"{image_name}.jpg")
      if not epath.Path(os.path.join(root, path)).exists():
        raise FileNotFoundError(f"TextCaps image {os.path.join(root, path)} is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield image_id, {"image/id": image_id, "image_filepath": path,
                       "image": os.path.join(root, path), "texts": captions[image_id]}
