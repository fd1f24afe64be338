"""Demo Crossmodal-3600 in its official layout: captions.jsonl (one line per image, its captions
in every language) and images/<key>.jpg; images and captions as the COCO-35L demo."""
import json
import os
import random

from big_paligemma.data.datasets import xm3600
from tools.demo_data import coco35l
from tools.demo_data import common
from tools.demo_data import nocaps


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"test": n} images, two captions per language each."""
  rng, lines = random.Random(seed), []
  os.makedirs(root, exist_ok=True)
  for i in range(counts["test"]):
    key = f"{i + 1:016x}"
    image, texts = nocaps.shape_image(rng, size)
    common.save(image, os.path.join(root, "images", f"{key}.jpg"), "JPEG")
    line = {"image/key": key}
    for lang in xm3600.LANGUAGES:
      captions = [coco35l.translate(t, lang) for t in texts[:2]]
      line[lang] = {"caption": captions, "caption/tokenized": captions}
    lines.append(line)
  with open(os.path.join(root, "captions.jsonl"), "w") as f:
    f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  del num_train  # XM3600 is evaluation only.
  return {"test": max(1, num_eval // 10)}


SET = common.DemoSet("xm3600", write, ((xm3600.Xm3600, None),), splits=_splits)
