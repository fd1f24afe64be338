"""Small learnable synthetic DocVQA, ChartQA and COCO-caption sets in the benchmarks' own formats.

  python -m tools.make_demo_data --out demo_data [--num_train 2000 --num_eval 128 --size 64]

Writes, under --out:
  raw/docvqa/   SP-DocVQA v1.0 layout: {train,val}_v1.0_withQT.json, test_v1.0.json (no answers),
                documents/<ucsf_id>_<page>.png. A white page with grey text lines and one big
                coloured shape; the question asks its colour or its shape (one-word answers).
  raw/chartqa/  ChartQA layout: {train,val,test}/{split}_{human,augmented}.json and png/. 1-3
                coloured bars; human: "what is the highest value?" (10..50 in steps of 10),
                augmented: "how many bars are there?" (1..3).
  raw/coco/     Karpathy layout: dataset_coco.json (splits train/restval/val/test), train2014/
                and val2014/ JPEGs. A coloured shape on a plain background, 5 template captions.
  tfds/         the TFDS datasets built from those files with the repo's builders as ArrayRecord
                files (what the input pipeline reads): docvqa, chartqa/human, chartqa/augmented,
                coco_captions (data_dir for the configs).
  paligemma.model  the small demo tokenizer (tools/make_tokenizer.py), unless --no_tokenizer;
  gemma3.model     the same with Gemma 3's <start_of_image>, <end_of_image> (Gemma 3 configs).
Every image is --size pixels square. Same arguments -> the same files (seeded).
"""
import argparse
import json
import os
import random

from PIL import Image
from PIL import ImageDraw
import tensorflow_datasets as tfds

from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa
from tools import make_tokenizer

COLOURS = {"red": (220, 30, 30), "blue": (30, 70, 220), "green": (30, 170, 50),
           "yellow": (235, 200, 20)}
SHAPES = ("square", "circle", "triangle")
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15)}
BAR_VALUES = (10, 20, 30, 40, 50)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill) -> None:
  """Draws a filled square, circle or triangle inside box (x0, y0, x1, y1)."""
  x0, y0, x1, y1 = box
  if shape == "square":
    draw.rectangle(box, fill=fill)
  elif shape == "circle":
    draw.ellipse(box, fill=fill)
  elif shape == "triangle":
    draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=fill)
  else:
    raise ValueError(f"Unknown shape {shape!r}; known: {SHAPES}.")


def _save(image: Image.Image, path: str, fmt: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, format=fmt)


