"""Demo ScienceQA: problems.json and {train,val,test}/<pid>/image.png. One shape per picture;
"Which shape is shown?" (choices: 2-3 shape names) or "What color is the shape?" (2-4 colour
names), the right one at a random place; every fifth problem has a hint; every tenth has no image
(the builder leaves those out, as the IMG subset)."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import science_qa
from tools.demo_data import common


def problem(rng: random.Random, split: str, colour: str, shape: str, pid: int) -> dict:
  if pid % 2:
    options, right, question = list(common.SHAPES), shape, "Which shape is shown?"
  else:
    options, right, question = sorted(common.COLOURS), colour, "What color is the shape?"
  choices = [right] + rng.sample([o for o in options if o != right],
                                 rng.randint(1, len(options) - 1))
  rng.shuffle(choices)
  return {"question": question, "choices": choices, "answer": choices.index(right),
          "hint": "Look at the picture." if pid % 5 == 0 else "",
          "image": None if pid % 10 == 9 else "image.png", "task": "closed choice",
          "grade": "grade1", "subject": "natural science", "topic": "shapes",
          "category": "Identify shapes", "skill": "Identify shapes and colors",
          "lecture": "Shapes have a form and a color.", "solution": f"The answer is {right}.",
          "split": split}


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  problems, pid = {}, 1
  for split, n in counts.items():
    for _ in range(n):
      colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
      p = problem(rng, split, colour, shape, pid)
      if p["image"]:
        image = Image.new("RGB", (size, size), (245, 245, 245))
        common.draw_shape(ImageDraw.Draw(image), shape, common.shape_box(rng, size),
                          common.COLOURS[colour])
        common.save(image, fs.join(root, split, str(pid), "image.png"), "PNG")
      problems[str(pid)] = p
      pid += 1
  common.write_json(fs.join(root, "problems.json"), problems)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  """A few hundred training problems by default (num_train // 8)."""
  return {"train": max(2, num_train // 8), "val": num_eval, "test": num_eval}


SET = common.DemoSet("science_qa", write, ((science_qa.ScienceQA, None),), _splits)
