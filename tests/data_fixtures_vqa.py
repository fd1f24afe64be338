"""Tiny copies of the VQA transfers' official file layouts (see tests/data_fixtures.py).

Each `write_<dataset>(root)` writes a few solid-colour images (data_fixtures.colour(i) for the
i-th image it writes) and the annotation files in the official structure, and returns `root`.
Contents are fixed and stated here so tests can state expected values by hand.
"""
import csv
import os

from tests.data_fixtures import _write_image
from tests.data_fixtures import _write_json

ANSWERS_10 = ["white"] * 7 + ["blue"] * 3


def _answers(values, confidence="yes"):
  return [{"answer": a, "answer_confidence": confidence, "answer_id": i + 1}
          for i, a in enumerate(values)]


def write_vqav2(root: str) -> str:
  """Questions 9001, 9002 (train, image 9), 42001 (validation, image 42), 1001 (test and
  test-dev, image 1); images COCO_<folder>_<id:012d>.jpg in train2014/, val2014/, test2015/."""
  for i, (folder, image_id) in enumerate([("train2014", 9), ("val2014", 42), ("test2015", 1)]):
    _write_image(os.path.join(root, folder, f"COCO_{folder}_{image_id:012d}.jpg"), i, "JPEG")
  questions = {
      "train2014": [(9, "What color is the plate?", 9001), (9, "How many forks?", 9002)],
      "val2014": [(42, "Is it a dog?", 42001)],
      "test2015": [(1, "What is this?", 1001)], "test-dev2015": [(1, "What is this?", 1001)]}
  for name, rows in questions.items():
    _write_json(os.path.join(root, f"v2_OpenEnded_mscoco_{name}_questions.json"), {
        "questions": [{"image_id": i, "question": q, "question_id": qid} for i, q, qid in rows],
        "data_subtype": name, "task_type": "Open-Ended"})
  annotations = {"train2014": [
      (9001, 9, "what color is the", "other", "white", ANSWERS_10, "yes"),
      (9002, 9, "how many", "number", "2", ["2"] * 9 + ["3"], "maybe")],
      "val2014": [(42001, 42, "is it a", "yes/no", "yes", ["yes"] * 10, "no")]}
  for name, rows in annotations.items():
    _write_json(os.path.join(root, f"v2_mscoco_{name}_annotations.json"), {"annotations": [
        {"question_id": qid, "image_id": i, "question_type": qt, "answer_type": at,
         "multiple_choice_answer": top, "answers": _answers(answers, confidence)}
        for qid, i, qt, at, top, answers, confidence in rows]})
  return root


def write_okvqa(root: str) -> str:
  """Questions 5001 (train, image 7, type "eight") and 6001 (val, image 8, type "one")."""
  for i, (folder, image_id) in enumerate([("train2014", 7), ("val2014", 8)]):
    _write_image(os.path.join(root, folder, f"COCO_{folder}_{image_id:012d}.jpg"), i, "JPEG")
  rows = {"train2014": (5001, 7, "What animal is this?", "eight", ["cat"] * 8 + ["kitty"] * 2),
          "val2014": (6001, 8, "What brand is it?", "one", ["ford"] * 10)}
  for name, (qid, image_id, question, qtype, answers) in rows.items():
    _write_json(os.path.join(root, f"OpenEnded_mscoco_{name}_questions.json"), {
        "questions": [{"image_id": image_id, "question": question, "question_id": qid}]})
    _write_json(os.path.join(root, f"mscoco_{name}_annotations.json"), {"annotations": [{
        "question_id": qid, "image_id": image_id, "question_type": qtype, "answer_type": "other",
        "confidence": 3, "answers": [
            {"answer_id": k + 1, "raw_answer": a.upper(), "answer": a,
             "answer_confidence": "yes" if k % 2 == 0 else "no"}
            for k, a in enumerate(answers)]}]})
  return root


def write_aokvqa(root: str) -> str:
  """One question per split: "22jbM6gDxdaMaunuzgrsBB" (train, image 299207), "b2nLkX" (val,
  image 461751), "tst0" (test, image 1; no answers)."""
  rows = [("train", 299207, "22jbM6gDxdaMaunuzgrsBB", "What is the man by the bags awaiting?",
           ["skateboard", "train", "delivery", "cab"], 3),
          ("val", 461751, "b2nLkX", "What is in the bowl?", ["rice", "soup", "fruit", "nuts"], 2),
          ("test", 1, "tst0", "Where is this?", ["park", "beach", "city", "farm"], None)]
  for i, (split, image_id, qid, question, choices, correct) in enumerate(rows):
    _write_image(os.path.join(root, f"{split}2017", f"{image_id:012d}.jpg"), i, "JPEG")
    entry = {"split": split, "image_id": image_id, "question_id": qid, "question": question,
             "choices": choices, "difficult_direct_answer": split == "val"}
    if correct is not None:
      entry.update(correct_choice_idx=correct, direct_answers=[choices[correct]] * 10,
                   rationales=["r1", "r2", "r3"])
    _write_json(os.path.join(root, f"aokvqa_v1p0_{split}.json"), [entry])
  return root


