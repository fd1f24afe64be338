"""DocVQA (SP-DocVQA) transfer: `--config configs/transfer/docvqa.py:res=448[,model=pg2_3b]`
`[,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/docvqa.py; configs/published.py): prefix the bare
question, suffix one of the answers, text_len 32, batch 256, adam b2 0.999, clip 1.0, cosine with
5% warm-up; 10 epochs, lr 1e-5, wd 1e-6 at 224, 448 and 896 (default res 896); PaliGemma 2 (arXiv
2412.03555 Table 14, per size at 224 and 448): lr 6e-6 (3B), 3e-6 (10B), 3e-6 (28B). Trains on
train[:-5%] and monitors perplexity on minitrain (train[:5%]) and minival (train[-5%:]); scored
with ANLS on the validation split, lower-cased as big_vision does. `final_split` trains on
train+validation and stores predictions for the test split (no public answers).
Published ANLS: PaliGemma 3B 43.7 (224) / 78.0 (448) / 84.8 (896) (test server); PaliGemma 2
(val, its paper's Table 13) 3B 39.9 / 73.6, 10B 43.9 / 76.6, 28B 44.9 / 76.1 (224 / 448).
On a v5e-16, PaliGemma 2 3B at 896 also fits with `--config.grad_accum=4` (4 x 64 examples a
step; 11.11 of 15.75 GiB a chip, roofline 18.3 s a step, `python -m tools.plan`, 2026-12-07).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). 896: v5e-32 (pg1_3b 14.3, pg2_3b 15.2); v5e-64 (pg2_10b 12.5); v5e-128
(pg2_28b 12.6). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b 9.5);
v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64 (pg2_28b
7.8). 896: v5e-32 (pg1_3b 2.4, pg2_3b 3.0); v5e-64 (pg2_10b 4.7); v5e-128 (pg2_28b 6.7).
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["docvqa"]


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=896, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  text_len = PUBLISHED.text_len
  c.input.data = common.tfds_source("docvqa", common.train_split(args.final_split), args)
  c.input.pp = pp.paligemma_train_pp(res, text_len, PUBLISHED.prompt, "answers",
                                     suffix_is_list=True)
  eval_split = "test" if args.final_split else "validation"
  c.evals = {f"docvqa_{eval_split}": dict(
      type="storepreds" if args.final_split else "anls",
      data=common.tfds_source("docvqa", eval_split, args),
      pp=pp.paligemma_eval_pp(res, text_len, PUBLISHED.prompt,
                              keep_keys=("answers", "question_id")),
      batch_size=64, every="1 epochs", max_decode_len=text_len)}
  if args.final_split:  # The RRC submission file for the test server.
    c.evals[f"docvqa_{eval_split}"].update(format="docvqa", id_key="question_id",
                                           outfile="docvqa_test_predictions.json")
  else:
    c.evals[f"docvqa_{eval_split}"].update(to_lower=PUBLISHED.to_lower)
    common.monitor_evals(c, "docvqa", common.tfds_source("docvqa", "train", args), c.input.pp)
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=896, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
