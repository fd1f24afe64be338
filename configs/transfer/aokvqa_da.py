"""A-OKVQA direct-answer transfer: `--config configs/transfer/aokvqa_da.py:res=224`
`[,model=pg2_3b][,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/aokvqa_da.py; configs/published.py): prefix
"answer en {question}", suffix one of the 10 direct answers, text_len 32, batch 128, 10 epochs,
lr 5e-6, wd 0 at 224 and 448; PaliGemma 2: lr 3e-6 (3B), 1e-6 (10B), 6e-7 (28B) (arXiv
2412.03555 Table 14). Trains on train and scores val with the VQA accuracy
min(#matches / 3, 1) (A-OKVQA's direct-answer metric) over every question, as big_vision, and as
the official A-OKVQA script over the questions not marked difficult
(`vqa_accuracy/without_direct_answer_is_difficult`); perplexity monitors on train[:5%] and val.
`final_split` trains on train+val and writes the leaderboard's prediction file for test.
Published accuracy: PaliGemma 3B 61.85 (224) / 63.22 (448) (test server); PaliGemma 2 (val, its
paper's Table 13) 3B 64.2 / 67.9, 10B 68.9 / 70.8, 28B 70.2 / 71.2.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 7.2, pg2_3b 7.9,
pg2_10b 14.1); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 8.3, pg2_3b 9.2); v5e-32 (pg2_10b 11.0);
v5e-64 (pg2_28b 14.2). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["aokvqa_da"]


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  source = qa.source("aokvqa", args)
  c.input.data = source("train+val" if args.final_split else "train")
  c.input.pp = qa.train_pp(PUBLISHED, res, "direct_answers", suffix_is_list=True,
                           pick="choice_no_replacement")
  if args.final_split:
    c.evals = {"aokvqa_da_test": qa.decode_eval(
        PUBLISHED, res, source("test"), "storepreds", ("question_id",), every="100%",
        format="aokvqa_da", outfile="aokvqa_da_test_predictions.json")}
  else:
    c.evals = {"aokvqa_da_val": qa.decode_eval(
        PUBLISHED, res, source("val"), "vqa",
        ("direct_answers", "question_id", "direct_answer_is_difficult"), every="25%",
        answers_key="direct_answers", exclude_key="direct_answer_is_difficult")}
    common.monitor_evals(c, "aokvqa_da", source("train"), c.input.pp, every="5%",
                         splits={"minitrain": "train[:5%]", "val": "val"})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
