"""Demo POPE: coco_pope_{random,popular,adversarial}.json (JSON lines) and val2014/ JPEGs.

Every image (shared by the three files, as POPE's) shows 1-3 shapes; half its questions ask
"Is there a <colour> <shape> in the image?" about one that is there ("yes"), half about one that
is not ("no"): random picks any absent one, popular the most frequent absent one, adversarial one
of an absent colour but a present shape (POPE's co-occurring objects).
"""
import collections
import random

from big_paligemma import fs
from big_paligemma.data.datasets import pope
from tools.demo_data import common
from tools.demo_data import mixed_scenes

KINDS = [f"{c} {s}" for c in sorted(common.COLOURS) for s in common.SHAPES]


def absent(config: str, rng: random.Random, present: set[str], popularity) -> str:
  """The object a "no" question asks about."""
  others = [k for k in KINDS if k not in present]
  if config == "popular":
    return max(others, key=lambda k: (popularity[k], k))
  if config == "adversarial":
    shapes = {k.split()[1] for k in present}
    near = [k for k in others if k.split()[1] in shapes]
    return rng.choice(near or others)
  return rng.choice(others)


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts["test"]: questions per file (2 per image)."""
  rng = random.Random(seed)
  images = []
  for i in range(max(1, counts["test"] // 2)):
    items = mixed_scenes.random_items(rng, rng.randint(1, 3))
    name = f"COCO_val2014_{i + 1:012d}.jpg"
    common.save(mixed_scenes.draw(rng, size, items), fs.join(root, "val2014", name), "JPEG")
    images.append((name, {f"{it.colour} {it.shape}" for it in items}))
  popularity = collections.Counter(k for _, present in images for k in present)
  for config in pope.CONFIGS:
    lines, qid = [], 1
    for name, present in images:
      for label, thing in (("yes", rng.choice(sorted(present))),
                           ("no", absent(config, rng, present, popularity))):
        lines.append({"question_id": qid, "image": name,
                      "text": f"Is there a {thing} in the image?", "label": label})
        qid += 1
    common.write_jsonl(fs.join(root, f"coco_pope_{config}.json"), lines)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  del num_train  # POPE has only test questions.
  return {"test": num_eval}


SET = common.DemoSet("pope", write, tuple((pope.POPE, c) for c in pope.CONFIGS), _splits)