def _write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def _shape_box(rng: random.Random, size: int) -> tuple[int, int, int, int]:
  side = rng.randint(size * 4 // 10, size * 6 // 10)
  x0, y0 = rng.randint(0, size - side - 1), rng.randint(0, size - side - 1)
  return (x0, y0, x0 + side, y0 + side)


# ----------------------------------------------------------------------------- DocVQA


def document_image(rng: random.Random, size: int, colour: str, shape: str) -> Image.Image:
  image = Image.new("RGB", (size, size), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  for y in range(3, size, max(4, size // 10)):  # Text lines.
    draw.rectangle((3, y, rng.randint(size // 2, size - 3), y + 1), fill=(150, 150, 150))
  draw_shape(draw, shape, _shape_box(rng, size), COLOURS[colour])
  return image


def write_docvqa(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """SP-DocVQA v1.0 files: one question per page, alternating colour / shape questions."""
  rng = random.Random(seed)
  files = {"train": "train_v1.0_withQT.json", "val": "val_v1.0_withQT.json",
           "test": "test_v1.0.json"}
  qid = 1
  for split, n in counts.items():
    data = []
    for i in range(n):
      colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
      ucsf_id, page = f"{split[:2]}{i:06d}", 1
      path = f"documents/{ucsf_id}_{page}.png"
      _save(document_image(rng, size, colour, shape), os.path.join(root, path), "PNG")
      question, answer = (("what color is the shape?", colour) if i % 2 == 0 else
                          ("what shape is drawn?", shape))
      entry = {"questionId": qid, "question": question, "image": path, "docId": qid,
               "ucsf_document_id": ucsf_id, "ucsf_document_page_no": str(page),
               "data_split": split}
      if split != "test":
        entry["answers"] = [answer]
        entry["question_types"] = ["figure/diagram"]
      data.append(entry)
      qid += 1
    _write_json(os.path.join(root, files[split]), {
        "dataset_name": "SP-DocVQA", "dataset_split": split, "dataset_version": "1.0",
        "data": data})
  return root


# ----------------------------------------------------------------------------- ChartQA


def chart_image(size: int, values: list[int], colours: list[str]) -> Image.Image:
  """Bars of height `value` percent of the image, left to right, on white with a base line."""
  image = Image.new("RGB", (size, size), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  slot = size // 3
  base = size - 4
  for k, (value, colour) in enumerate(zip(values, colours)):
    x0 = k * slot + slot // 6
    top = base - round(value / 60 * (size - 8))
    draw.rectangle((x0, top, x0 + slot * 2 // 3, base), fill=COLOURS[colour])
  draw.line((0, base + 1, size, base + 1), fill=(0, 0, 0), width=1)
  return image


def write_chartqa(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """ChartQA files: each chart has a human question (highest value) and an augmented one
  (number of bars)."""
  rng = random.Random(seed)
  for split, n in counts.items():
    human, augmented = [], []
    for i in range(n):
      num = rng.randint(1, 3)
      values = [rng.choice(BAR_VALUES) for _ in range(num)]
      colours = rng.sample(sorted(COLOURS), num)
      name = f"demo_{split}_{i:05d}.png"
      _save(chart_image(size, values, colours), os.path.join(root, split, "png", name), "PNG")
      human.append({"imgname": name, "query": "what is the highest value?",
                    "label": str(max(values))})
      augmented.append({"imgname": name, "query": "how many bars are there?", "label": str(num)})
    _write_json(os.path.join(root, split, f"{split}_human.json"), human)
    _write_json(os.path.join(root, split, f"{split}_augmented.json"), augmented)
  return root


# ----------------------------------------------------------------------------- COCO Karpathy


def captions(colour: str, shape: str, background: str) -> list[str]:
  """The 5 reference captions of an image."""
  return [f"a {colour} {shape} on a {background} background.",
          f"A {colour} {shape}.",
          f"a picture of a {colour} {shape} on {background}.",
          f"The {shape} is {colour} and the background is {background}.",
          f"a {background} image with a {colour} {shape} in it."]


def write_coco(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """dataset_coco.json + JPEGs; train/restval images in train2014/, val/test in val2014/."""
  rng = random.Random(seed)
  images, cocoid = [], 1
  for split, n in counts.items():
    folder = "train2014" if split in ("train", "restval") else "val2014"
    for _ in range(n):
      colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
      background = rng.choice(sorted(BACKGROUNDS))
      image = Image.new("RGB", (size, size), BACKGROUNDS[background])
      draw_shape(ImageDraw.Draw(image), shape, _shape_box(rng, size), COLOURS[colour])
      filename = f"COCO_{folder}_{cocoid:012d}.jpg"
      _save(image, os.path.join(root, folder, filename), "JPEG")
      imgid = len(images)
      sentences = [{"raw": c, "tokens": c.lower().rstrip(".").split(), "imgid": imgid,
                    "sentid": 5 * imgid + j} for j, c in enumerate(captions(colour, shape, background))]
      images.append({"filepath": folder, "filename": filename, "imgid": imgid, "split": split,
                     "cocoid": cocoid, "sentids": [s["sentid"] for s in sentences],
                     "sentences": sentences})
      cocoid += 1
  _write_json(os.path.join(root, "dataset_coco.json"), {"images": images, "dataset": "coco"})
  return root


# ----------------------------------------------------------------------------- TFDS + main


def build_tfds(raw: str, data_dir: str) -> None:
  """Builds docvqa, chartqa/{human,augmented} and coco_captions into `data_dir` (ArrayRecord)."""
  for cls, sub, configs in [(docvqa.DocVQA, "docvqa", [None]),
                            (chartqa.ChartQA, "chartqa", ["human", "augmented"]),
                            (coco_captions.CocoCaptions, "coco", [None])]:
    for config in configs:
      print(f"  building TFDS {cls.name}{'/' + config if config else ''} ...", flush=True)
      cls(config=config, data_dir=data_dir, file_format="array_record").download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir=os.path.join(raw, sub)))


def make_demo_data(out: str, num_train: int = 2000, num_eval: int = 128, size: int = 64,
                   seed: int = 0, tokenizer: bool = True, build: bool = True) -> dict[str, str]:
  """Writes everything (see the module docstring); returns the paths {raw, tfds, tokenizer}."""
  raw = os.path.join(out, "raw")
  splits = {"train": num_train, "val": num_eval, "test": num_eval}
  print(f"Writing DocVQA ({splits}) ...", flush=True)
  write_docvqa(os.path.join(raw, "docvqa"), splits, size, seed)
  print("Writing ChartQA ...", flush=True)
  write_chartqa(os.path.join(raw, "chartqa"), splits, size, seed + 1)
  print("Writing COCO Karpathy ...", flush=True)
  coco_splits = {"train": num_train, "restval": max(1, num_train // 10), "val": num_eval,
                 "test": num_eval}
  write_coco(os.path.join(raw, "coco"), coco_splits, size, seed + 2)
  paths = {"raw": raw, "tfds": os.path.join(out, "tfds"),
           "tokenizer": os.path.join(out, "paligemma.model")}
  if build:
    print("Building TFDS datasets ...", flush=True)
    build_tfds(raw, paths["tfds"])
  if tokenizer:
    print("Training the demo tokenizer ...", flush=True)
    tok = make_tokenizer.make_paligemma_tokenizer(paths["tokenizer"])
    make_tokenizer.with_gemma3_pieces(tok).save(os.path.join(out, "gemma3.model"))
  print(f"Done: {paths}", flush=True)
  return paths


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--num_train", type=int, default=2000, help="train examples per benchmark")
  parser.add_argument("--num_eval", type=int, default=128, help="val and test examples each")
  parser.add_argument("--size", type=int, default=64, help="image side in pixels")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no_tokenizer", action="store_true", help="skip the demo tokenizer")
  parser.add_argument("--no_tfds", action="store_true", help="only write the raw files")
  args = parser.parse_args(argv)
  make_demo_data(args.out, args.num_train, args.num_eval, args.size, args.seed,
                 tokenizer=not args.no_tokenizer, build=not args.no_tfds)


if __name__ == "__main__":
  main()
