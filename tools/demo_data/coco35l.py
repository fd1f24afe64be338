"""Demo COCO-35L in its official layout: coco_mt_train.jsonl / coco_mt_dev.jsonl (one line per
(English caption, target language)), Karpathy's dataset_coco.json and the COCO JPEGs. Images and
English captions as the COCO demo; the caption in language L is `translate(caption, L)`."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import coco35l
from tools.demo_data import common
from tools.demo_data import nocaps

# A few real words so the demo languages differ in more than a tag; the rest keep English words.
_WORDS = {"de": {"a": "ein", "red": "rot", "blue": "blau", "green": "gruen", "yellow": "gelb",
                 "square": "quadrat", "circle": "kreis", "triangle": "dreieck"},
          "fr": {"a": "un", "red": "rouge", "blue": "bleu", "green": "vert", "yellow": "jaune",
                 "square": "carre", "circle": "cercle", "triangle": "triangle"}}


def translate(caption: str, lang: str) -> str:
  """The demo 'translation' of an English caption: "<lang>" then its first 6 words, mapped where
  known (short, so every language fits COCO-35L's 32 tokens with the demo tokenizer)."""
  words = _WORDS.get(lang, {})
  return " ".join([lang] + [words.get(w, w) for w in caption.lower().rstrip(".").split()[:6]])


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"train": n, "dev": m} images; each image's 5 captions in every language."""
  rng, images, cocoid = random.Random(seed), [], 0
  for part, n in counts.items():
    lines = []
    for _ in range(n):
      cocoid += 1
      image, texts = nocaps.shape_image(rng, size)
      folder = "train2014" if part == "train" else "val2014"
      filename = f"COCO_{folder}_{cocoid:012d}.jpg"
      common.save(image, fs.join(root, folder, filename), "JPEG")
      images.append({"filepath": folder, "filename": filename, "cocoid": cocoid,
                     "split": "train" if part == "train" else "val", "sentences": []})
      for j, text in enumerate(texts):
        for lang in coco35l.LANGUAGES:
          if lang != "en":
            lines.append({"image_id": f"{cocoid}_{j}", "src_lang": "en", "trg_lang": lang,
                          "caption_tokenized": text.lower(),
                          "translation_tokenized": translate(text, lang)})
    common.write_jsonl(fs.join(root, f"coco_mt_{part}.jsonl"), lines)
  common.write_json(fs.join(root, "dataset_coco.json"), {"images": images, "dataset": "coco"})
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  # Every image is written once per language: a tenth of the other sets' images.
  return {"train": max(1, num_train // 10), "dev": max(1, num_eval // 10)}


SET = common.DemoSet("coco35l", write, ((coco35l.Coco35l, None),), splits=_splits)
