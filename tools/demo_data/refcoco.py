"""Demo RefCOCO, RefCOCO+ and RefCOCOg in the official layout of github.com/lichengunc/refer:
refcoco/, refcoco+/, refcocog/ each with instances.json (COCO annotations: polygons, boxes) and
refs(<partition>).p (pickled refs: unc for RefCOCO/RefCOCO+ with testA/testB, umd for RefCOCOg
with test), the images in train2014/, and vae-oid.npz: a hand-set mask VQ-VAE in vae-oid's layout
(`write_block_vae`) whose codes are the 4x4 grid of the mask's occupancy, so that the
refcoco_seg demo's masks decode to their shapes and its mIoU means something.

An image shows two coloured shapes side by side; each is referred to by its colour and shape
(RefCOCO adds its side, RefCOCO+ does not, RefCOCOg says more words).
"""
import math
import pickle
import random

import numpy as np
from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import refcoco
from tools.demo_data import common

_DATASETS = {"refcoco": "unc", "refcoco+": "unc", "refcocog": "umd"}
CATEGORIES = {"square": 1, "circle": 2, "triangle": 3}


def polygon(shape: str, box) -> list[float]:
  """The shape's outline in box (x0, y0, x1, y1) as a flat COCO polygon [x, y, x, y, ...]."""
  x0, y0, x1, y1 = box
  if shape == "square":
    points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
  elif shape == "triangle":
    points = [((x0 + x1) / 2, y0), (x1, y1), (x0, y1)]
  else:
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    points = [(cx + r * math.cos(2 * math.pi * k / 16), cy + r * math.sin(2 * math.pi * k / 16))
              for k in range(16)]
  return [float(v) for p in points for v in p]


def expression(dataset: str, colour: str, shape: str, side: str) -> str:
  return {"refcoco": f"{side} {colour} {shape}", "refcoco+": f"{colour} {shape}",
          "refcocog": f"the {colour} {shape} on the {side} of the picture"}[dataset]


