"""Demo A-OKVQA v1.0: aokvqa_v1p0_{train,val,test}.json and COCO 2017 <split>2017/<id>.jpg. One
shape per image; a colour or a kind question with 4 choices, 10 direct answers and 3 rationales
(none on test)."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import aokvqa
from tools.demo_data import common
from tools.demo_data import scenes

KINDS = common.SHAPES + ("star",)


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  image_id = 1
  for split, n in counts.items():
    entries = []
    for i in range(n):
      scene = scenes.random_scene(rng, max_count=1)
      common.save(scenes.draw_scene(scene, size, rng),
                  fs.join(root, f"{split}2017", f"{image_id:012d}.jpg"), "JPEG")
      question, answer, choices = (
          ("what color is the shape?", scene.colour, sorted(common.COLOURS)) if i % 2 == 0
          else ("what kind of shape is it?", scene.shape, list(KINDS)))
      rng.shuffle(choices)
      entry = {"split": split, "image_id": image_id, "question_id": f"demo{image_id:06d}",
               "question": question, "choices": choices, "difficult_direct_answer": False}
      if split != "test":
        entry.update(correct_choice_idx=choices.index(answer),
                     direct_answers=scenes.answers(rng, answer, choices),
                     rationales=[f"The shape is {answer}."] * 3)
      entries.append(entry)
      image_id += 1
    common.write_json(fs.join(root, f"aokvqa_v1p0_{split}.json"), entries)
  return root


SET = common.DemoSet("aokvqa", write, ((aokvqa.AOKVQA, None),), splits=scenes.small_splits)
