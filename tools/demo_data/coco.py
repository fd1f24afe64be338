"""Demo COCO captions in the Karpathy layout: dataset_coco.json (splits train/restval/val/test),
train2014/ and val2014/ JPEGs. A coloured shape on a plain background, 5 template captions."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import coco_captions
from tools.demo_data import common


def captions(colour: str, shape: str, background: str) -> list[str]:
  """The 5 reference captions of an image."""
  return [f"a {colour} {shape} on a {background} background.",
          f"A {colour} {shape}.",
          f"a picture of a {colour} {shape} on {background}.",
          f"The {shape} is {colour} and the background is {background}.",
          f"a {background} image with a {colour} {shape} in it."]


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """dataset_coco.json + JPEGs; train/restval images in train2014/, val/test in val2014/."""
  rng = random.Random(seed)
  images, cocoid = [], 1
  for split, n in counts.items():
    folder = "train2014" if split in ("train", "restval") else "val2014"
    for _ in range(n):
      colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
      background = rng.choice(sorted(common.BACKGROUNDS))
      image = Image.new("RGB", (size, size), common.BACKGROUNDS[background])
      box = common.shape_box(rng, size)
      common.draw_shape(ImageDraw.Draw(image), shape, box, common.COLOURS[colour])
      filename = f"COCO_{folder}_{cocoid:012d}.jpg"
      common.save(image, fs.join(root, folder, filename), "JPEG")
      imgid = len(images)
      sentences = [{"raw": c, "tokens": c.lower().rstrip(".").split(), "imgid": imgid,
                    "sentid": 5 * imgid + j}
                   for j, c in enumerate(captions(colour, shape, background))]
      images.append({"filepath": folder, "filename": filename, "imgid": imgid, "split": split,
                     "cocoid": cocoid, "sentids": [s["sentid"] for s in sentences],
                     "sentences": sentences})
      cocoid += 1
  common.write_json(fs.join(root, "dataset_coco.json"), {"images": images, "dataset": "coco"})
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  return {"train": num_train, "restval": max(1, num_train // 10), "val": num_eval,
          "test": num_eval}


SET = common.DemoSet("coco", write, ((coco_captions.CocoCaptions, None),), splits=_splits)
