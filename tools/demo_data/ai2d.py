"""Demo AI2D: ai2d/{images,questions,annotations}/, ai2d_test_ids.csv and the label font
DMSans-Regular.ttf (here Pillow's built-in font). A diagram of one shape with a text box beside
it; "which shape is drawn?" (4 choices) or, with abcLabel, "which letter labels the shape?" (the
builder writes the box's replacement letter over its text)."""
import random

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from big_paligemma import fs
from big_paligemma.data.datasets import ai2d
from tools.demo_data import common
from tools.demo_data import scenes

KINDS = common.SHAPES + ("star",)
LETTERS = ("A", "B", "C", "D")


def diagram(size: int, colour: str, shape: str) -> tuple[Image.Image, list[list[int]]]:
  """The diagram and its text box [[x0, y0], [x1, y1]] (holding grey placeholder text)."""
  image = Image.new("RGB", (size, size), (255, 255, 255))
  box = (size // 8, size // 8, size * 5 // 8, size * 5 // 8)
  common.draw_shape(ImageDraw.Draw(image), shape, box, common.COLOURS[colour])
  text_box = [[size * 5 // 8, size * 5 // 8], [size - 2, size - 2]]
  scenes.draw_text(image, "lbl", (*text_box[0], *text_box[1]), fill=(120, 120, 120))
  return image, text_box


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  image_index, test_ids = 0, []
  for split, n in counts.items():
    for i in range(n):
      name = f"{image_index}.png"
      colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
      image, text_box = diagram(size, colour, shape)
      common.save(image, fs.join(root, "ai2d", "images", name), "PNG")
      letter, abc = rng.choice(LETTERS), i % 2 == 1
      question, answer, choices = (("which letter labels the shape?", letter, list(LETTERS))
                                   if abc else ("which shape is drawn?", shape, list(KINDS)))
      rng.shuffle(choices)
      common.write_json(fs.join(root, "ai2d", "questions", f"{name}.json"), {
          "imageName": name, "questions": {question: {
              "abcLabel": abc, "answerTexts": choices, "correctAnswer": choices.index(answer),
              "questionId": f"{name}-0"}}})
      common.write_json(fs.join(root, "ai2d", "annotations", f"{name}.json"), {"text": {
          "T1": {"id": "T1", "rectangle": text_box, "replacementText": letter, "value": "lbl"}}})
      if split == "test":
        test_ids.append(str(image_index))
      image_index += 1
  fs.write_text(fs.join(root, ai2d.TEST_IDS_FILE), "".join(f"{i}\n" for i in test_ids))
  fs.write_bytes(fs.join(root, ai2d.FONT_FILE), ImageFont.load_default(size=10).font_bytes)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  return {"train": scenes.small_splits(num_train, num_eval)["train"], "test": num_eval}


SET = common.DemoSet("ai2d", write, ((ai2d.AI2D, None),), splits=_splits)
