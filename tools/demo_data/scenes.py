"""What the VQA demo sets share: scenes of 1-3 like shapes, drawn text, answer lists, split sizes.

A scene is `count` shapes of one colour and kind on a plain background, each in its own cell of a
2x2 grid; questions about it (colour, kind, count, yes/no) are answerable from the pixels.
"""
import dataclasses
import random

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from tools.demo_data import common

COUNT_WORDS = ("zero", "one", "two", "three")


@dataclasses.dataclass(frozen=True)
class Scene:
  colour: str
  shape: str
  count: int
  background: str = "white"


def random_scene(rng: random.Random, max_count: int = 3) -> Scene:
  return Scene(rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES),
               rng.randint(1, max_count), rng.choice(sorted(common.BACKGROUNDS)))


def draw_scene(scene: Scene, size: int, rng: random.Random) -> Image.Image:
  """The scene as a size x size RGB image: its shapes in `count` random cells of a 2x2 grid."""
  image = Image.new("RGB", (size, size), common.BACKGROUNDS[scene.background])
  draw = ImageDraw.Draw(image)
  half, pad = size // 2, max(1, size // 16)
  for cell in rng.sample(range(4), scene.count):
    x0, y0 = (cell % 2) * half, (cell // 2) * half
    common.draw_shape(draw, scene.shape, (x0 + pad, y0 + pad, x0 + half - pad, y0 + half - pad),
                      common.COLOURS[scene.colour])
  return image


def draw_text(image: Image.Image, text: str, box: tuple[int, int, int, int],
              fill=(15, 15, 15)) -> Image.Image:
  """`text` in Pillow's built-in font, as large as fits `box` (x0, y0, x1, y1), centred in it."""
  draw = ImageDraw.Draw(image)
  x0, y0, x1, y1 = box
  for size in range(max(4, y1 - y0), 3, -1):
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    if right - left <= x1 - x0 and bottom - top <= y1 - y0:
      break
  width, height = right - left, bottom - top
  position = (x0 + (x1 - x0 - width) // 2 - left, y0 + (y1 - y0 - height) // 2 - top)
  draw.text(position, text, fill=fill, font=font)
  return image


def text_image(size: int, text: str, background=(245, 245, 245)) -> Image.Image:
  """`text` written large across a plain size x size image."""
  image = Image.new("RGB", (size, size), background)
  return draw_text(image, text, (2, size // 4, size - 2, size * 3 // 4))


def answers(rng: random.Random, answer: str, others, n: int = 10, noise: int = 2) -> list[str]:
  """n human-style answers: `answer` except `noise` of them drawn from `others`."""
  out = [answer] * (n - noise) + [rng.choice(list(others)) for _ in range(noise)]
  rng.shuffle(out)
  return out


def small_splits(num_train: int, num_eval: int) -> dict[str, int]:
  """A few hundred training images by default: {"train": num_train // 8 (at least 2), "val":
  num_eval, "test": num_eval}."""
  return {"train": max(2, num_train // 8), "val": num_eval, "test": num_eval}
