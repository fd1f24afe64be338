"""Demo TextCaps in its official layout: TextCaps_0.1_{train,val,test}.json (one row per caption,
one captionless row per test image) and train_images/, test_images/ JPEGs. A sign of one colour
showing a word; the captions read the word."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import textcaps
from tools.demo_data import common

WORDS = ("stop", "open", "exit", "cafe", "bus", "taxi", "park", "sale")
_FILES = {"train": ("TextCaps_0.1_train.json", "train_images"),
          "val": ("TextCaps_0.1_val.json", "train_images"),
          "test": ("TextCaps_0.1_test.json", "test_images")}


def captions(colour: str, word: str) -> list[str]:
  return [f"A {colour} sign that says {word}.", f"a sign reading {word.upper()}.",
          f"The word {word} written on a {colour} sign."]


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng, n_images = random.Random(seed), 0
  for split, n in counts.items():
    name, folder = _FILES[split]
    rows = []
    for _ in range(n):
      n_images += 1
      colour, word = rng.choice(sorted(common.COLOURS)), rng.choice(WORDS)
      image = Image.new("RGB", (size, size), common.BACKGROUNDS["white"])
      draw = ImageDraw.Draw(image)
      draw.rectangle((2, size // 4, size - 3, 3 * size // 4), fill=common.COLOURS[colour])
      draw.text((4, size // 2 - 5), word.upper(), fill=(255, 255, 255))
      image_name = f"{n_images:016x}"
      common.save(image, fs.join(root, folder, f"{image_name}.jpg"), "JPEG")
      base = {"image_id": image_name, "image_name": image_name, "image_width": size,
              "image_height": size, "set_name": split, "image_classes": ["sign"],
              "image_path": f"{folder}/{image_name}.jpg"}
      if split == "test":
        rows.append(base)
        continue
      texts = captions(colour, word)
      for j, text in enumerate(texts):
        rows.append({**base, "caption_id": 10 * n_images + j, "caption_str": text,
                     "caption_tokens": text.lower().rstrip(".").split(),
                     "reference_strs": texts, "reference_tokens": []})
    common.write_json(fs.join(root, name), {
        "dataset_type": split, "dataset_name": "textcaps", "dataset_version": "0.1",
        "data": rows})
  return root


SET = common.DemoSet("textcaps", write, ((textcaps.TextCaps, None),))
