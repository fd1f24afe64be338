"""Scenes of several different small shapes for the counting-and-others demo sets (scenes.py
draws the VQA sets' scenes of like shapes): up to 9 shapes, each in its own cell of a 3x3 grid (so
none overlap and each is counted)."""
import dataclasses
import random

from PIL import Image
from PIL import ImageDraw

from tools.demo_data import common

CELLS = 9


@dataclasses.dataclass(frozen=True)
class Item:
  colour: str
  shape: str


def random_items(rng: random.Random, n: int, colours=None, shapes=None) -> list[Item]:
  """n shapes of random colours (from `colours`) and kinds (from `shapes`)."""
  colours, shapes = sorted(colours or common.COLOURS), list(shapes or common.SHAPES)
  return [Item(rng.choice(colours), rng.choice(shapes)) for _ in range(n)]


def draw(rng: random.Random, size: int, items: list[Item], background=(245, 245, 245),
         road: bool = False) -> Image.Image:
  """The items in distinct random cells of a 3x3 grid (each filling most of its cell); `road` adds
  a grey horizontal band across the middle row's top edge."""
  if len(items) > CELLS:
    raise ValueError(f"A scene holds at most {CELLS} shapes, got {len(items)}.")
  image = Image.new("RGB", (size, size), background)
  pen = ImageDraw.Draw(image)
  if road:
    pen.rectangle((0, size // 3 - 2, size, size // 3 + 1), fill=(128, 128, 128))
  cell = size // 3
  for item, index in zip(items, rng.sample(range(CELLS), len(items))):
    x0, y0 = (index % 3) * cell + 2, (index // 3) * cell + 3
    common.draw_shape(pen, item.shape, (x0, y0, x0 + cell - 5, y0 + cell - 6),
                      common.COLOURS[item.colour])
  return image
