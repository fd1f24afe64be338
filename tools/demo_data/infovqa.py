"""Demo InfographicVQA v1.0: infographicsVQA_{train_v1.0,val_v1.0_withQT,test_v1.0}.json and
infographicsvqa_images/. Two coloured bars above a number; "what number is shown?" or "which
colors are the bars?" (a multi-span answer "red, blue", left to right)."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import infovqa
from tools.demo_data import common
from tools.demo_data import scenes

FILES = {"train": "infographicsVQA_train_v1.0.json", "val": "infographicsVQA_val_v1.0_withQT.json",
         "test": "infographicsVQA_test_v1.0.json"}


def infographic(size: int, colours: list[str], number: str) -> Image.Image:
  image = Image.new("RGB", (size, size), (250, 250, 250))
  draw = ImageDraw.Draw(image)
  for k, colour in enumerate(colours):
    x0 = size // 8 + k * size // 2
    draw.rectangle((x0, size // 8, x0 + size // 4, size // 2), fill=common.COLOURS[colour])
  return scenes.draw_text(image, number, (2, size * 9 // 16, size - 2, size - 2))


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  qid = 1
  for split, n in counts.items():
    data = []
    for i in range(n):
      colours, number = rng.sample(sorted(common.COLOURS), 2), str(rng.randint(10, 99))
      name = f"demo_{qid}.jpeg"
      common.save(infographic(size, colours, number),
                  fs.join(root, infovqa.IMAGE_DIR, name), "JPEG")
      question, answer = (("what number is shown?", number) if i % 2 == 0 else
                          ("which colors are the bars?", ", ".join(colours)))
      entry = {"questionId": qid, "question": question, "image_local_name": name,
               "image_url": f"https://demo/{name}", "data_split": split}
      if split != "test":
        entry["answers"] = [answer]
      data.append(entry)
      qid += 1
    common.write_json(fs.join(root, FILES[split]), {
        "dataset_name": "infographicVQA", "dataset_split": split, "data": data})
  return root


SET = common.DemoSet("infovqa", write, ((infovqa.InfoVQA, None),), splits=scenes.small_splits)
