"""Demo RSVQA-LR and RSVQA-HR, one set: LR_split_*_{questions,answers}.json with
Images_LR/<img_id>.tif and USGS_split_*_{questions,answers}.json with Data/<img_id>.png.

A tile shows buildings (red squares), water areas (blue circles) and maybe a road (a grey band);
each tile gets four questions: presence ("Is a road present?", "Is there a water area?"), comp
("Are there more buildings than water areas?"), LR rural_urban ("Is it a rural or an urban
area?": urban with 3+ buildings) or HR's numeric area (m2), and a numeric count ("How many
buildings are there?"); every tenth question is inactive, as some in the release.
"""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import rsvqa
from tools.demo_data import common
from tools.demo_data import mixed_scenes

QUESTIONS_PER_IMAGE = 4


def _yes(value: bool) -> str:
  return "yes" if value else "no"


def questions(rng: random.Random, release: str, buildings: int, water: int, road: bool):
  """[(type, question, answer)] of one tile."""
  presence = rng.choice([("presence", "Is a road present?", _yes(road)),
                         ("presence", "Is there a water area?", _yes(water > 0))])
  comp = ("comp", "Are there more buildings than water areas?", _yes(buildings > water))
  if release == "lr":
    fourth = ("rural_urban", "Is it a rural or an urban area?",
              "urban" if buildings >= 3 else "rural")
  else:
    fourth = ("area", "What is the area covered by buildings?", f"{buildings * 150}m2")
  return [presence, comp, fourth, ("count", "How many buildings are there?", str(buildings))]


def write_release(root: str, release: str, counts: dict[str, int], size: int,
                  rng: random.Random) -> None:
  info = rsvqa.RELEASES[release]
  img_id, qid = 0, 0
  for name in info["splits"].values():
    qs, ans = [], []
    for _ in range(max(1, counts[name] // QUESTIONS_PER_IMAGE)):
      buildings, water, road = rng.randint(0, 5), rng.randint(0, 3), rng.random() < 0.5
      items = ([mixed_scenes.Item("red", "square")] * buildings
               + [mixed_scenes.Item("blue", "circle")] * water)
      image = mixed_scenes.draw(rng, size, items, background=(120, 160, 90), road=road)
      fmt = "TIFF" if info["suffix"] == ".tif" else "PNG"
      common.save(image, fs.join(root, info["images"], f"{img_id}{info['suffix']}"), fmt)
      for qtype, text, answer in questions(rng, release, buildings, water, road):
        active = qid % 10 != 9
        qs.append({"id": qid, "date_added": 0, "img_id": img_id, "people_id": 0, "type": qtype,
                   "question": text, "answers_ids": [qid], "active": active})
        ans.append({"id": qid, "date_added": 0, "question_id": qid, "people_id": 0,
                    "answer": answer, "active": active})
        qid += 1
      img_id += 1
    prefix = fs.join(root, f"{info['prefix']}_split_{name}")
    common.write_json(f"{prefix}_questions.json", {"questions": qs})
    common.write_json(f"{prefix}_answers.json", {"answers": ans})


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts: questions per split name of the release files (train, val, test, test_phili)."""
  rng = random.Random(seed)
  for release in ("lr", "hr"):
    write_release(root, release, counts, size, rng)
  return root


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  """A few hundred training questions by default (num_train // 4, on a quarter as many tiles)."""
  return {"train": max(QUESTIONS_PER_IMAGE, num_train // 4), "val": num_eval, "test": num_eval,
          "test_phili": num_eval}


SET = common.DemoSet("rsvqa", write, ((rsvqa.RSVQA, "lr_nonum"), (rsvqa.RSVQA, "hr_nonum")),
                     _splits)
