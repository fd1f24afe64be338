"""Demo TextVQA 0.5.1: TextVQA_0.5.1_{train,val,test}.json, train_images/ (train and val),
test_images/ and their rotation.csv tables. A two-digit number written large; "what number is
written?", 10 answers. Some images are stored turned and listed with their OpenImages rotation,
so the builder's undoing shows them upright."""
import csv
import io
import random

import numpy as np
from PIL import Image

from big_paligemma import fs
from big_paligemma.data.datasets import textvqa
from tools.demo_data import common
from tools.demo_data import scenes

FOLDERS = {"train": "train_images", "val": "train_images", "test": "test_images"}
ROTATIONS = ("", "0", "90", "180")


def _write_rotations(path: str, rows: list[tuple[str, str]]) -> None:
  text = io.StringIO(newline="")
  writer = csv.writer(text)
  writer.writerow(["ImageID", "Subset", "Rotation"])
  writer.writerows((image_id, "train", rotation) for image_id, rotation in rows)
  fs.write_text(path, text.getvalue())


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  rotations = {folder: [] for folder in FOLDERS.values()}
  number = 1
  for split, n in counts.items():
    data = []
    for _ in range(n):
      image_id, text = f"{seed:02x}{number:014x}", str(rng.randint(10, 99))
      rotation = rng.choice(ROTATIONS)
      turns = int(rotation or 0) // 90  # stored turned back, so rot90(turns) is upright
      pixels = np.rot90(np.asarray(scenes.text_image(size, text)), -turns)
      common.save(Image.fromarray(np.ascontiguousarray(pixels)),
                  fs.join(root, FOLDERS[split], f"{image_id}.jpg"), "JPEG")
      rotations[FOLDERS[split]].append((image_id, rotation))
      entry = {"question": "what number is written?", "image_id": image_id,
               "question_id": number, "set_name": split}
      if split != "test":
        entry["answers"] = scenes.answers(rng, text, [str(rng.randint(10, 99))])
      data.append(entry)
      number += 1
    common.write_json(fs.join(root, f"TextVQA_0.5.1_{split}.json"),
                      {"dataset_type": split, "dataset_name": "textvqa", "data": data})
  for folder, rows in rotations.items():
    _write_rotations(fs.join(root, folder, "rotation.csv"), rows)
  return root


SET = common.DemoSet("textvqa", write, ((textvqa.TextVQA, None),), splits=scenes.small_splits)
