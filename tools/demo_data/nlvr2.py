"""Demo NLVR2 and MaRVL, one set (the nlvr2 config evaluates MaRVL too).

NLVR2 layout: {train,dev,test1}.json (JSON lines) and images/<split>/[<directory>/]<pair>-img{0,1}
.png; MaRVL layout: <lang>/annotations/marvl-<lang>.jsonl and <lang>/images/<concept>/<image>.jpg.
Each pair of pictures shows 1-4 shapes each; a sentence about both is true or false (about half
each): which side has more shapes, whether both show a <colour> shape, the total number of shapes.
MaRVL's captions are the same English sentences (the demo tokenizer is English).
"""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import marvl
from big_paligemma.data.datasets import nlvr2
from tools.demo_data import common
from tools.demo_data import mixed_scenes

SENTENCES_PER_PAIR = 2


def sentence(rng: random.Random, left: list[mixed_scenes.Item], right: list[mixed_scenes.Item]):
  """(sentence, truth) about the pair."""
  kind = rng.randrange(3)
  if kind == 0:
    side = rng.choice(["left", "right"])
    more = len(left) > len(right) if side == "left" else len(right) > len(left)
    return f"The {side} image contains more shapes than the other image.", more
  if kind == 1:
    colour = rng.choice(sorted(common.COLOURS))
    both = any(i.colour == colour for i in left) and any(i.colour == colour for i in right)
    return f"Both images contain a {colour} shape.", both
  total = len(left) + len(right) + rng.choice([0, 0, -1, 1])
  return f"There are {total} shapes in total.", total == len(left) + len(right)


def pair(rng: random.Random, size: int):
  items = [mixed_scenes.random_items(rng, rng.randint(1, 4)) for _ in range(2)]
  return items, [mixed_scenes.draw(rng, size, it) for it in items]


def write_nlvr2(root: str, counts: dict[str, int], size: int, rng: random.Random) -> None:
  for split in ("train", "dev", "test1"):
    lines = []
    for p in range(max(1, counts[split] // SENTENCES_PER_PAIR)):
      (left, right), images = pair(rng, size)
      directory = p % 3 if split == "train" else None
      folder = fs.join(root, "images", split, "" if directory is None else str(directory))
      for side, image in enumerate(images):
        common.save(image, fs.join(folder, f"{split}-{p}-0-img{side}.png"), "PNG")
      for s in range(SENTENCES_PER_PAIR):
        text, truth = sentence(rng, left, right)
        line = {"identifier": f"{split}-{p}-0-{s}", "sentence": text, "label": str(truth),
                "writer": "demo", "synset": "shape", "query": "shapes", "left_url": "",
                "right_url": "", "validation": {}, "extra_validations": {}}
        if directory is not None:
          line["directory"] = directory
        lines.append(line)
    common.write_jsonl(fs.join(root, f"{split}.json"), lines)


def write_marvl(root: str, n: int, size: int, rng: random.Random) -> None:
  for lang in marvl.LANGUAGES:
    lines = []
    for p in range(max(1, n // SENTENCES_PER_PAIR)):
      (left, right), images = pair(rng, size)
      concept = f"{p % 4}-shapes"
      names = [f"{lang}-{p}-{side}.jpg" for side in ("a", "b")]
      for name, image in zip(names, images):
        common.save(image, fs.join(root, lang, "images", concept, name), "JPEG")
      for s in range(SENTENCES_PER_PAIR):
        text, truth = sentence(rng, left, right)
        lines.append({"id": f"{lang}-{p}-{s}", "concept": concept, "language": lang,
                      "caption": text, "left_img": names[0], "right_img": names[1],
                      "label": truth, "chapter": "demo", "annotator_info": {}})
    common.write_jsonl(fs.join(root, lang, "annotations", f"marvl-{lang}.jsonl"), lines)


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts: sentences per NLVR2 file (train, dev, test1) and per MaRVL language (marvl)."""
  rng = random.Random(seed)
  write_nlvr2(root, counts, size, rng)
  write_marvl(root, counts["marvl"], size, rng)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  """A few hundred training sentences by default (num_train // 4, two per pair of pictures)."""
  return {"train": max(2, num_train // 4), "dev": num_eval, "test1": num_eval, "marvl": num_eval}


SET = common.DemoSet("nlvr2", write, ((nlvr2.NLVR2, None), (marvl.MaRVL, None)), _splits)
