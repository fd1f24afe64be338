"""Demo RICO screens with Screen2Words and Widget Captioning in their official layouts (one set:
both annotate RICO screens): combined/<screen>.jpg and combined/<screen>.json (the view
hierarchy, bounds on the 1440x2560 canvas), screen_summaries.csv and split/<split>_screens.txt
(Screen2Words), widget_captions.csv and split/<split>.txt (Widget Captioning).

A screen (9:16) has a coloured top bar and two buttons (coloured shapes) below it; summaries name
the bar and the buttons, each button's captions name its colour and shape."""
import csv
import io
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import screen2words
from big_paligemma.data.datasets import widgetcap
from tools.demo_data import common


def summaries(bar: str, buttons: list[tuple[str, str]]) -> list[str]:
  """5 short summaries (Screen2Words' text_len is 24 tokens)."""
  (c1, s1), (c2, s2) = buttons
  return [f"{bar} bar and two buttons", f"{c1} {s1} under a {bar} bar",
          f"{c1} {s1} and {c2} {s2}", f"screen with a {bar} bar", f"{c1} and {c2} buttons"]


def _node(bounds, children=()):
  return {"bounds": [int(v) for v in bounds], "children": list(children), "class": "View"}


def screen(rng: random.Random, height: int):
  """(image, view hierarchy, bar colour, [(colour, shape, node id, pixel box)])."""
  width = height * 9 // 16
  scale = widgetcap.RICO_CANVAS_HEIGHT / height  # pixel -> canvas coordinate
  image = Image.new("RGB", (width, height), common.BACKGROUNDS["white"])
  draw = ImageDraw.Draw(image)
  bar = rng.choice(sorted(common.COLOURS))
  draw.rectangle((0, 0, width - 1, height // 8), fill=common.COLOURS[bar])
  side = width * 4 // 10
  buttons, nodes = [], [_node((0, 0, width * scale, height // 8 * scale))]
  for i, y0 in enumerate((height // 4, height * 5 // 8)):
    colour, shape = rng.choice(sorted(common.COLOURS)), rng.choice(common.SHAPES)
    x0 = rng.randint(0, width - side - 1)
    box = (x0, y0, x0 + side, y0 + side)
    common.draw_shape(draw, shape, box, common.COLOURS[colour])
    buttons.append((colour, shape, f"0.{i + 1}", box))
    nodes.append(_node([v * scale for v in box]))
  hierarchy = {"activity_name": "demo", "activity": {"root": _node(
      (0, 0, width * scale, height * scale), nodes)}}
  return image, hierarchy, bar, buttons


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  """counts {"train", "dev", "test"}: screens (ids from 1) of each split."""
  rng, screen_id = random.Random(seed), 0
  summary_rows, widget_rows = [], []
  fs.makedirs(fs.join(root, "split"))
  for split, n in counts.items():
    ids = []
    for _ in range(n):
      screen_id += 1
      image, hierarchy, bar, buttons = screen(rng, size)
      common.save(image, fs.join(root, "combined", f"{screen_id}.jpg"), "JPEG")
      common.write_json(fs.join(root, "combined", f"{screen_id}.json"), hierarchy)
      summary_rows += [{"screenId": screen_id, "summary": s}
                       for s in summaries(bar, [b[:2] for b in buttons])]
      widget_rows += [{"screenId": screen_id, "nodeId": node,
                       "captions": f"{colour} {shape}|tap the {colour} {shape}"}
                      for colour, shape, node, _ in buttons]
      ids.append(str(screen_id))
    for name in (f"{split}_screens.txt", f"{split}.txt"):
      fs.write_text(fs.join(root, "split", name), "\n".join(ids) + "\n")
  _write_csv(fs.join(root, "screen_summaries.csv"), ["screenId", "summary"], summary_rows)
  _write_csv(fs.join(root, "widget_captions.csv"), ["screenId", "nodeId", "captions"],
             widget_rows)
  return root


def _write_csv(path: str, fields: list[str], rows: list[dict]) -> None:
  text = io.StringIO(newline="")
  writer = csv.DictWriter(text, fieldnames=fields)
  writer.writeheader()
  writer.writerows(rows)
  fs.write_text(path, text.getvalue())


def _splits(num_train: int, num_eval: int) -> dict[str, int]:
  return {"train": num_train, "dev": num_eval, "test": num_eval}


SET = common.DemoSet("rico", write, ((screen2words.Screen2Words, None),
                                     (widgetcap.Widgetcap, None)), splits=_splits)
