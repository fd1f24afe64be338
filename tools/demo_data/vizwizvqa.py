"""Demo VizWiz-VQA: annotations/{train,val,test}.json and {train,val,test}/VizWiz_<split>_<n>.jpg.
One shape per photo, "what color is this?" with 10 answers; one photo in five shows no shape and
is "unanswerable" (answerable 0). Test has no answers."""
import random

from PIL import Image

from big_paligemma import fs
from big_paligemma.data.datasets import vizwizvqa
from tools.demo_data import common
from tools.demo_data import scenes


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  for split, n in counts.items():
    entries = []
    for i in range(n):
      name = f"VizWiz_{split}_{i:08d}.jpg"
      scene = scenes.random_scene(rng, max_count=1)
      blank = rng.random() < 0.2
      image = (Image.new("RGB", (size, size), common.BACKGROUNDS[scene.background]) if blank
               else scenes.draw_scene(scene, size, rng))
      common.save(image, fs.join(root, split, name), "JPEG")
      entry = {"image": name, "question": "what color is this?"}
      if split != "test":
        answer = "unanswerable" if blank else scene.colour
        entry.update(answerable=int(not blank), answer_type="other", answers=[
            {"answer": a, "answer_confidence": "yes"}
            for a in scenes.answers(rng, answer, sorted(common.COLOURS))])
      entries.append(entry)
    common.write_json(fs.join(root, "annotations", f"{split}.json"), entries)
  return root


SET = common.DemoSet("vizwizvqa", write, ((vizwizvqa.VizWizVQA, None),),
                     splits=scenes.small_splits)
