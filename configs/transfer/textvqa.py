"""TextVQA transfer: `--config configs/transfer/textvqa.py:res=448[,model=pg2_3b][,final_split]`
`[,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/textvqa.py; configs/published.py): prefix "answer en
{question}", suffix one of the 10 answers, text_len 32, batch 256, lr 3e-6; 5 epochs at 224 (wd 0),
10 at 448 (wd 3e-7) and 896 (wd 0); PaliGemma 2: the 224 recipe at 224 and 448 with lr 3e-6 (3B),
6e-7 (10B), 1e-6 (28B) (arXiv 2412.03555 Table 14). Trains on train and scores val with the VQAv2
accuracy (every question of answer type "other", as big_vision); perplexity monitors on train[:5%]
and val. `final_split` trains on train+val and writes the test server's file for test.
Published accuracy (test-std): PaliGemma 3B 55.47 (224) / 73.15 (448) / 76.48 (896); PaliGemma 2
(val, its paper's Table 13) 3B 59.6 / 75.2, 10B 64.0 / 76.6, 28B 64.7 / 76.2 (224 / 448).

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
from configs import qa

PUBLISHED = published.TRANSFERS["textvqa"]


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=448)
  source = qa.source("textvqa", args)
  c.input.data = source("train+val" if args.final_split else "train")
  c.input.pp = qa.train_pp(PUBLISHED, res, "answers", suffix_is_list=True,
                           pick="choice_no_replacement")
  if args.final_split:
    c.evals = {"textvqa_test": qa.decode_eval(
        PUBLISHED, res, source("test"), "storepreds", ("question_id",), every="100%",
        format="vqav2", outfile="textvqa_test_predictions.json")}
  else:
    c.evals = {"textvqa_val": qa.decode_eval(
        PUBLISHED, res, source("val"), "vqav2", ("answers", "answer_type", "question_id"),
        every="12.5%", before=('strfmt("other", outkey="answer_type")',),
        answer_type_key="answer_type")}
    common.monitor_evals(c, "textvqa", source("train"), c.input.pp, every="5%",
                         splits={"minitrain": "train[:5%]", "val": "val"})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
