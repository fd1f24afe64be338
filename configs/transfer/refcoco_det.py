"""RefCOCO / RefCOCO+ / RefCOCOg referring-expression detection:
`--config configs/transfer/refcoco_det.py:res=448[,model=pg2_3b][,demo]`.

No published PaliGemma transfer: big_vision has no RefCOCO detection config. The data, splits,
monitors and recipe are refcoco_seg's (configs/refcoco.py, configs/published.py); the prompt is
PaliGemma's detection prompt "detect {expression}" and the target its detection answer, the box
as 4 `<loc>` tokens then the expression ("<locY0><locX0><locY1><locX1> {expression}",
pp.boxes_to_loc), text_len 48. Scored by the refcoco_det evaluator (box accuracy at IoU 0.5 and
0.75, mIoU of the first box) on RefCOCO val/testA/testB, RefCOCO+ val/testA/testB, RefCOCOg
val/test.

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

PUBLISHED = published.TRANSFERS["refcoco_det"]
TARGET = ('boxes_to_loc(inkey="objects/bbox", labels="expression", outkey="target")',)


def get_config(arg: str | None = None):
  c, args = refcoco.config(PUBLISHED, arg, lambda args: TARGET, "refcoco_det",
                           ("objects/bbox",))
  for ev in c.evals.values():
    if ev.type == "refcoco_det":
      ev.update(box_key="objects/bbox")
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
