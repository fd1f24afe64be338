"""A-OKVQA multiple-choice transfer: `--config configs/transfer/aokvqa_mc.py:res=224`
`[,model=pg2_3b][,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/aokvqa_mc.py; configs/published.py): prefix
"answer en  {question} choose from: {ansstr}" (two spaces, as big_vision writes it; ansstr = the
4 choices joined by " \\t "), suffix the text of the correct choice, text_len 128, batch 128,
15 epochs, lr 5e-6, wd 0 at 224 and 448 (PaliGemma 2: lr 3e-6 (3B), 3e-7 (10B), 1e-6 (28B),
arXiv 2412.03555 Table 14). Trains on train and scores val with the aokvqa_mc
accuracy (the answer equals the correct choice's text); perplexity monitors on train[:5%] and
val. `final_split` trains on train+val and writes the leaderboard's prediction file for test.
Published accuracy: PaliGemma 3B 76.37 (224) / 76.90 (448) (test server); PaliGemma 2 (val, its
paper's Table 13) 3B 79.7 / 82.5, 10B 83.7 / 85.9, 28B 84.7 / 87.0.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 5.7, pg2_3b 6.1,
pg2_10b 13.0); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 7.6, pg2_3b 7.5); v5e-32 (pg2_10b 9.6);
v5e-64 (pg2_28b 14.3). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.8); v5e-64 (pg2_28b 7.6). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.8); v5e-32 (pg2_10b 5.8); v5e-64
(pg2_28b 7.9).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["aokvqa_mc"]
CHOICES = "multiple_choice_possible_answers"
JOIN = f'strjoin(" \\t ", inkey="{CHOICES}", outkey="ansstr")'
CORRECT = f'getidx(inkey="{CHOICES}", index_key="multiple_choice_correct_idx", outkey="answer")'


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  source = qa.source("aokvqa", args)
  c.input.data = source("train+val" if args.final_split else "train")
  c.input.pp = qa.train_pp(PUBLISHED, res, "answer", before=(JOIN, CORRECT))
  if args.final_split:  # test has no correct index
    c.evals = {"aokvqa_mc_test": qa.decode_eval(
        PUBLISHED, res, source("test"), "storepreds", ("question_id",), every="100%",
        before=(JOIN,), format="aokvqa_mc", outfile="aokvqa_mc_test_predictions.json")}
  else:
    c.evals = {"aokvqa_mc_val": qa.decode_eval(
        PUBLISHED, res, source("val"), "aokvqa_mc", ("answer", CHOICES, "question_id"),
        every="25%", before=(JOIN, CORRECT), choices_key=CHOICES)}
    common.monitor_evals(c, "aokvqa_mc", source("train"), c.input.pp, every="5%",
                         splits={"minitrain": "train[:5%]", "val": "val"})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