def _write_rotations(path: str, rotations: dict[str, str]) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["ImageID", "Subset", "OriginalURL", "Rotation"])
    for image_id, rotation in rotations.items():
      writer.writerow([image_id, "train", "http://x", rotation])


def write_textvqa(root: str) -> str:
  """Questions 34602 (train, image "0054c91397f2fe05", 12x8, listed rotated by 90 degrees),
  34603 (val, image "7a8f6e4c8b2d0001", rotation empty) and 40001 (test, image
  "f00d000000000001", 0 degrees, no answers)."""
  images = [("train_images", "0054c91397f2fe05", "90"), ("train_images", "7a8f6e4c8b2d0001", ""),
            ("test_images", "f00d000000000001", "0.0")]
  for i, (folder, image_id, _) in enumerate(images):
    _write_image(os.path.join(root, folder, f"{image_id}.jpg"), i, "JPEG")
  _write_rotations(os.path.join(root, "train_images", "rotation.csv"),
                   {image_id: r for folder, image_id, r in images if folder == "train_images"})
  _write_rotations(os.path.join(root, "test_images", "rotation.csv"),
                   {images[2][1]: images[2][2]})
  rows = {"train": (34602, "0054c91397f2fe05", "what brand is the bottle?", ["coke"] * 10),
          "val": (34603, "7a8f6e4c8b2d0001", "what number is shown?", ["7"] * 6 + ["seven"] * 4),
          "test": (40001, "f00d000000000001", "what does the sign say?", None)}
  for split, (qid, image_id, question, answers) in rows.items():
    entry = {"question": question, "image_id": image_id, "question_id": qid,
             "image_classes": ["Bottle"], "set_name": split}
    if answers is not None:
      entry["answers"] = answers
    _write_json(os.path.join(root, f"TextVQA_0.5.1_{split}.json"),
                {"dataset_type": split, "dataset_name": "textvqa", "data": [entry]})
  return root


GQA_QUESTIONS = {
    "train_balanced": {"02930152": ("n336443", "Is the sky dark?", "yes", "Yes, the sky is dark.")},
    "val_balanced": {"05451384": ("n336444", "What color is the car?", "red", "The car is red.")},
    "testdev_balanced": {"20968379": ("n288870", "Who wears the hat?", "man",
                                      "The man wears the hat.")},
}
XGQA_QUESTIONS = {"en": "Who wears the hat?", "de": "Wer trägt den Hut?"}


def write_gqa(root: str, xgqa_languages=("bn", "de", "en", "id", "ko", "pt", "ru", "zh")) -> str:
  """GQA_QUESTIONS in {split}_questions.json with images/<imageId>.jpg, and (xGQA) the testdev
  question in annotations/zero_shot/testdev_balanced_questions_<lang>.json for each of
  `xgqa_languages` (XGQA_QUESTIONS' text, else "q-<lang>"), answer "man"."""
  for i, (split, questions) in enumerate(GQA_QUESTIONS.items()):
    entries = {}
    for qid, (image_id, question, answer, full) in questions.items():
      _write_image(os.path.join(root, "images", f"{image_id}.jpg"), i, "JPEG")
      entries[qid] = {"imageId": image_id, "question": question, "answer": answer,
                      "fullAnswer": full, "isBalanced": True, "types": {"structural": "query"}}
    _write_json(os.path.join(root, f"{split}_questions.json"), entries)
  for lang in xgqa_languages:
    _write_json(os.path.join(root, "annotations", "zero_shot",
                             f"testdev_balanced_questions_{lang}.json"),
                {"20968379": {"imageId": "n288870", "answer": "man",
                              "question": XGQA_QUESTIONS.get(lang, f"q-{lang}")}})
  return root


def write_vizwizvqa(root: str) -> str:
  """VizWiz_train_00000000.jpg (train; one of its 10 answers is empty), VizWiz_val_00000123.jpg
  (val, unanswerable), VizWiz_test_00000007.jpg (test, no answers)."""
  rows = {"train": ("VizWiz_train_00000000.jpg", "What is this?", ["soap"] * 9 + [""], 1),
          "val": ("VizWiz_val_00000123.jpg", "What color?", ["unanswerable"] * 10, 0),
          "test": ("VizWiz_test_00000007.jpg", "Which can?", None, None)}
  for i, (split, (image, question, answers, answerable)) in enumerate(rows.items()):
    _write_image(os.path.join(root, split, image), i, "JPEG")
    entry = {"image": image, "question": question}
    if answers is not None:
      entry.update(answers=_answers(answers, "yes"), answerable=answerable, answer_type="other")
    _write_json(os.path.join(root, "annotations", f"{split}.json"), [entry])
  return root


