"""Widget Captioning transfer: `--config configs/transfer/widgetcap.py:res=448[,model=pg2_3b]`
`[,final_split][,demo]`.

Published (big_vision's paligemma/transfers/widgetcap.py; configs/published.py): the target
element's box drawn in red on the image resized with antialiasing (big_vision's draw_bbox; drawn
here after value_range(-1, 1) in (1, -1, -1), the same pixels), prefix "caption en", one of the
element's captions as the target, text_len 32; 4 epochs, lr 3e-6, wd 3e-7, label smoothing 0.1,
LLM dropout 0.1 at 224 and 448 (PaliGemma 2: Table 14's lr per size), batch 64, adam b2 0.999,
clip 1.0, cosine with 5% warm-up; greedy decoding. Trains on train (`final_split`: train+dev),
tunes on dev; scored with CIDEr on dev and test (published: test), perplexity monitors on minitrain
(train[:5%]), dev and test.
Published CIDEr (test): PaliGemma 3B 136.1 / 148.4; PaliGemma 2 3B 138.1 / 151.4, 10B 139.8 /
151.9, 28B 138.8 / 148.9.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.2, pg2_3b 6.7,
pg2_10b 14.1); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 6.9, pg2_3b 7.5, pg2_10b 14.2); v5e-64
(pg2_28b 13.3). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b 9.5);
v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6, pg2_10b 11.1); v5e-64 (pg2_28b 7.8).
"""
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["widgetcap"]
DRAW_BOX = ('draw_bbox(bbox_key="bbox", color=(1.0, -1.0, -1.0))',)


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=448)
  data = lambda split: common.tfds_source("widgetcap", split, args)
  c.input.data = data("train+dev" if args.final_split else "train")
  c.input.pp = captions.train_pp(PUBLISHED, res, "texts", before=DRAW_BOX, antialias=True)
  c.evals = {f"widgetcap_{split}": captions.caption_eval(
      PUBLISHED, res, data(split), "texts", every="10%", before=DRAW_BOX,
      antialias=True)
             for split in ("dev", "test")}
  common.monitor_evals(c, "widgetcap", data("train"), c.input.pp,
                       splits={"minitrain": "train[:5%]", "dev": "dev", "test": "test"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
