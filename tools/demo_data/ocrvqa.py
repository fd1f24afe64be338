"""Demo OCR-VQA: dataset.json and images/<ASIN>.jpg. A book cover whose colour is its genre and
whose title is a two-digit number; questions "What is the title of this book?", "What is the
genre of this book?" and "Is this a <genre> book?" (yes/no)."""
import random

from big_paligemma import fs
from big_paligemma.data.datasets import ocrvqa
from tools.demo_data import common
from tools.demo_data import scenes

GENRES = {"red": "Romance", "blue": "Travel", "green": "Cookbooks", "yellow": "Humor"}
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng = random.Random(seed)
  books = {}
  for split, n in counts.items():
    for _ in range(n):
      asin = f"D{len(books):09d}"
      colour, title = rng.choice(sorted(GENRES)), str(rng.randint(10, 99))
      common.save(scenes.text_image(size, title, background=common.COLOURS[colour]),
                  fs.join(root, "images", f"{asin}.jpg"), "JPEG")
      asked = rng.choice(sorted(GENRES.values()))
      books[asin] = {
          "imageURL": f"http://demo/{asin}.jpg", "title": title, "authorName": "Demo",
          "genre": GENRES[colour], "split": SPLIT_CODES[split],
          "questions": ["What is the title of this book?", "What is the genre of this book?",
                        f"Is this a {asked} book?"],
          "answers": [title, GENRES[colour], "Yes" if asked == GENRES[colour] else "No"]}
  common.write_json(fs.join(root, "dataset.json"), books)
  return root


SET = common.DemoSet("ocrvqa", write, ((ocrvqa.OCRVQA, None),), splits=scenes.small_splits)
