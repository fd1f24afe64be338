"""Demo ChartQA: {train,val,test}/{split}_{human,augmented}.json and png/. 1-3 coloured bars;
human: "what is the highest value?" (10..50 in steps of 10), augmented: "how many bars are
there?" (1..3)."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import chartqa
from tools.demo_data import common


def chart_image(size: int, values: list[int], colours: list[str]) -> Image.Image:
  """Bars of height `value` percent of the image, left to right, on white with a base line."""
  image = Image.new("RGB", (size, size), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  slot = size // 3
  base = size - 4
  for k, (value, colour) in enumerate(zip(values, colours)):
    x0 = k * slot + slot // 6
    top = base - round(value / 60 * (size - 8))
    draw.rectangle((x0, top, x0 + slot * 2 // 3, base), fill=common.COLOURS[colour])
  draw.line((0, base + 1, size, base + 1), fill=(0, 0, 0), width=1)
  return image


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """ChartQA files: each chart has a human question (highest value) and an augmented one
  (number of bars)."""
  rng = random.Random(seed)
  for split, n in counts.items():
    human, augmented = [], []
    for i in range(n):
      num = rng.randint(1, 3)
      values = [rng.choice(common.BAR_VALUES) for _ in range(num)]
      colours = rng.sample(sorted(common.COLOURS), num)
      name = f"demo_{split}_{i:05d}.png"
      common.save(chart_image(size, values, colours), fs.join(root, split, "png", name), "PNG")
      human.append({"imgname": name, "query": "what is the highest value?",
                    "label": str(max(values))})
      augmented.append({"imgname": name, "query": "how many bars are there?", "label": str(num)})
    common.write_json(fs.join(root, split, f"{split}_human.json"), human)
    common.write_json(fs.join(root, split, f"{split}_augmented.json"), augmented)
  return root


SET = common.DemoSet("chartqa", write,
                     ((chartqa.ChartQA, "human"), (chartqa.ChartQA, "augmented")))
