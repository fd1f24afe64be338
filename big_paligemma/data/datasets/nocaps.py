"""nocaps (novel object captioning, val and test) from its official annotation files.

Build: `tfds build big_paligemma/data/datasets/nocaps.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per image, with big_vision's feature names (its `nocaps` builder): image/id,
image_filepath (relative to manual_dir), url, texts (the 10 reference captions; empty on test,
whose captions are held by the EvalAI server). Splits val (4500 images) and test (10600).
"""
import collections
import json
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

# split -> (annotation file, image folder).
_SPLITS = {"val": ("nocaps_val_4500_captions.json", "validation"),
           "test": ("nocaps_test_image_info.json", "test")}
_INSTRUCTIONS = """\
Download the nocaps annotations from https://nocaps.org/download (nocaps_val_4500_captions.json,
nocaps_test_image_info.json) into `manual_dir`, and each image listed there (its `coco_url`) into
validation/<file_name> and test/<file_name>.
"""


class NoCaps(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """nocaps images with their reference captions (none on test)."""

  name = "nocaps"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "nocaps v0.1 val and test."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": tfds.features.Scalar(dtype=np.int64),
        "image_filepath": tfds.features.Text(),
        "url": tfds.features.Text(),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "texts": tfds.features.Sequence(tfds.features.Text()),
    }), homepage="https://nocaps.org/")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    for name, _ in _SPLITS.values():
      if not epath.Path(os.path.join(root, name)).exists():
        raise FileNotFoundError(f"nocaps file {os.path.join(root, name)} is missing.\n"
                                f"{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, name, folder)
            for split, (name, folder) in _SPLITS.items()}

  def _generate_examples(self, root, name, folder):
    with epath.Path(os.path.join(root, name)).open() as f:
      data = json.load(f)
    captions = collections.defaultdict(list)
    for ann in data.get("annotations", []):
      captions[ann["image_id"]].append(ann["caption"])
    for im in data["images"]:
      path = os.path.join(folder, im["file_name"])
      if not epath.Path(os.path.join(root, path)).exists():
        raise FileNotFoundError(f"nocaps image {os.path.join(root, path)} (id {im['id']}) is "
                                f"missing; download it from {im['coco_url']}.")
      yield im["id"], {"image/id": im["id"], "image_filepath": path, "url": im["coco_url"],
                       "image": os.path.join(root, path), "texts": captions[im["id"]]}
