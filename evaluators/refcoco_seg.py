"""Referring-expression segmentation evaluator (type "refcoco_seg"): mIoU and cIoU.

Each answer ("<loc>"x4 box then 16 "<seg>" codes) becomes a mask as in big_vision's RefCOCO
evaluator: the codes go through the vae-oid.npz decoder, the 64x64 mask is resized into the box and
thresholded at 0 (`segmentation.paste_mask`), and compared with the ground-truth mask at the image's
original resolution. An answer that does not start with a box and 16 seg codes, or whose box has no
pixels, is "invalid": it counts as an empty mask (IoU 0).

Metrics: miou = mean over examples of I / U (big_vision's "miou"; an example with an empty
union scores 0); ciou = sum of I / sum of U over all examples (the "overall IoU" of RefCOCO
papers); invalid = number of invalid answers; total = number of examples. The masks are reduced
to these pixel counts batch by batch as the split is decoded (`run_batches`' per_batch): memory
holds one batch of masks, not the whole split's (each at its image's own size).

Config keys (besides the common ones, see common.py): max_decode_len, sampler, vae_path (the
vae-oid.npz file; required), mask_key (host field with the ground-truth mask [H, W] or [H, W, C]
(channel 0 is used), > 0 inside; default "mask"), size_key (host field [h, w] with the image's
original size; default None = the mask's own shape. The eval batches pad masks of different sizes
to the largest of the batch, so give it whenever the images differ in size).
"""
import numpy as np

from big_paligemma import registry
from big_paligemma import segmentation
from evaluators import common


def gt_mask(value, size=None) -> np.ndarray:
  """A record's ground-truth mask -> [h, w] bool (channel 0 of [H, W, C]; cropped to `size`)."""
  mask = np.asarray(value)
  if mask.ndim == 3:
    mask = mask[..., 0]
  if mask.ndim != 2:
    raise ValueError(f"A ground-truth mask must be [H, W] or [H, W, C], got shape {mask.shape}.")
  if size is not None:
    h, w = (int(v) for v in size)
    if h > mask.shape[0] or w > mask.shape[1]:
      raise ValueError(f"Image size {(h, w)} exceeds its mask {mask.shape}.")
    mask = mask[:h, :w]
  return mask > 0


def predicted_masks(answers: list[str], shapes: list[tuple[int, int]], decoder_params):
  """Masks [h, w] bool of the answers (empty for invalid ones) and the invalid flags."""
  parsed = [segmentation.parse_answer(a) for a in answers]
  valid = [p for p in parsed if p is not None]
  codes = np.array([c for _, c in valid], np.int32)
  codes = codes.reshape(len(valid), segmentation.NUM_MASK_TOKENS)
  mask64 = iter(segmentation.decode_masks(decoder_params, codes))
  masks, invalid = [], []
  for p, hw in zip(parsed, shapes):
    mask = np.zeros(hw, bool) if p is None else segmentation.paste_mask(next(mask64), p[0], hw)
    y0, x0, y1, x1 = segmentation.box_pixels(p[0], hw) if p else (0, 0, 0, 0)
    masks.append(mask)
    invalid.append(p is None or y1 <= y0 or x1 <= x0)
  return masks, invalid


def example_overlaps(preds: list[np.ndarray], gts: list[np.ndarray],
                     invalid: list[bool]) -> list[dict]:
  """Per example: {"inter", "union" (pixel counts), "invalid"} of predicted vs ground-truth bool
  masks (same shapes): all that the metrics need of a mask."""
  return [{"inter": int(np.logical_and(p, g).sum()), "union": int(np.logical_or(p, g).sum()),
           "invalid": bool(v)} for p, g, v in zip(preds, gts, invalid)]


def overlap_scores(overlaps: list[dict]) -> dict:
  """miou, ciou, invalid and total of `example_overlaps`' entries."""
  if not overlaps:
    raise ValueError("No examples to score.")
  inter = np.array([o["inter"] for o in overlaps], np.float64)
  union = np.array([o["union"] for o in overlaps], np.float64)
  ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
  return {"miou": ious.mean(), "ciou": inter.sum() / union.sum() if union.sum() else 0.0,
          "invalid": float(sum(o["invalid"] for o in overlaps)), "total": float(len(overlaps))}


def iou_scores(preds: list[np.ndarray], gts: list[np.ndarray], invalid: list[bool]) -> dict:
  """miou, ciou, invalid and total of predicted vs ground-truth bool masks (same shapes)."""
  return overlap_scores(example_overlaps(preds, gts, invalid))


@registry.register("evaluator.refcoco_seg")
class RefCocoSegEvaluator(common.DecodingEvaluator):
  """Decoded "segment <expression>" answers vs ground-truth masks: miou, ciou, invalid, total."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "vae_path": common.REQUIRED,
              "mask_key": "mask", "size_key": None}

  def __init__(self, name: str, cfg, **kwargs):
    super().__init__(name, cfg, **kwargs)
    self.decoder_params = segmentation.load_mask_decoder(self.cfg["vae_path"])

  def evaluate(self, params) -> dict[str, float]:
    """Streams: each batch's masks become per-example overlaps as soon as it is decoded."""
    return overlap_scores(self.predict(params, per_batch=self.overlaps))

  def score(self, records: list[dict]) -> dict[str, float]:
    return overlap_scores(self.overlaps(records))

  def overlaps(self, records: list[dict]) -> list[dict]:
    """The records without their masks (and tokens), with their `example_overlaps` entries."""
    mask_key, size_key = self.cfg["mask_key"], self.cfg["size_key"]
    self.require_fields(records, *([mask_key] + ([size_key] if size_key else [])))
    gts = [gt_mask(r[mask_key], r[size_key] if size_key else None) for r in records]
    preds, invalid = predicted_masks([r["prediction"] for r in records], [g.shape for g in gts],
                                     self.decoder_params)
    return [{**{k: v for k, v in r.items() if k not in (mask_key, "tokens")}, **o}
            for r, o in zip(records, example_overlaps(preds, gts, invalid))]
