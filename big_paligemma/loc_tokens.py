"""PaliGemma's `<locNNNN>` / `<segNNN>` vocabulary, and box text <-> normalised boxes, in plain
Python (no TensorFlow). The one home of these constants (tokenizer, pp, segmentation, presets).

A box is four tokens `<locYYYY><locXXXX><locYYYY><locXXXX>` for y0 x0 y1 x1, each round(v * 1023) of
the normalised coordinate, followed by its label; objects are separated by ` ; `. A segmentation
mask adds 16 `<segNNN>` codes (0..127) of the vae-oid VQ-VAE after its box.
"""
import re

NUM_LOC = 1024  # <loc0000> .. <loc1023>
NUM_SEG = 128  # <seg000> .. <seg127>
LOC_PIECES = tuple(f"<loc{i:04d}>" for i in range(NUM_LOC))
SEG_PIECES = tuple(f"<seg{i:03d}>" for i in range(NUM_SEG))
_BOX = re.compile(r"<loc(\d{4})><loc(\d{4})><loc(\d{4})><loc(\d{4})>((?:<seg\d{3}>)*)([^<;]*)")

Box = tuple[float, float, float, float]


def format_boxes(objects: list[tuple[str, Box]], sep: str = " ; ") -> str:
  """`[(label, (y0, x0, y1, x1))]` normalised -> the PaliGemma detection text."""
  out = []
  for label, box in objects:
    if len(box) != 4 or not all(0.0 <= v <= 1.0 for v in box):
      raise ValueError(f"Box {box!r} of {label!r} must be 4 normalised values in [0, 1].")
    out.append("".join(f"<loc{round(v * (NUM_LOC - 1)):04d}>" for v in box) + f" {label}")
  return sep.join(out)


def parse_boxes(text: str) -> list[tuple[str, Box]]:
  """Detection text -> `[(label, (y0, x0, y1, x1))]` normalised to [0, 1] (v / 1023).

  Text that is not a group of four loc tokens (e.g. a truncated box) is skipped; `<segNNN>` codes
  after a box are ignored; labels are stripped of surrounding blanks.
  """
  out = []
  for m in _BOX.finditer(text):
    box = tuple(int(g) / (NUM_LOC - 1) for g in m.groups()[:4])
    out.append((m.group(6).strip(), box))
  return out
