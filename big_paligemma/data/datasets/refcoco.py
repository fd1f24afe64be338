"""RefCOCO, RefCOCO+ and RefCOCOg (referring expressions of COCO objects) from the official files.

Build: `tfds build big_paligemma/data/datasets/refcoco.py --config refcocox_combined --manual_dir
DIR --data_dir OUT --file_format array_record` (and refcoco_unc, refcocoplus_unc, refcocog_umd for
the evals).
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

Features as big_vision's `ref_coco_bv` builder: one example per image (id, image, height, width,
file_name, flickr_url, coco_url) with its referred `objects` (id, area, bbox normalised y_min
x_min y_max x_max, mask (PNG [H, W, 1], 255 inside), category, supercategory, iscrowd, refs: the
expressions (id, sentence) of that object in the split). Each split also comes "_flat": one
example per (object, expression), `objects` holding that one object with that one expression.

Configs (dataset_partition) and their splits: refcoco_unc, refcocoplus_unc (train, validation,
testA, testB), refcoco_google (train, validation, test), refcocog_google (train, validation),
refcocog_umd (train, validation, test), refcocox_combined: RefCOCO (unc) + RefCOCO+ (unc) +
RefCOCOg (umd) with testA/testB/test merged into test and every image of validation or test
removed from train (big_vision's training set for the referring-expression transfers).

The refs(<partition>).p files are Python pickles of plain lists, dicts, strings and numbers; they
are read with an unpickler that refuses any other object, so a file cannot run code.
"""
import json
import os
import pickle

from etils import epath
import numpy as np
from pycocotools import mask as mask_utils
import tensorflow_datasets as tfds

# config -> ([(folder, partition)] of the refs files, splits).
_CONFIGS = {
    "refcoco_unc": ([("refcoco", "unc")], ("train", "validation", "testA", "testB")),
    "refcoco_google": ([("refcoco", "google")], ("train", "validation", "test")),
    "refcocoplus_unc": ([("refcoco+", "unc")], ("train", "validation", "testA", "testB")),
    "refcocog_google": ([("refcocog", "google")], ("train", "validation")),
    "refcocog_umd": ([("refcocog", "umd")], ("train", "validation", "test")),
    "refcocox_combined": ([("refcocog", "umd"), ("refcoco", "unc"), ("refcoco+", "unc")],
                          ("train", "validation", "test")),
}
_INSTRUCTIONS = """\
Put in `manual_dir` the unzipped refcoco.zip, refcoco+.zip and refcocog.zip of
https://github.com/lichengunc/refer (folders refcoco/, refcoco+/, refcocog/, each with
instances.json and refs(<partition>).p) and the COCO 2014 training images in train2014/
(http://images.cocodataset.org/zips/train2014.zip).
"""


class _PlainUnpickler(pickle.Unpickler):
  """Unpickles only built-in containers and scalars: any class or function is refused."""

  def find_class(self, module, name):
    raise pickle.UnpicklingError(
        f"The refs file refers to {module}.{name}; the official refs(*).p files hold only "
        "lists, dicts, strings and numbers. Use the files of https://github.com/lichengunc/refer.")


def load_refs(path: str) -> list[dict]:
  """The refs of an official refs(<partition>).p file (Python 2 strings read as UTF-8)."""
  with epath.Path(path).open("rb") as f:
    refs = _PlainUnpickler(f, encoding="utf-8").load()
  if not isinstance(refs, list):
    raise ValueError(f"{path} holds a {type(refs).__name__}, not the list of refs.")
  return refs


def _split_refs(refs: list[dict], split: str, combined: bool) -> list[dict]:
  """The refs of `split` (validation is the files' 'val'; combined: see the module docstring)."""
  name = "val" if split == "validation" else split
  names = ("test", "testA", "testB") if combined and name == "test" else (name,)
  exclude = set()
  if combined and name == "train":
    exclude = {r["image_id"] for r in refs if r["split"] != "train"}
  return [r for r in refs if r["split"] in names and r["image_id"] not in exclude]


def _bbox(image: dict, x: float, y: float, w: float, h: float) -> tfds.features.BBox:
  return tfds.features.BBox(ymin=y / image["height"], xmin=x / image["width"],
                            ymax=min((y + h) / image["height"], 1.0),
                            xmax=min((x + w) / image["width"], 1.0))