def write_ai2d(root: str, font_bytes: bytes) -> str:
  """ai2d/ with diagrams 0.png (train: one plain question "0.png-0") and 1.png (test, listed in
  ai2d_test_ids.csv: one abcLabel question "1.png-0" whose text box T1 at (2, 1)-(10, 7) gets the
  label "A"); `font_bytes` is written as the DMSans font."""
  for i in range(2):
    _write_image(os.path.join(root, "ai2d", "images", f"{i}.png"), i, "PNG")
  questions = {0: ("Which part is green?", ["leaf", "root", "stem", "seed"], 0, False),
               1: ("Which label is the sun?", ["A", "B", "C", "D"], 0, True)}
  for i, (question, choices, correct, abc) in questions.items():
    _write_json(os.path.join(root, "ai2d", "questions", f"{i}.png.json"), {
        "imageName": f"{i}.png", "questions": {question: {
            "abcLabel": abc, "answerTexts": choices, "correctAnswer": correct,
            "questionId": f"{i}.png-0"}}})
    _write_json(os.path.join(root, "ai2d", "annotations", f"{i}.png.json"), {"text": {"T1": {
        "id": "T1", "rectangle": [[2, 1], [10, 7]], "replacementText": "A", "value": "sun"}}})
  with open(os.path.join(root, "ai2d_test_ids.csv"), "w") as f:
    f.write("1\n")
  with open(os.path.join(root, "DMSans-Regular.ttf"), "wb") as f:
    f.write(font_bytes)
  return root


STVQA_TRAIN = [(11, "coco-text/COCO_train2014_000000000057.jpg", "What brand?", ["Nike"]),
               (12, "imagenet/n0001_10.jpg", "What word?", ["STOP", "stop"]),
               (13, "iiit5k/a.png.jpg", "Which number?", ["5"])]


def write_stvqa(root: str) -> str:
  """train_task_3.json with STVQA_TRAIN (the second in the pseudo-val split; the COCO-Text image
  in train2014/, the others under train_images/), test_task_3.json with question 21 on
  test_task3_images/vizwiz/b.jpg."""
  for i, (_, file_path, _, _) in enumerate(STVQA_TRAIN):
    folder = "train2014" if file_path.startswith("coco-text/") else "train_images"
    _write_image(os.path.join(root, folder, file_path.replace("coco-text/", "")), i, "JPEG")
  _write_image(os.path.join(root, "test_task3_images", "vizwiz", "b.jpg"), 3, "JPEG")
  _write_json(os.path.join(root, "train_task_3.json"), {"dataset_name": "ST-VQA", "data": [
      {"question_id": qid, "file_path": path, "question": q, "answers": a,
       "dataset": path.split("/")[0], "file_name": os.path.basename(path)}
      for qid, path, q, a in STVQA_TRAIN]})
  _write_json(os.path.join(root, "test_task_3.json"), {"dataset_name": "ST-VQA", "data": [
      {"question_id": 21, "file_path": "vizwiz/b.jpg", "question": "What is it?",
       "dataset": "vizwiz"}]})
  return root


def write_infovqa(root: str) -> str:
  """Question 65718 (train, answer "cats, dogs"), 98213 (val, answers
  ["cats, dogs, fish", "pets"]) and 10001 (test, no answers); images infographicsvqa_images/
  <n>.jpeg."""
  rows = {"train": ("infographicsVQA_train_v1.0.json", 65718, "Which pets?", ["cats, dogs"]),
          "val": ("infographicsVQA_val_v1.0_withQT.json", 98213, "Which animals?",
                  ["cats, dogs, fish", "pets"]),
          "test": ("infographicsVQA_test_v1.0.json", 10001, "What year?", None)}
  for i, (split, (name, qid, question, answers)) in enumerate(rows.items()):
    _write_image(os.path.join(root, "infographicsvqa_images", f"{i}.jpeg"), i, "JPEG")
    entry = {"questionId": qid, "question": question, "image_local_name": f"{i}.jpeg",
             "image_url": "http://x", "ocr_output_file": f"{i}.json", "data_split": split}
    if answers is not None:
      entry["answers"] = answers
    _write_json(os.path.join(root, name), {"dataset_name": "infographicVQA",
                                           "dataset_split": split, "data": [entry]})
  return root


def write_ocrvqa(root: str) -> str:
  """dataset.json with books "0001" (train, .jpg, 2 questions), "0002" (val, .png image URL)
  and "0003" (test); images/<ASIN><extension>."""
  books = {"0001": ("http://a/x.jpg", 1, ["Who wrote this book?", "Is this a comic book?"],
                    ["Ann Lee", "No"]),
           "0002": ("http://a/y.png", 2, ["What is the title of this book?"], ["Big Cats"]),
           "0003": ("http://a/z.jpg", 3, ["What type of book is this?"], ["Travel"])}
  for i, (asin, (url, _, _, _)) in enumerate(books.items()):
    fmt = "PNG" if url.endswith(".png") else "JPEG"
    _write_image(os.path.join(root, "images", asin + os.path.splitext(url)[1]), i, fmt)
  _write_json(os.path.join(root, "dataset.json"), {
      asin: {"imageURL": url, "questions": q, "answers": a, "title": "t", "authorName": "a",
             "genre": "g", "split": split} for asin, (url, split, q, a) in books.items()})
  return root
