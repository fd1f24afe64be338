"""ChartQA transfer: `--config configs/transfer/chartqa.py:res=448[,model=pg2_3b][,demo]`.

Published (big_vision's paligemma/transfers/chartqa.py; configs/published.py): prefix the bare
question, human + augmented mixed by size (7398 : 20901), text_len 48, 30 epochs, label smoothing
0.2, LLM dropout 0.1, lr 1e-5, wd 1e-6 (adam b2 0.999, clip 1.0, cosine with 5% warm-up, batch
256) at 224 and 448; PaliGemma 2 (arXiv 2412.03555 Table 14, per size): lr 3e-6 (3B), 1e-6
(10B), 3e-7 (28B). Scored with relaxed accuracy on both test sets (the published ones) and, to
tune, both validation sets; perplexity monitors on train[:5%] and validation of each.
Predictions and answers are lower-cased before scoring, as big_vision's evaluators (to_lower).
Published: PaliGemma 3B 57.1 / 71.4 (mean of human and augmented; augmented 74.2 / 88.5, human
40.0 / 54.2); PaliGemma 2 (its paper's Table 13) augmented 3B 74.4 / 89.2, 10B 74.2 / 90.1, 28B
68.9 / 85.1, human 3B 42.0 / 54.0, 10B 48.4 / 66.4, 28B 46.8 / 61.3 (224 / 448).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 5.6, pg2_3b 6.1,
pg2_10b 13.9); v5e-64 (pg2_28b 13.3). 448: v5e-16 (pg1_3b 10.9, pg2_3b 10.3); v5e-32 (pg2_10b 11.7);
v5e-64 (pg2_28b 14.1). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.7); v5e-64
(pg2_28b 7.8).
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["chartqa"]
SUBSETS = ("human", "augmented")


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=448, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  text_len = PUBLISHED.text_len
  train_split = "train+validation" if args.final_split else "train"
  c.input.data = dict(mixture=[common.tfds_source(f"chartqa/{s}", train_split, args)
                               for s in SUBSETS])
  c.input.pp = pp.paligemma_train_pp(res, text_len, PUBLISHED.prompt, "answer")
  # As big_vision: test (the published split, with answers) in every run, validation to tune.
  eval_splits = ("test",) if args.final_split else ("validation", "test")
  c.evals = {f"chartqa_{s}_{split}": dict(
      type="chartqa", data=common.tfds_source(f"chartqa/{s}", split, args),
      pp=pp.paligemma_eval_pp(res, text_len, PUBLISHED.prompt,
                              keep_keys=("answer", "question_id")),
      batch_size=64, every="5 epochs", max_decode_len=text_len, to_lower=PUBLISHED.to_lower)
             for split in eval_splits for s in SUBSETS}
  if not args.final_split:  # big_vision's perplexity monitors: train[:5%] and val.
    for s in SUBSETS:
      common.monitor_evals(c, f"chartqa_{s}", common.tfds_source(f"chartqa/{s}", "train", args),
                           c.input.pp, every="5%",
                           splits={"minitrain": "train[:5%]", "val": "validation"})
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
