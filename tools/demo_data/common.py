"""What every demo set shares: colours, shapes, file helpers, and the DemoSet record."""
import dataclasses
import json
import random
from typing import Callable

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs

COLOURS = {"red": (220, 30, 30), "blue": (30, 70, 220), "green": (30, 170, 50),
           "yellow": (235, 200, 20)}
SHAPES = ("square", "circle", "triangle")
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15)}
BAR_VALUES = (10, 20, 30, 40, 50)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill) -> None:
  """Draws a filled square, circle or triangle inside box (x0, y0, x1, y1)."""
  x0, y0, x1, y1 = box
  if shape == "square":
    draw.rectangle(box, fill=fill)
  elif shape == "circle":
    draw.ellipse(box, fill=fill)
  elif shape == "triangle":
    draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=fill)
  else:
    raise ValueError(f"Unknown shape {shape!r}; known: {SHAPES}.")


def save(image: Image.Image, path: str, fmt: str) -> None:
  with fs.atomic_writer(path) as f:
    image.save(f, format=fmt)


def write_json(path: str, obj) -> None:
  fs.write_text(path, json.dumps(obj))


def write_jsonl(path: str, rows: list) -> None:
  """One JSON object per line (UTF-8, non-ASCII kept)."""
  fs.write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def shape_box(rng: random.Random, size: int) -> tuple[int, int, int, int]:
  side = rng.randint(size * 4 // 10, size * 6 // 10)
  x0, y0 = rng.randint(0, size - side - 1), rng.randint(0, size - side - 1)
  return (x0, y0, x0 + side, y0 + side)


def default_splits(num_train: int, num_eval: int) -> dict[str, int]:
  """{"train": num_train, "val": num_eval, "test": num_eval}."""
  return {"train": num_train, "val": num_eval, "test": num_eval}


@dataclasses.dataclass(frozen=True)
class DemoSet:
  """One demo dataset: `write(root, counts, size, seed)` writes the benchmark's official files
  under `root` (counts: {official split name: examples}); `builds` are the (TFDS builder class,
  config name or None) that `tools.make_demo_data` builds from them with `--manual_dir root`;
  `splits(num_train, num_eval)` -> counts."""
  name: str
  write: Callable[[str, dict[str, int], int, int], str]
  builds: tuple[tuple[type, str | None], ...]
  splits: Callable[[int, int], dict[str, int]] = default_splits
