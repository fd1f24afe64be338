"""Demo SP-DocVQA v1.0: {train,val}_v1.0_withQT.json, test_v1.0.json (no answers) and
documents/<ucsf_id>_<page>.png. A white page with grey text lines and one big coloured shape; the
question asks its colour or its shape (one-word answers)."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import docvqa
from tools.demo_data import common


def document_image(rng: random.Random, size: int, colour: str, shape: str) -> Image.Image:
  image = Image.new("RGB", (size, size), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  for y in range(3, size, max(4, size // 10)):  # Text lines.
    draw.rectangle((3, y, rng.randint(size // 2, size - 3), y + 1), fill=(150, 150, 150))
  common.draw_shape(draw, shape, common.shape_box(rng, size), common.COLOURS[colour])
  return image


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """SP-DocVQA v1.0 files: one question per page, alternating colour / shape questions."""
  rng = random.Random(seed)
  files = {"train": "train_v1.0_withQT.json", "val": "val_v1.0_withQT.json",
           "test": "test_v1.0.json"}
  qid = 1
  for split, n in counts.items():
    data = []
    for i in range(n):
      colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
      ucsf_id, page = f"{split[:2]}{i:06d}", 1
      path = f"documents/{ucsf_id}_{page}.png"
      common.save(document_image(rng, size, colour, shape), fs.join(root, path), "PNG")
      question, answer = (("what color is the shape?", colour) if i % 2 == 0 else
                          ("what shape is drawn?", shape))
      entry = {"questionId": qid, "question": question, "image": path, "docId": qid,
               "ucsf_document_id": ucsf_id, "ucsf_document_page_no": str(page),
               "data_split": split}
      if split != "test":
        entry["answers"] = [answer]
        entry["question_types"] = ["figure/diagram"]
      data.append(entry)
      qid += 1
    common.write_json(fs.join(root, files[split]), {
        "dataset_name": "SP-DocVQA", "dataset_split": split, "dataset_version": "1.0",
        "data": data})
  return root


SET = common.DemoSet("docvqa", write, ((docvqa.DocVQA, None),))
