"""COCO captions with the Karpathy split, from `dataset_coco.json` and the COCO 2014 images.

Build: `tfds build big_paligemma/data/datasets/coco_captions.py --manual_dir DIR --data_dir OUT
--file_format array_record` (the input pipeline reads ArrayRecord files). This module imports
nothing from the project, so `tfds build` can load it by path. It shadows the TFDS catalogue's
`coco_captions` only where the input pipeline names it (it is not registered). Paths go through
etils.epath (gs:// works).
"""
import json

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

_SPLITS = ("train", "restval", "val", "test")
_INSTRUCTIONS = """\
Put in `manual_dir`: dataset_coco.json (Karpathy's split, from
https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip) and the folders
train2014/ and val2014/ of the COCO 2014 images (https://cocodataset.org/#download).
"""


class CocoCaptions(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """One example per image with all its reference captions; splits train/restval/val/test."""

  name = "coco_captions"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Karpathy split of COCO 2014."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image_id": tfds.features.Scalar(dtype=np.int64),
        "captions": tfds.features.Sequence(tfds.features.Text()),
        "image": tfds.features.Image(encoding_format="jpeg"),
    }), homepage="https://cs.stanford.edu/people/karpathy/deepimagesent/")

  def _split_generators(self, dl_manager):
    root = epath.Path(dl_manager.manual_dir)
    path = root / "dataset_coco.json"
    if not path.exists():
      raise FileNotFoundError(f"COCO Karpathy file {path} is missing.\n{_INSTRUCTIONS}")
    images = json.loads(path.read_text())["images"]
    unknown = {im["split"] for im in images} - set(_SPLITS)
    if unknown:
      raise ValueError(f"{path} has splits {sorted(unknown)}; expected only {_SPLITS}.")
    return {split: self._generate_examples(root, [im for im in images if im["split"] == split])
            for split in _SPLITS}

  def _generate_examples(self, root, images):
    for im in images:
      image = root / im["filepath"] / im["filename"]
      if not image.exists():
        raise FileNotFoundError(f"COCO image {image} (cocoid {im['cocoid']}) is missing.\n"
                                f"{_INSTRUCTIONS}")
      yield im["cocoid"], {"image_id": im["cocoid"], "image": str(image),
                           "captions": [s["raw"] for s in im["sentences"]]}
