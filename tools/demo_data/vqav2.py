"""Demo VQAv2: v2_OpenEnded_mscoco_{train2014,val2014,test2015,test-dev2015}_questions.json,
v2_mscoco_{train2014,val2014}_annotations.json and COCO_<folder>_<image id>.jpg. Scenes of 1-3
like shapes (scenes.py); per image a colour ("other"), a count ("number") and a yes/no question,
10 answers each (8 right); test-dev asks every other test question."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import vqav2
from tools.demo_data import common
from tools.demo_data import scenes

FOLDERS = {"train": "train2014", "val": "val2014", "test": "test2015"}


def questions(scene: scenes.Scene, rng: random.Random) -> list[tuple]:
  """(question, answer_type, question_type, answer, other answers) of a scene."""
  colour = rng.choice(sorted(common.COLOURS))
  return [("what color are the shapes?", "other", "what color are the", scene.colour,
           sorted(common.COLOURS)),
          ("how many shapes are there?", "number", "how many", str(scene.count), "123"),
          (f"is there a {colour} shape?", "yes/no", "is there a",
           "yes" if colour == scene.colour else "no", ("yes", "no"))]


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  image_id = 1
  for split, n in counts.items():
    folder, rows, annotations = FOLDERS[split], [], []
    for _ in range(n):
      scene = scenes.random_scene(rng)
      common.save(scenes.draw_scene(scene, size, rng),
                  fs.join(root, folder, f"COCO_{folder}_{image_id:012d}.jpg"), "JPEG")
      for k, (question, atype, qtype, answer, others) in enumerate(questions(scene, rng)):
        qid = 10 * image_id + k
        rows.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append({
            "question_id": qid, "image_id": image_id, "question_type": qtype,
            "answer_type": atype, "multiple_choice_answer": answer, "answers": [
                {"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                for j, a in enumerate(scenes.answers(rng, answer, others))]})
      image_id += 1
    subsets = {folder: rows, "test-dev2015": rows[::2]} if split == "test" else {folder: rows}
    for name, subset in subsets.items():
      common.write_json(fs.join(root, f"v2_OpenEnded_mscoco_{name}_questions.json"),
                        {"questions": subset, "data_subtype": name})
    if split != "test":
      common.write_json(fs.join(root, f"v2_mscoco_{folder}_annotations.json"),
                        {"annotations": annotations})
  return root


SET = common.DemoSet("vqav2", write, ((vqav2.VQAv2, None),), splits=scenes.small_splits)
