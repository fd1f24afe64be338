"""Widget Captioning (captions of one UI element of a RICO screen) from its official files.

Build: `tfds build big_paligemma/data/datasets/widgetcap.py --manual_dir DIR --data_dir OUT
--file_format array_record`.
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per captioned element, with big_vision's feature names (its `widgetcap` builder):
image/id (`<screenId>_<nodeId>`), image/filename, texts (the element's captions), bbox (the
element's box, normalised y_min x_min y_max x_max), screen_id, node_id, height, width (of the
screenshot). Splits train, dev, test (by screen, the official split/ lists).

The box: the node's `bounds` (x0, y0, x1, y1 on RICO's 1440x2560 canvas) in the screen's view
hierarchy, found by following nodeId "0.i.j..." (child i of the root, then its child j, ...),
scaled by the screenshot's height / 2560 as big_vision does (the screenshots keep the canvas'
aspect) and divided by the screenshot's size; coordinates outside the screen are clipped to it.
"""
import csv
import io
import json
import os

from etils import epath
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

_SPLITS = ("train", "dev", "test")
RICO_CANVAS_HEIGHT = 2560
_INSTRUCTIONS = """\
Put in `manual_dir`: widget_captions.csv and split/{train,dev,test}.txt from
https://github.com/google-research-datasets/widget-caption, and RICO's screenshots and view
hierarchies as combined/<screenId>.jpg and combined/<screenId>.json (unique_uis.tar.gz from
http://www.interactionmining.org/rico).
"""


def _csv_text(path: str) -> io.StringIO:
  """The UTF-8 text of the CSV file at `path`, line ends kept as written (what the csv module
  expects of a file opened with newline="")."""
  return io.StringIO(epath.Path(path).read_bytes().decode("utf-8"), newline="")


def node_bounds(hierarchy: dict, node_id: str) -> list[float]:
  """`bounds` of the node `node_id` ("0.i.j...") of a RICO view hierarchy."""
  node = hierarchy["activity"]["root"]
  for index in node_id.split(".")[1:]:
    children = node.get("children") or []
    if int(index) >= len(children):
      raise ValueError(f"nodeId {node_id}: the view hierarchy has no child {index} there.")
    node = children[int(index)]
  return node["bounds"]


def normalised_box(bounds, width: int, height: int) -> tfds.features.BBox:
  """RICO canvas bounds (x0, y0, x1, y1) -> the box on a width x height screenshot."""
  scale = height / RICO_CANVAS_HEIGHT
  x0, y0, x1, y1 = (v * scale for v in bounds)
  clip = lambda v: min(max(v, 0.0), 1.0)  # pylint: disable=unnecessary-lambda-assignment
  return tfds.features.BBox(ymin=clip(y0 / height), xmin=clip(x0 / width),
                            ymax=clip(y1 / height), xmax=clip(x1 / width))


class Widgetcap(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """UI elements of RICO screens with their captions and boxes."""

  name = "widgetcap"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Widget Captioning files on RICO screens."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": text, "image/filename": text,
        "image": tfds.features.Image(encoding_format="jpeg"),
        "texts": tfds.features.Sequence(text),
        "bbox": tfds.features.BBoxFeature(),
        "screen_id": text, "node_id": text,
        "height": tfds.features.Scalar(dtype=np.int32),
        "width": tfds.features.Scalar(dtype=np.int32),
    }), homepage="https://github.com/google-research-datasets/widget-caption")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    paths = [os.path.join(root, "widget_captions.csv")] + [
        os.path.join(root, "split", f"{split}.txt") for split in _SPLITS]
    for path in paths:
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"Widget Captioning file {path} is missing.\n{_INSTRUCTIONS}")
    rows = list(csv.DictReader(_csv_text(paths[0])))
    return {split: self._generate_examples(root, path, rows)
            for split, path in zip(_SPLITS, paths[1:])}

  def _generate_examples(self, root, path, rows):
    with epath.Path(path).open() as f:
      screens = {line.strip() for line in f if line.strip()}
    for row in rows:
      if row["screenId"] in screens:
        yield self._example(root, row["screenId"], row["nodeId"], row["captions"])

  def _example(self, root, screen, node, captions):
    image = os.path.join(root, "combined", f"{screen}.jpg")
    for path in (image, image[:-len("jpg")] + "json"):
      if not epath.Path(path).exists():
        raise FileNotFoundError(f"RICO file {path} is missing.\n{_INSTRUCTIONS}")
    with Image.open(io.BytesIO(epath.Path(image).read_bytes())) as im:
      width, height = im.size
    with epath.Path(image[:-len("jpg")] + "json").open() as f:
      bounds = node_bounds(json.load(f), node)
    key = f"{screen}_{node}"
    return key, {"image/id": key, "image/filename": f"{screen}.jpg", "image": image,
                 "texts": captions.split("|"), "bbox": normalised_box(bounds, width, height),
                 "screen_id": screen, "node_id": node, "height": height, "width": width}
