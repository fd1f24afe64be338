"""Screen2Words transfer: `--config configs/transfer/screen2words.py:res=448[,model=pg2_3b]`
`[,final_split][,demo]`.

Published (big_vision's paligemma/transfers/screen2words.py; configs/published.py): prefix
"caption en", one of the screen's summaries as the target, text_len 24; 10 epochs, lr 1e-5, no
weight decay, label smoothing 0.2, LLM dropout 0.3 at 224 and 448 (PaliGemma 2: Table 14's lr per
size), adam b2 0.999, clip 1.0, cosine with 5% warm-up, batch 256; greedy decoding. Trains on
train (`final_split`: train+dev), tunes on dev; scored with CIDEr on dev and test (published:
test), perplexity monitors on minitrain (train[:5%]), dev and test.
Published CIDEr (test): PaliGemma 3B 117.6 / 119.6; PaliGemma 2 3B 113.3 / 114.0, 10B 117.8 /
119.1, 28B 122.8 / 123.4.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 7.7, pg2_3b 8.5,
pg2_10b 14.3); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.4, pg2_3b 9.8); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.4); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["screen2words"]


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=448)
  data = lambda split: common.tfds_source("screen2_words", split, args)
  c.input.data = data("train+dev" if args.final_split else "train")
  c.input.pp = captions.train_pp(PUBLISHED, res, "summary")
  c.evals = {f"screen2words_{split}": captions.caption_eval(
      PUBLISHED, res, data(split), "summary", every="10%") for split in ("dev", "test")}
  common.monitor_evals(c, "screen2words", data("train"), c.input.pp,
                       splits={"minitrain": "train[:5%]", "dev": "dev", "test": "test"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
