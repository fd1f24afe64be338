"""Demo Crossmodal-3600 in its official layout: captions.jsonl (one line per image, its captions
in every language) and images/<key>.jpg; images and captions as the COCO-35L demo."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import xm3600
from tools.demo_data import coco35l
from tools.demo_data import common
from tools.demo_data import nocaps


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"test": n} images, two captions per language each."""
  rng, lines = random.Random(seed), []
  fs.makedirs(root)
  for i in range(counts["test"]):
    key = f"{i + 1:016x}"
    image, texts = nocaps.shape_image(rng, size)
    common.save(image, fs.join(root, "images", f"{key}.jpg"), "JPEG")
    line = {"image/key": key}
    for lang in xm3600.LANGUAGES:
      captions = [coco35l.translate(t, lang) for t in texts[:2]]
      line[lang] = {"caption": captions, "caption/tokenized": captions}
    lines.append(line)
  common.write_jsonl(fs.join(root, "captions.jsonl"), lines)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  del num_train  # XM3600 is evaluation only.
  return {"test": max(1, num_eval // 10)}


SET = common.DemoSet("xm3600", write, ((xm3600.Xm3600, None),), splits=_splits)
