"""COCO captions (Karpathy split) transfer, also scored on nocaps:
`--config configs/transfer/cococap.py:res=224[,model=pg2_3b][,final_split][,demo]`.

Published (big_vision's paligemma/transfers/cococap.py; configs/published.py): prefix
"caption en", one of the image's captions as the target, text_len 32, 5 epochs (one per
caption), lr 1e-5, wd 1e-6 at 224 and 448 (PaliGemma 2: Table 14's lr per size), adam b2 0.999,
clip 1.0, cosine with 5% warm-up, batch 256; beam search with 2 beams at eval. Trains on
train[:98%]+restval and monitors perplexity on minitrain (train[:2%]) and minival (train[-2%:]);
`final_split` trains on train+restval. Scored with CIDEr on the Karpathy val split and, as
big_vision does, zero-shot on nocaps val (configs/transfer/nocaps.py: those evals alone).
Published CIDEr: PaliGemma 3B 141.9 / 144.6 (nocaps 121.7 / 123.6); PaliGemma 2 3B 141.3 / 143.4,
10B 143.7 / 145.0, 28B 144.0 / 145.2 (nocaps 123.1 / 123.5, 126.3 / 126.9, 127.1 / 127.0).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.9, pg2_3b 3.3, pg2_10b
9.9); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 4.7); v5e-32 (pg2_10b 7.4); v5e-64
(pg2_28b 7.9).
"""
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["cococap"]


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=224)
  coco = lambda split: common.tfds_source("coco_captions", split, args)
  c.input.data = coco("train+restval" if args.final_split else "train[:98%]+restval")
  c.input.pp = captions.train_pp(PUBLISHED, res, "captions")
  c.evals = {
      "cococap_val": captions.caption_eval(PUBLISHED, res, coco("val"), "captions",
                                           every="10%", id_key="image_id"),
      "nocaps_val": captions.caption_eval(PUBLISHED, res, common.tfds_source(
          "nocaps", "val", args), "texts", every="10%"),
  }
  if not args.final_split:
    common.monitor_evals(c, "cococap", coco("train"), c.input.pp,
                         splits={"minitrain": "train[:2%]", "minival": "train[-2%:]"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
