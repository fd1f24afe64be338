"""XM3600: the COCO-35L transfer (configs/transfer/coco35l.py, which trains it) scored zero-shot
on Crossmodal-3600's 36 languages, as big_vision evaluates it. With its checkpoint:
`python -m evaluators.run --config configs/transfer/xm3600.py:res=224 --ckpt COCO35L_WORKDIR`.

The config is coco35l's with only the `xm3600_<lang>` evals (CIDEr, greedy, prompt
"caption <lang>", text_len 32). Published: the mean CIDEr over the 35 languages besides English
(avg35; `tools/average_metrics.py`): PaliGemma 3B 41.9 / 42.4 (224 / 448), English 78.0 / 80.0;
PaliGemma 2 3B 42.8 / 43.2, 10B 44.5 / 44.6, 28B 45.2 / 45.2; English 79.8 / 80.3, 80.7 / 81.5,
81.0 / 81.0.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs.transfer import coco35l


def get_config(arg: str | None = None):
  c = coco35l.get_config(arg)
  c.evals = {k: v for k, v in c.evals.items() if k.startswith("xm3600_")}
  return c
