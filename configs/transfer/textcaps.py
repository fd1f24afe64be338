"""TextCaps transfer: `--config configs/transfer/textcaps.py:res=448[,model=pg2_3b][,final_split]`
`[,demo]`.

Published (big_vision's paligemma/transfers/textcaps.py; configs/published.py): prefix
"caption en", one of the image's captions lower-cased as the target, text_len 32, 5 epochs, lr
1e-5, wd 1e-6 at 224 and 448 (PaliGemma 2: Table 14's lr per size), adam b2 0.999, clip 1.0,
cosine with 5% warm-up, batch 256; beam search with 3 beams at eval. Trains on train[:98%] and
monitors perplexity on minitrain (train[:2%]) and minival (train[-2%:]); `final_split` trains on
all of train. Scored with CIDEr on val (test captions are held by the server).
Published CIDEr: PaliGemma 3B 127.5 / 153.9; PaliGemma 2 3B 127.5 / 152.1, 10B 137.9 / 157.7,
28B 139.9 / 153.6.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 3.3, pg2_10b
10.6); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 5.5); v5e-32 (pg2_10b 8.7); v5e-64
(pg2_28b 8.3).
"""
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["textcaps"]


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=448)
  data = lambda split: common.tfds_source("text_caps", split, args)
  c.input.data = data("train" if args.final_split else "train[:98%]")
  # big_vision lower-cases the picked caption; lower-casing all before the pick is the same.
  c.input.pp = captions.train_pp(PUBLISHED, res, "texts", before=('lower(key="texts")',))
  c.evals = {"textcaps_val": captions.caption_eval(PUBLISHED, res, data("val"), "texts",
                                                   every="10%")}
  if not args.final_split:
    common.monitor_evals(c, "textcaps", data("train"), c.input.pp,
                         splits={"minitrain": "train[:2%]", "minival": "train[-2%:]"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
