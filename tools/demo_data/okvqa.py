"""Demo OK-VQA v1.1: OpenEnded_mscoco_{train,val}2014_questions.json,
mscoco_{train,val}2014_annotations.json and COCO_<folder>_<image id>.jpg. One shape per image;
"what color is this?" (question type "three") or "what shape is this?" ("other"), 10 answers."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import okvqa
from tools.demo_data import common
from tools.demo_data import scenes

FOLDERS = {"train": "train2014", "val": "val2014"}


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  image_id = 1
  for split, n in counts.items():
    folder, rows, annotations = FOLDERS[split], [], []
    for i in range(n):
      scene = scenes.random_scene(rng, max_count=1)
      common.save(scenes.draw_scene(scene, size, rng),
                  fs.join(root, folder, f"COCO_{folder}_{image_id:012d}.jpg"), "JPEG")
      question, qtype, answer, others = (
          ("what color is this?", "three", scene.colour, sorted(common.COLOURS)) if i % 2 == 0
          else ("what shape is this?", "other", scene.shape, common.SHAPES))
      rows.append({"image_id": image_id, "question": question, "question_id": image_id})
      annotations.append({
          "question_id": image_id, "image_id": image_id, "question_type": qtype,
          "answer_type": "other", "confidence": 3, "answers": [
              {"answer_id": j + 1, "raw_answer": a, "answer": a, "answer_confidence": "yes"}
              for j, a in enumerate(scenes.answers(rng, answer, others))]})
      image_id += 1
    common.write_json(fs.join(root, f"OpenEnded_mscoco_{folder}_questions.json"),
                      {"questions": rows})
    common.write_json(fs.join(root, f"mscoco_{folder}_annotations.json"),
                      {"annotations": annotations})
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  return {"train": scenes.small_splits(num_train, num_eval)["train"], "val": num_eval}


SET = common.DemoSet("okvqa", write, ((okvqa.OKVQA, None),), splits=_splits)
