"""RSVQA-HR transfer (remote sensing VQA, USGS aerial tiles; non-numeric questions):
`--config configs/transfer/rsvqa_hr.py:res=224[,model=pg2_3b][,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/rsvqa_hr.py; configs/published.py): as rsvqa_lr.py
(whose `build` makes this config) on rsvqa/hr_nonum, with 1 epoch, lr 1e-5, wd 0, no label
smoothing at 224 and 448 (PaliGemma 2: lr 1e-5 (3B), 6e-6 (10B), 6e-7 (28B), arXiv 2412.03555
Table 14); decodes minitrain (train[:1280]) during training and val, test and test_2
(the release's second test area) at the end.
Published mean accuracy (train+val): PaliGemma 3B test 92.61 / 92.79, test_2 90.58 / 90.54
(224 / 448); PaliGemma 2 (its paper's Table 13) test 3B 92.7 / 92.8, 10B 92.6 / 92.8, 28B 92.7 /
92.8, test_2 3B 90.9 / 90.7, 10B 90.8 / 90.7, 28B 90.9 / 90.8.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs.transfer import rsvqa_lr


def get_config(arg: str | None = None):
  return rsvqa_lr.build("rsvqa_hr", arg)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  return rsvqa_lr.sweep("rsvqa_hr", hyper, arg)
