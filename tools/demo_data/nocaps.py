"""Demo nocaps in its official layout: nocaps_val_4500_captions.json (COCO-style images +
annotations), nocaps_test_image_info.json (images only), validation/ and test/ JPEGs. The images
and captions of the COCO demo (a coloured shape on a plain background), so a model trained on the
`coco` set is evaluated on them as the nocaps transfer evaluates a COCO-trained model."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import nocaps
from tools.demo_data import coco
from tools.demo_data import common

_FILES = {"val": ("nocaps_val_4500_captions.json", "validation"),
          "test": ("nocaps_test_image_info.json", "test")}


def shape_image(rng: random.Random, size: int) -> tuple[Image.Image, list[str]]:
  """A coloured shape on a plain background and its 5 captions (the COCO demo's)."""
  colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
  background = rng.choice(sorted(common.BACKGROUNDS))
  image = Image.new("RGB", (size, size), common.BACKGROUNDS[background])
  common.draw_shape(ImageDraw.Draw(image), shape, common.shape_box(rng, size),
                    common.COLOURS[colour])
  return image, coco.captions(colour, shape, background)


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"val": n, "test": m}: images with ids from 1; test gets no captions."""
  rng, image_id, ann_id = random.Random(seed), 0, 0
  for split, n in counts.items():
    name, folder = _FILES[split]
    images, annotations = [], []
    for _ in range(n):
      image_id += 1
      image, texts = shape_image(rng, size)
      file_name = f"{image_id:016x}.jpg"
      common.save(image, fs.join(root, folder, file_name), "JPEG")
      images.append({"id": image_id, "file_name": file_name, "height": size, "width": size,
                     "domain": "in-domain", "open_images_id": f"{image_id:016x}",
                     "coco_url": f"https://example.invalid/nocaps/{folder}/{file_name}"})
      if split == "val":
        for text in texts:
          ann_id += 1
          annotations.append({"image_id": image_id, "id": ann_id, "caption": text})
    data = {"licenses": [], "info": {"version": "0.1"}, "images": images}
    if split == "val":
      data["annotations"] = annotations
    common.write_json(fs.join(root, name), data)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  del num_train  # nocaps has no training split.
  return {"val": num_eval, "test": num_eval}


SET = common.DemoSet("nocaps", write, ((nocaps.NoCaps, None),), splits=_splits)