def _mask(ann: dict, image: dict) -> np.ndarray:
  """The annotation's mask [H, W, 1] uint8 (255 inside) from its polygons or RLE."""
  h, w = image["height"], image["width"]
  seg = ann["segmentation"]
  rles = mask_utils.frPyObjects(seg, h, w) if isinstance(seg, list) else [
      mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg]
  mask = mask_utils.decode(mask_utils.merge(rles) if len(rles) > 1 else rles[0])
  return (mask.reshape(h, w, 1) > 0).astype(np.uint8) * 255


class RefCoco(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """COCO images with their referred objects, masks and expressions; see the module docstring."""

  name = "ref_coco_bv"
  VERSION = tfds.core.Version("1.4.0")
  RELEASE_NOTES = {"1.4.0": "big_vision's layout, flat splits, refcocox_combined."}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name) for name in _CONFIGS]
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "id": tfds.features.Scalar(dtype=np.int32),
        "image": tfds.features.Image(encoding_format="jpeg"),
        "height": tfds.features.Scalar(dtype=np.int32),
        "width": tfds.features.Scalar(dtype=np.int32),
        "file_name": text, "flickr_url": text, "coco_url": text,
        "objects": tfds.features.Sequence({
            "id": tfds.features.Scalar(dtype=np.int64),
            "area": tfds.features.Scalar(dtype=np.float32),
            "bbox": tfds.features.BBoxFeature(),
            "mask": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
            "category": text, "supercategory": text,
            "iscrowd": tfds.features.Scalar(dtype=np.bool_),
            "refs": tfds.features.Sequence({"id": tfds.features.Scalar(dtype=np.int32),
                                            "sentence": text}),
        }),
    }), homepage="https://github.com/lichengunc/refer")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    sources, splits = _CONFIGS[self.builder_config.name]
    paths = [os.path.join(root, folder, f"refs({part}).p") for folder, part in sources]
    paths.append(os.path.join(root, sources[0][0], "instances.json"))
    for path in paths:
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"RefCOCO file {path} is missing.\n{_INSTRUCTIONS}")
    refs = [r for path in paths[:-1] for r in load_refs(path)]
    coco = _Instances([os.path.join(root, folder, "instances.json") for folder, _ in sources])
    combined = len(sources) > 1
    return {split + suffix: self._generate_examples(
        root, coco, _split_refs(refs, split, combined), bool(suffix))
            for split in splits for suffix in ("", "_flat")}

  def _generate_examples(self, root, coco, refs, flat):
    sentences = {}
    for r in refs:
      sentences.setdefault(r["ann_id"], []).extend(
          {"id": s["sent_id"], "sentence": s["sent"]} for s in r["sentences"])
    for image_id in sorted({r["image_id"] for r in refs}):
      image = coco.images[image_id]
      path = os.path.join(root, "train2014", image["file_name"])
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"COCO image {path} is missing.\n{_INSTRUCTIONS}")
      example = {"id": image_id, "image": path, "height": image["height"],
                 "width": image["width"], "file_name": image["file_name"],
                 "flickr_url": image.get("flickr_url", ""), "coco_url": image.get("coco_url", "")}
      objects = [self._object(coco, ann, image, sentences[ann["id"]])
                 for ann in coco.anns_of(image_id) if ann["id"] in sentences]
      if not flat:
        yield image_id, {**example, "objects": objects}
        continue
      for obj in objects:
        for i, ref in enumerate(obj["refs"]):
          yield f"{image_id}_{obj['id']}_{i}", {**example, "objects": [{**obj, "refs": [ref]}]}

  def _object(self, coco, ann, image, refs):
    category = coco.categories[ann["category_id"]]
    return {"id": ann["id"], "area": ann["area"], "bbox": _bbox(image, *ann["bbox"]),
            "mask": _mask(ann, image), "category": category["name"],
            "supercategory": category["supercategory"], "iscrowd": bool(ann["iscrowd"]),
            "refs": refs}


class _Instances:
  """The images, annotations and categories of the datasets' instances.json files."""

  def __init__(self, paths: list[str]):
    self.images, self.categories, self._anns = {}, {}, {}
    for path in paths:
      with epath.Path(path).open() as f:
        data = json.load(f)
      self.images.update({im["id"]: im for im in data["images"]})
      self.categories.update({c["id"]: c for c in data["categories"]})
      self._anns.update({a["id"]: a for a in data["annotations"]})
    self._by_image = {}
    for ann in sorted(self._anns.values(), key=lambda a: a["id"]):
      self._by_image.setdefault(ann["image_id"], []).append(ann)

  def anns_of(self, image_id: int) -> list[dict]:
    return self._by_image.get(image_id, [])
