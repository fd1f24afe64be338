"""Demo TallyQA and CountBenchQA, one set (the tallyqa config evaluates both).

TallyQA layout: train.json, test.json and VG_100K/<image_id>.jpg; 1-6 shapes of random colours;
simple questions "How many shapes are there?" (the total), complex ones "How many <colour> shapes
are there?" (0 to 6; test marks issimple). CountBenchQA layout: the Hugging Face parquet (only
circles, 2-6 of them) and countbench_paired_questions.json ("How many circles are there in the
image?"), count `countbench` rows, every 8th without an image as in the real file.
"""
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq

from big_paligemma import fs
from big_paligemma.data.datasets import countbenchqa
from big_paligemma.data.datasets import tallyqa
from tools.demo_data import common
from tools.demo_data import mixed_scenes


def question(rng: random.Random, items: list[mixed_scenes.Item]) -> tuple[str, int, bool]:
  """(question, answer, issimple) about `items`."""
  if rng.random() < 0.5:
    return "How many shapes are there?", len(items), True
  colour = rng.choice(sorted(common.COLOURS))
  return (f"How many {colour} shapes are there?",
          sum(it.colour == colour for it in items), False)


def write_tallyqa(root: str, counts: dict[str, int], size: int, rng: random.Random) -> None:
  image_id = 1
  for split in ("train", "test"):
    entries = []
    for _ in range(counts[split]):
      items = mixed_scenes.random_items(rng, rng.randint(1, 6))
      path = f"VG_100K/{image_id}.jpg"
      common.save(mixed_scenes.draw(rng, size, items), fs.join(root, path), "JPEG")
      text, answer, simple = question(rng, items)
      entry = {"image": path, "answer": answer, "data_source": "amt", "question": text,
               "image_id": image_id, "question_id": 100_000 + image_id}
      if split == "test":
        entry["issimple"] = simple
      entries.append(entry)
      image_id += 1
    common.write_json(fs.join(root, f"{split}.json"), entries)


def _png(image) -> bytes:
  buf = io.BytesIO()
  image.save(buf, format="PNG")
  return buf.getvalue()


def write_countbench(root: str, n: int, size: int, rng: random.Random) -> None:
  rows, questions = [], []
  for i in range(n):
    number = rng.randint(2, 6)
    items = [mixed_scenes.Item(rng.choice(sorted(common.COLOURS)), "circle") for _ in range(number)]
    image = mixed_scenes.draw(rng, size, items)
    rows.append({"image_url": f"https://demo/{i}.png", "text": f"{number} circles",
                 "number": number, "image": None if i % 8 == 7 else
                 {"bytes": _png(image), "path": None}})
    questions.append({"question": "How many circles are there in the image?"})
  pq.write_table(pa.Table.from_pylist(rows), fs.join(
      root, "train-00000-of-00001-cf54c241ba947306.parquet"))
  common.write_json(fs.join(root, countbenchqa.QUESTIONS), questions)


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  write_tallyqa(root, counts, size, rng)
  write_countbench(root, counts["countbench"], size, rng)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  """A few hundred training questions by default (num_train // 8)."""
  return {"train": max(2, num_train // 8), "test": num_eval, "countbench": num_eval}


SET = common.DemoSet("tallyqa", write, ((tallyqa.TallyQA, None),
                                        (countbenchqa.CountBenchQA, None)), _splits)
