"""Demo ST-VQA Task 3: train_task_3.json, test_task_3.json, train_images/<source>/..., COCO's
train2014/ (the COCO-Text subset) and test_task3_images/. A colour word written large ("Red",
capitalised as scene text often is); "what word is written?". The train questions are split into
train and the builder's hash pseudo-val (stvqa.is_val), with exactly the counts asked for."""
import itertools
import random

from big_paligemma import fs
from big_paligemma.data.datasets import stvqa
from tools.demo_data import common
from tools.demo_data import scenes


def _train_paths(num_train: int, num_val: int):
  """num_train + num_val file paths (imagenet/ and coco-text/), num_val of them pseudo-val."""
  want = {False: num_train, True: num_val}
  for i in itertools.count():
    if not any(want.values()):
      return
    path = (f"coco-text/COCO_train2014_{i:012d}.jpg" if i % 3 == 0 else
            f"imagenet/demo_{i:06d}.jpg")
    if want[stvqa.is_val(path)]:
      want[stvqa.is_val(path)] -= 1
      yield path


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  sources = {"train": list(_train_paths(counts["train"], counts["val"])),
             "test": [f"vizwiz/demo_{i:06d}.jpg" for i in range(counts["test"])]}
  qid = 1
  for source, paths in sources.items():
    data = []
    for path in paths:
      word = rng.choice(sorted(common.COLOURS))
      text = word.capitalize() if rng.random() < 0.5 else word.upper()
      common.save(scenes.text_image(size, text), stvqa.image_path(root, source, path), "JPEG")
      entry = {"question_id": qid, "file_path": path, "question": "what word is written?",
               "dataset": path.split("/")[0], "file_name": fs.basename(path)}
      if source == "train":
        entry["answers"] = [text]
      data.append(entry)
      qid += 1
    common.write_json(fs.join(root, f"{source}_task_3.json"),
                      {"dataset_name": "ST-VQA", "task_name": "Task 3", "data": data})
  return root


SET = common.DemoSet("stvqa", write, ((stvqa.STVQA, None),), splits=scenes.small_splits)
