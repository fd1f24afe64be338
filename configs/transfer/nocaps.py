"""nocaps: the COCO captions transfer (configs/transfer/cococap.py, which trains it) scored
zero-shot on nocaps val, as big_vision evaluates it. With its checkpoint:
`python -m evaluators.run --config configs/transfer/nocaps.py:res=224 --ckpt COCOCAP_WORKDIR`.

The config is cococap's with only the nocaps eval (CIDEr, beam search with 2 beams, prompt
"caption en", text_len 32). Published CIDEr: PaliGemma 3B 121.7 / 123.6 (224 / 448); PaliGemma 2
3B 123.1 / 123.5, 10B 126.3 / 126.9, 28B 127.1 / 127.0.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.9, pg2_3b 3.3, pg2_10b
9.9); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 4.7); v5e-32 (pg2_10b 7.4); v5e-64
(pg2_28b 7.9).
"""
from configs.transfer import cococap


def get_config(arg: str | None = None):
  c = cococap.get_config(arg)
  c.evals = {"nocaps_val": c.evals["nocaps_val"]}
  return c
