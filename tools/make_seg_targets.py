"""Adds referring-segmentation targets (box + 16 vae-oid seg codes) to a jsonl file, offline.

  python -m tools.make_seg_targets --input refcoco/train.jsonl --vae vae-oid.npz \
      --out refcoco/train_seg.jsonl

Input lines: {"image": path, "mask": path, "expression": text, ...any other fields}; paths are
relative to the input file's folder (or absolute). The mask is an image of the image's size, inside
where channel 0 is > 0. Each output line keeps the input's fields and adds, in the layout of
big_paligemma/data/jsonl.py (strings, so the jsonl source reads them):
  "box":       "y0 x0 y1 x1", the mask's tight box normalised by the image size (end exclusive);
  "seg_codes": 16 space-separated codes 0..127 of the mask's vae-oid encoding;
  "prefix":    --prompt filled with the line's fields; "suffix": the target string of
               pp.seg_suffix (`<loc>`x4 then 16 `<seg>`); an input prefix/suffix is replaced.
Image and mask paths are rewritten relative to the output file's folder.

Codes as big_vision builds its targets: the mask cropped to the box (pixel corners round(v * size)),
resized to 64x64 with TF's antialiased bilinear on 0/255 values, divided by 255, then
`segmentation.encode_masks`.
"""
import argparse
import io
import json

import numpy as np
from PIL import Image
import tensorflow as tf
import tqdm

from big_paligemma import fs
from big_paligemma import segmentation
from big_paligemma.data import files
from pp import ops_seg

REQUIRED = ("image", "mask", "expression")


def read_lines(path: str) -> list[dict]:
  """The input's rows with absolute "image" and "mask" paths and "_where" (file:line)."""
  if not fs.isfile(path):
    raise FileNotFoundError(f"Input jsonl {path} does not exist.")
  lines = [(n, json.loads(text)) for n, text in enumerate(fs.read_text(path).splitlines(), start=1)
           if text.strip()]
  if not lines:
    raise ValueError(f"Input jsonl {path} has no lines.")
  root = fs.dirname(fs.abspath(path))
  rows = [_with_paths(row, f"{path}:{n}", root) for n, row in lines]
  absent = set(files.missing([row[k] for row in rows for k in ("image", "mask")]))
  for row in rows:
    for key in ("image", "mask"):
      if row[key] in absent:
        raise FileNotFoundError(f"{row['_where']}: {key} file {row[key]} does not exist.")
  return rows


def _with_paths(row: dict, where: str, root: str) -> dict:
  missing = [k for k in REQUIRED if k not in row]
  if missing:
    raise ValueError(f"{where} lacks the fields {missing}; every line needs {list(REQUIRED)}.")
  paths = {k: fs.join(root, row[k]) for k in ("image", "mask")}
  return {**row, **paths, "_where": where}


def load_mask(row: dict) -> np.ndarray:
  """The row's mask [H, W] bool (channel 0 > 0); it must match the image's size and be non-empty."""
  mask = np.asarray(Image.open(io.BytesIO(fs.read_bytes(row["mask"]))))
  mask = (mask[..., 0] if mask.ndim == 3 else mask) > 0
  with Image.open(io.BytesIO(fs.read_bytes(row["image"]))) as image:
    w, h = image.size
  if mask.shape != (h, w):
    raise ValueError(f"{row['_where']}: mask {row['mask']} is {mask.shape[1]}x{mask.shape[0]} "
                     f"(w x h), its image {row['image']} is {w}x{h}; they must match.")
  if not mask.any():
    raise ValueError(f"{row['_where']}: mask {row['mask']} is empty (no pixel > 0); drop the line "
                     "or fix the mask.")
  return mask


def tight_box(mask: np.ndarray) -> tuple[float, float, float, float]:
  """Normalised (y0, x0, y1, x1) of the mask's inside pixels, end exclusive."""
  h, w = mask.shape
  ys, xs = np.nonzero(mask)
  return ys.min() / h, xs.min() / w, (ys.max() + 1) / h, (xs.max() + 1) / w


def mask64(mask: np.ndarray, box) -> np.ndarray:
  """The mask cropped to `box` (corners round(v * size)), as [64, 64] float32 in [0, 1]."""
  return ops_seg.crop_mask64(tf.constant(mask), tf.constant(box, tf.float32)).numpy()


def encode_rows(rows: list[dict], vae_path: str, batch_size: int = 64):
  """(boxes, codes [N, 16] int32) of the rows' masks; batches padded to `batch_size`."""
  module, params = segmentation.load_mask_encoder(vae_path)
  boxes, codes = [], []
  for start in tqdm.trange(0, len(rows), batch_size, desc="seg targets"):
    batch = []
    for row in rows[start:start + batch_size]:
      mask = load_mask(row)
      boxes.append(tight_box(mask))
      batch.append(mask64(mask, boxes[-1]))
    pad = [np.zeros_like(batch[0])] * (batch_size - len(batch))
    codes.append(segmentation.encode_masks(module, params, np.stack(batch + pad))[:len(batch)])
  return boxes, np.concatenate(codes)


def target_row(row: dict, box, codes, prompt: str, out_dir: str) -> dict:
  """The output line of `row` (see the module docstring)."""
  out = {k: v for k, v in row.items() if k != "_where"}
  out.update(image=fs.relpath(row["image"], out_dir),
             mask=fs.relpath(row["mask"], out_dir),
             box=" ".join(repr(float(v)) for v in box),
             seg_codes=" ".join(str(int(c)) for c in codes))
  out["prefix"] = prompt.format(**out)
  fields = {"box": tf.constant(out["box"]), "seg_codes": tf.constant(out["seg_codes"])}
  suffix = ops_seg.seg_suffix()(fields)
  out["suffix"] = suffix["suffix"].numpy().decode()
  return out


def make_targets(input_path: str, vae_path: str, out_path: str,
                 prompt: str = "segment {expression}", batch_size: int = 64) -> int:
  """Writes `out_path`; returns the number of lines."""
  rows = read_lines(input_path)
  boxes, codes = encode_rows(rows, vae_path, batch_size)
  out_dir = fs.dirname(fs.abspath(out_path))
  lines = [json.dumps(target_row(row, box, row_codes, prompt, out_dir)) + "\n"
           for row, box, row_codes in zip(rows, boxes, codes)]
  fs.write_text(out_path, "".join(lines))
  return len(rows)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--input", required=True, help="jsonl of {image, mask, expression} lines")
  parser.add_argument("--vae", required=True, help="big_vision's vae-oid.npz")
  parser.add_argument("--out", required=True, help="output jsonl (train / eval data)")
  parser.add_argument("--prompt", default="segment {expression}", help="prefix template")
  parser.add_argument("--batch_size", type=int, default=64)
  args = parser.parse_args(argv)
  n = make_targets(args.input, args.vae, args.out, args.prompt, args.batch_size)
  print(f"Wrote {n} lines to {args.out}.")


if __name__ == "__main__":
  main()
