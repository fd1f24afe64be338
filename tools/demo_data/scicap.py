"""Demo SciCap in its official layout (config first_sentence_subfig_no): SciCap-Caption-All/
<split>/<figure>.json (the four caption forms), SciCap-No-Subfig-Img/<split>/<figure>.png and
List-of-Files-for-Each-Experiments/First-Sentence/No-Subfig/<split>/file_idx.json. A line chart,
rising or falling, of one colour; the caption says which."""
import random

from PIL import Image
from PIL import ImageDraw

from big_paligemma import fs
from big_paligemma.data.datasets import scicap
from tools.demo_data import common

_LISTS = fs.join("List-of-Files-for-Each-Experiments", "First-Sentence", "No-Subfig")


def caption(colour: str, trend: str) -> str:
  return f"figure 1 : the {colour} curve {trend} with the number of epochs ."


def annotation(text: str) -> dict:
  """The official JSON of one figure (every caption form = `text`)."""
  return {"0-originally-extracted": text.capitalize(),
          "1-lowercase-and-token-and-remove-figure-index": {"caption": text.replace(
              "figure 1 : ", "")},
          "2-normalized": {"2-1-basic-num": {"caption": text},
                           "2-2-advanced-euqation-bracket": {"caption": text}}}


def write(root: str, counts: dict[str, int], size: int, seed: int) -> str:
  rng, n_figures = random.Random(seed), 0
  for split, n in counts.items():
    names = []
    for _ in range(n):
      n_figures += 1
      colour, trend = rng.choice(sorted(common.COLOURS)), rng.choice(("increases", "decreases"))
      image = Image.new("RGB", (size, size), common.BACKGROUNDS["white"])
      draw = ImageDraw.Draw(image)
      draw.line([(4, 4), (4, size - 5), (size - 5, size - 5)], fill=(0, 0, 0))
      ends = [(6, size - 8), (size - 6, 8)] if trend == "increases" else [(6, 8),
                                                                          (size - 6, size - 8)]
      draw.line(ends, fill=common.COLOURS[colour], width=3)
      figure = f"{1000 + n_figures}.{n_figures:05d}-Figure1-1"
      common.save(image, fs.join(root, "SciCap-No-Subfig-Img", split, f"{figure}.png"),
                  "PNG")
      common.write_json(fs.join(root, "SciCap-Caption-All", split, f"{figure}.json"),
                        annotation(caption(colour, trend)))
      names.append(f"{figure}.png")
    common.write_json(fs.join(root, _LISTS, split, "file_idx.json"), names)
  return root


SET = common.DemoSet("scicap", write, ((scicap.Scicap, "first_sentence_subfig_no"),))
