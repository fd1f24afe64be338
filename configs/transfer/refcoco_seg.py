"""RefCOCO / RefCOCO+ / RefCOCOg referring segmentation:
`--config configs/transfer/refcoco_seg.py:res=448[,model=pg2_3b][,vae=vae-oid.npz][,demo]`.

Published (big_vision's paligemma/transfers/refcoco_seg.py; configs/published.py): trains on
ref_coco_bv/refcocox_combined (configs/refcoco.py: RefCOCO + RefCOCO+ + RefCOCOg train without
their validation/test images); prefix the bare expression; target the object's box as 4 `<loc>`
tokens then the 16 `<seg>` codes of its mask cropped to the box (pp.mask_seg_codes with the
vae-oid VQ-VAE `vae`, computed on the fly as big_vision's refcoco_mask2str), text_len 48; 100
epochs, label smoothing 0.3, no weight decay, adam b2 0.999, clip 1.0, cosine with 5% warm-up;
res 224: lr 3e-5, LLM dropout 0.1, batch 256; 448: lr 1e-5, batch 256; 896: lr 1e-5, batch 64
(PaliGemma 2 at 224 and 448: the 224 recipe with Table 14's lr per size). Scored by the
refcoco_seg evaluator (mIoU, cIoU; masks decoded with `vae`, compared at the image's size) on
RefCOCO val/testA/testB, RefCOCO+ val/testA/testB, RefCOCOg val/test; perplexity monitors on
minitrain and validation.
Published mIoU (val): RefCOCO PaliGemma 3B 73.4 / 75.6 / 76.9 (224 / 448 / 896), RefCOCO+ 68.3 /
69.8 / 72.2, RefCOCOg 67.7 / 70.1 / 72.2; PaliGemma 2 (224 / 448) RefCOCO 3B 73.4 / 76.3, 10B
75.9 / 78.2, 28B 75.0 / 77.3; RefCOCO+ 3B 68.6 / 72.1, 10B 72.0 / 74.4, 28B 70.3 / 72.8; RefCOCOg
3B 68.3 / 72.3, 10B 71.4 / 74.4, 28B 70.5 / 73.0.

Own data in jsonl files: tools/make_seg_targets.py writes the same targets offline.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 5.6, pg2_3b 6.1,
pg2_10b 13.9); v5e-64 (pg2_28b 13.3). 448: v5e-16 (pg1_3b 10.9, pg2_3b 10.3); v5e-32 (pg2_10b 11.7);
v5e-64 (pg2_28b 14.1). 896: v5e-16 (pg1_3b 13.6, pg2_3b 13.7); v5e-32 (pg2_10b 11.9); v5e-64
(pg2_28b 14.1). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b 9.5);
v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.7); v5e-64 (pg2_28b
7.8). 896: v5e-16 (pg1_3b 11.0, pg2_3b 11.1); v5e-32 (pg2_10b 8.3); v5e-64 (pg2_28b 9.1).
"""
from configs import common
from configs import published
from configs import refcoco

PUBLISHED = published.TRANSFERS["refcoco_seg"]


def vae_path(args) -> str:
  """The vae-oid.npz file: `vae`, else the demo's hand-set one or vae-oid.npz."""
  return args.vae or (f"{args.demo_data}/raw/refcoco/vae-oid.npz" if args.demo else "vae-oid.npz")


def target(args) -> tuple[str, ...]:
  return (f"mask_seg_codes(vae={vae_path(args)!r})",
          'seg_suffix(codes_key="seg_codes", box_key="objects/bbox", outkey="target")')


def get_config(arg: str | None = None):
  size = ('keep_size(key="objects/mask", outkey="size")',)
  c, args = refcoco.config(PUBLISHED, arg, target, "refcoco_seg", ("objects/mask", "size"),
                           eval_ops=size, vae="")
  for ev in c.evals.values():
    if ev.type == "refcoco_seg":
      ev.update(vae_path=vae_path(args), mask_key="objects/mask", size_key="size")
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False, vae="")
  return common.published_sweep(hyper, PUBLISHED, args)