def _split_of(dataset: str, split: str, i: int) -> str:
  if split != "test":
    return split
  return "test" if _DATASETS[dataset] == "umd" else ("testA", "testB")[i % 2]


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"train", "val", "test"}: images (COCO ids from 1), two referred shapes each."""
  rng, images, anns = random.Random(seed), [], []
  refs = {d: [] for d in _DATASETS}
  for split, n in counts.items():
    for _ in range(n):
      image_id = len(images) + 1
      image = Image.new("RGB", (size, size), common.BACKGROUNDS[rng.choice(["white", "black"])])
      name = f"COCO_train2014_{image_id:012d}.jpg"
      images.append({"id": image_id, "file_name": name, "height": size, "width": size,
                     "flickr_url": "", "coco_url": "", "license": 1})
      for side, x_range in (("left", (1, size // 2 - 2)), ("right", (size // 2 + 1, size - 2))):
        colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
        w = rng.randint(size // 5, x_range[1] - x_range[0])
        x0, y0 = rng.randint(x_range[0], x_range[1] - w), rng.randint(1, size - w - 2)
        poly = polygon(shape, (x0, y0, x0 + w, y0 + w))
        ImageDraw.Draw(image).polygon(poly, fill=common.COLOURS[colour])
        xs, ys = poly[0::2], poly[1::2]
        ann = {"id": 1000 + len(anns), "image_id": image_id, "category_id": CATEGORIES[shape],
               "segmentation": [poly], "iscrowd": 0, "area": float(w * w),
               "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]}
        anns.append(ann)
        for dataset, out in refs.items():
          sent_id = 10 * ann["id"] + len(out)
          sent = expression(dataset, colour, shape, side)
          out.append({"ref_id": len(out), "ann_id": ann["id"], "image_id": image_id,
                      "category_id": ann["category_id"], "file_name": name,
                      "split": _split_of(dataset, split, image_id), "sent_ids": [sent_id],
                      "sentences": [{"sent_id": sent_id, "sent": sent, "raw": sent,
                                     "tokens": sent.split()}]})
      common.save(image, fs.join(root, "train2014", name), "JPEG")
  categories = [{"id": i, "name": s, "supercategory": "shape"} for s, i in CATEGORIES.items()]
  for dataset, partition in _DATASETS.items():
    common.write_json(fs.join(root, dataset, "instances.json"),
                      {"images": images, "annotations": anns, "categories": categories})
    fs.write_bytes(fs.join(root, dataset, f"refs({partition}).p"),
                   pickle.dumps(refs[dataset], protocol=2))
  write_block_vae(fs.join(root, "vae-oid.npz"))
  return root


def _bilinear_up(channels: int) -> np.ndarray:
  """Transposed-conv weight [I, O, 4, 4] (stride 2, padding 1): bilinear 2x upsampling of each
  of the first `channels` channels."""
  k = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
  w = np.zeros((128, 128, 4, 4), np.float32)
  for c in range(channels):
    w[c, c] = k
  return w


def write_block_vae(path: str, code_dim: int = 8) -> None:
  """A vae-oid.npz whose encoder averages the mask (2x2 stride-2 convs of 2 * m - 1, + 1) to a
  4x4 grid of occupancies and picks code round(127 * occupancy); the decoder maps code j back to
  2 * j / 127 - 1 as two relu channels (positive and negative part), upsamples them bilinearly to
  64x64 and subtracts them: > 0 where the cell was more than half inside."""
  w = {"_vq_vae._embedding": np.zeros((128, code_dim), np.float32)}
  w["_vq_vae._embedding"][:, 0] = 2.0 * np.arange(128) / 127
  for i, (cin, cout) in zip((0, 2, 4, 6), ((1, 2), (2, 2), (2, 2), (2, 2))):
    w[f"encoder.{i}.weight"] = np.zeros((cout, cin, 2, 2), np.float32)
    w[f"encoder.{i}.weight"][0, 0] = 1.0 / 4  # 2x2 stride 2: exact block means, no padding
    w[f"encoder.{i}.bias"] = np.array([1.0 if i == 0 else 0.0] + [0.0] * (cout - 1), np.float32)
  for block, c in (("encoder.8", 2), ("encoder.9", 2), ("decoder.2", 128), ("decoder.3", 128)):
    for j, k in ((0, 3), (2, 3), (4, 1)):  # zero residual branches: the blocks pass x through
      w[f"{block}.net.{j}.weight"] = np.zeros((c, c, k, k), np.float32)
      w[f"{block}.net.{j}.bias"] = np.zeros((c,), np.float32)
  w["encoder.10.weight"] = np.zeros((code_dim, 2, 1, 1), np.float32)
  w["encoder.10.weight"][0, 0] = 1.0
  w["encoder.10.bias"] = np.zeros((code_dim,), np.float32)
  w["decoder.0.weight"] = np.zeros((128, code_dim, 1, 1), np.float32)
  w["decoder.0.weight"][:2, 0, 0, 0] = (1.0, -1.0)
  w["decoder.0.bias"] = np.zeros((128,), np.float32)
  w["decoder.0.bias"][:2] = (-1.0, 1.0)
  for i, cin, cout in ((4, 128, 128), (6, 128, 64), (8, 64, 32), (10, 32, 16)):
    w[f"decoder.{i}.weight"] = _bilinear_up(2)[:cin, :cout]
    w[f"decoder.{i}.bias"] = np.zeros((cout,), np.float32)
  w["decoder.12.weight"] = np.zeros((1, 16, 1, 1), np.float32)
  w["decoder.12.weight"][0, :2, 0, 0] = (1.0, -1.0)
  w["decoder.12.bias"] = np.zeros((1,), np.float32)
  with fs.atomic_writer(path) as f:
    np.savez_compressed(f, **w)


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  return {"train": num_train // 2, "val": num_eval // 2, "test": num_eval // 2}


SET = common.DemoSet("refcoco", write, tuple(
    (refcoco.RefCoco, name) for name in ("refcocox_combined", "refcoco_unc", "refcocoplus_unc",
                                          "refcocog_umd")), splits=_splits)
