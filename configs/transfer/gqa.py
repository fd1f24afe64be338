"""GQA transfer (+ zero-shot xGQA): `--config configs/transfer/gqa.py:res=224[,model=pg2_3b]`
`[,final_split][,freeze_vit=False][,demo]`.

Published (big_vision's paligemma/transfers/gqa.py; configs/published.py): prefix "answer en
{question}", suffix the answer, text_len 32, images resized without anti-aliasing, batch 256, 1
epoch, lr 1e-5, wd 0; at 448 the vision tower is frozen (freeze_vit=False overrides). PaliGemma 2:
the 224 recipe at 224 and 448 (the vision tower trained) with lr 3e-6 (3B), 1e-6 (10B), 3e-6 (28B)
(arXiv 2412.03555 Table 14). Trains on train_balanced and scores testdev_balanced (the published
split) and, each run, val_balanced with exact match; the GQA model is also scored zero-shot on
xGQA's test set in 8 languages (questions translated, answers English). Perplexity monitors on
train_balanced[:5%] and val_balanced[:5%]. `final_split` trains on train_balanced+val_balanced.
Published accuracy (testdev_balanced): PaliGemma 3B 65.61 (224) / 67.03 (448); PaliGemma 2 (its
paper's Table 13) 3B 66.2 / 68.1, 10B 67.2 / 68.3, 28B 67.3 / 68.3. xGQA (mean of the 8 languages,
English included, as big_vision's README reports it): PaliGemma 3B 58.37 / 59.07; the papers' avg7
(the 7 besides English: the command below with `--exclude xgqa_test_zs_en --expect 7`): PaliGemma 3B
57.3 / 57.9 (its paper's Table 1), PaliGemma 2 3B 58.6 / 60.4, 10B 61.4 / 62.6, 28B 61.1 / 62.1. The
run logs each language's accuracy (xgqa_test_zs_<lang>/exact); their mean, per step, is
`xgqa_test_zs_avg/exact` of
  python -m tools.average_metrics --metrics WORKDIR/metrics.jsonl --prefix xgqa_test_zs_ \
      --metric exact --expect 8

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 11.9, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.0, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from big_paligemma.data.datasets import xgqa
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["gqa"]


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  source = qa.source("gqa", args)
  c.input.data = source("train_balanced+val_balanced" if args.final_split else "train_balanced")
  c.input.pp = qa.train_pp(PUBLISHED, res, "answer", antialias=False)
  splits = {"gqa_testdev_balanced": (source("testdev_balanced"), "100%")}
  if not args.final_split:
    splits["gqa_val_balanced"] = (source("val_balanced"), "12.5%")
  for lang in xgqa.LANGUAGES:
    splits[f"xgqa_test_zs_{lang}"] = (qa.source("xgqa", args)(f"test_zs_{lang}"), "12.5%")
  c.evals = {name: qa.decode_eval(PUBLISHED, res, data, "vqa", ("answer",), every=every,
                                  antialias=False, answers_key="answer", metrics=("exact",))
             for name, (data, every) in splits.items()}
  if not args.final_split:
    common.monitor_evals(c, "gqa", source("train_balanced"), c.input.pp, every="5%", splits={
        "minitrain": "train_balanced[:5%]", "minival": "val_balanced[:5%]"})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
