"""Demo GQA 1.2 and xGQA: {train,val,testdev}_balanced_questions.json, images/<imageId>.jpg, and
xGQA's annotations/zero_shot/testdev_balanced_questions_<lang>.json (the testdev questions in
8 languages, English answers). Two shapes side by side; "what color is the left/right shape?"."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import gqa
from big_paligemma.data.datasets import xgqa
from tools.demo_data import common

SPLITS = {"train": "train_balanced", "val": "val_balanced", "test": "testdev_balanced"}
# The two questions in xGQA's languages.
QUESTIONS = {
    "left": {"en": "what color is the left shape?", "de": "welche Farbe hat die linke Form?",
             "pt": "qual é a cor da forma da esquerda?", "id": "apa warna bentuk di kiri?",
             "ru": "какого цвета левая фигура?", "zh": "左边的形状是什么颜色？",
             "ko": "왼쪽 도형은 무슨 색입니까?", "bn": "বাম দিকের আকৃতির রং কী?"},
    "right": {"en": "what color is the right shape?", "de": "welche Farbe hat die rechte Form?",
              "pt": "qual é a cor da forma da direita?", "id": "apa warna bentuk di kanan?",
              "ru": "какого цвета правая фигура?", "zh": "右边的形状是什么颜色？",
              "ko": "오른쪽 도형은 무슨 색입니까?", "bn": "ডান দিকের আকৃতির রং কী?"},
}


def pair_image(size: int, colours: dict[str, str], shapes: dict[str, str]) -> Image.Image:
  image = Image.new("RGB", (size, size), (245, 245, 245))
  draw = ImageDraw.Draw(image)
  half, pad = size // 2, max(1, size // 10)
  for k, side in enumerate(("left", "right")):
    box = (k * half + pad, size // 4, (k + 1) * half - pad, size * 3 // 4)
    common.draw_shape(draw, shapes[side], box, common.COLOURS[colours[side]])
  return image


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  qid, testdev = 10_000_000, {}
  for split, n in counts.items():
    questions = {}
    for i in range(n):
      image_id = f"n{qid}"
      colours = dict(zip(("left", "right"), rng.sample(sorted(common.COLOURS), 2)))
      shapes = {side: rng.choice(common.SHAPES) for side in colours}
      common.save(pair_image(size, colours, shapes), fs.join(root, "images",
                                                                  f"{image_id}.jpg"), "JPEG")
      side = ("left", "right")[i % 2]
      questions[str(qid)] = {
          "imageId": image_id, "question": QUESTIONS[side]["en"], "answer": colours[side],
          "fullAnswer": f"The {side} shape is {colours[side]}.", "isBalanced": True}
      if split == "test":
        testdev[str(qid)] = (image_id, side, colours[side])
      qid += 1
    common.write_json(fs.join(root, f"{SPLITS[split]}_questions.json"), questions)
  for lang in xgqa.LANGUAGES:
    common.write_json(xgqa.annotation_path(root, lang), {
        q: {"imageId": image_id, "question": QUESTIONS[side][lang], "answer": answer}
        for q, (image_id, side, answer) in testdev.items()})
  return root


SET = common.DemoSet("gqa", write, ((gqa.GQA, None), (xgqa.XGQA, None)))
