"""COCO-35L (captions in 35 languages) transfer, also scored on XM3600 (36 languages):
`--config configs/transfer/coco35l.py:res=224[,model=pg2_3b][,eval_xm3600=False][,demo]`.

Published (big_vision's paligemma/transfers/coco35l.py; configs/published.py): a mixture of the
35 train_<lang> splits, weight 1 each; prefix "caption <lang>" (the builder's `language` field,
"caption {language}"), one of the image's captions as the target, text_len 32; 5 x 566_435
examples (5 epochs of one language), lr 1e-5, wd 1e-6 at 224 and 448 (PaliGemma 2: Table 14's lr
per size), adam b2 0.999, clip 1.0, cosine with 5% warm-up, batch 256; greedy decoding. Trains on
all of train (big_vision holds nothing out); monitors perplexity on minitrain (train_en[:2%])
and minival (dev_en[:5%]). Scored with CIDEr on dev_<lang> of every language (`coco35l_<lang>`;
the 7 of LANGUAGES_SUBSET every 25%, the others at the end) and, with eval_xm3600 (default), on
each XM3600 language (`xm3600_<lang>`). The published numbers are means over languages
(`tools/average_metrics.py`): COCO-35L avg34 (without English) PaliGemma 3B 113.7 / 115.8,
en 139.2 / 141.2; XM3600 avg35 41.9 / 42.4, en 78.0 / 80.0; PaliGemma 2 3B / 10B / 28B avg34
113.9 / 115.8, 115.8 / 117.2, 116.5 / 117.2, en 138.4 / 140.4, 140.8 / 142.4, 142.4 / 142.3;
XM3600 avg35 42.8 / 43.2, 44.5 / 44.6, 45.2 / 45.2, en 79.8 / 80.3, 80.7 / 81.5, 81.0 / 81.0.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from big_paligemma.data.datasets import coco35l as coco35l_data
from big_paligemma.data.datasets import xm3600 as xm3600_data
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["coco35l"]
LANGUAGES = coco35l_data.LANGUAGES
XM3600_LANGUAGES = xm3600_data.LANGUAGES
LANGUAGES_SUBSET = ("ar", "bn", "en", "id", "sw", "tr", "zh")  # evaluated every 25%


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=224, eval_xm3600=True)
  source = lambda name, split: common.tfds_source(name, split, args)
  c.input.data = {"mixture": [{**source("coco35l", f"train_{lang}"), "weight": 1.0}
                              for lang in LANGUAGES]}
  c.input.pp = captions.train_pp(PUBLISHED, res, "captions")
  every = lambda lang: "25%" if lang in LANGUAGES_SUBSET else "100%"
  c.evals = {f"coco35l_{lang}": captions.caption_eval(
      PUBLISHED, res, source("coco35l", f"dev_{lang}"), "captions", every=every(lang))
             for lang in LANGUAGES}
  if args.eval_xm3600:
    c.evals.update({f"xm3600_{lang}": captions.caption_eval(
        PUBLISHED, res, source("xm3600", lang), "captions", every=every(lang))
                    for lang in XM3600_LANGUAGES})
  common.monitor_evals(c, "coco35l", source("coco35l", "train_en"), c.input.pp,
                       splits={"minitrain": "train_en[:2%]", "minival": "dev_en[:5%]"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False, eval_xm3600=True)
  return common.published_sweep(hyper, PUBLISHED, args)
