"""VQAv2 transfer: `--config configs/transfer/vqav2.py:res=224[,model=pg2_3b][,final_split]`
`[,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/vqav2.py; configs/published.py): prefix
"answer en {question_text}", suffix one of the 10 answers, text_len 32, batch 256, 10 epochs,
lr 1e-5 with wd 1e-6 at 224 and 0 at 448 (adam b2 0.999, clip 1.0, cosine with 5% warm-up);
PaliGemma 2: the 224 recipe at 224 and 448 with lr 3e-6 (3B), 1e-6 (10B), 6e-7 (28B) (arXiv
2412.03555 Table 14).
Trains on train + validation[:-10240] and scores the held-out validation[-10240:] (minival) with
the VQAv2 accuracy, per answer type too; perplexity monitors on train[:20864] and minival.
`final_split` trains on train+validation and writes the test server's file for test (test2015;
test-dev's questions are a subset).
Published accuracy (test-std): PaliGemma 3B 83.19 (224) / 85.64 (448); PaliGemma 2 (minival, its
paper's Table 13) 3B 83.0 / 84.8, 10B 84.3 / 85.8, 28B 84.5 / 85.8.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["vqav2"]
SPLITS = {"train": "train+validation[:-10240]", "minitrain": "train[:20864]",
          "minival": "validation[-10240:]"}
DEMO_SPLITS = {"train": "train+validation[:-50%]", "minitrain": "train[:10%]",
               "minival": "validation[-50%:]"}


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  splits, source = DEMO_SPLITS if args.demo else SPLITS, qa.source("vqav2", args)
  c.input.data = source("train+validation" if args.final_split else splits["train"])
  c.input.pp = qa.train_pp(PUBLISHED, res, "answers", suffix_is_list=True,
                           pick="choice_no_replacement")
  if args.final_split:
    c.evals = {"vqav2_test": qa.decode_eval(
        PUBLISHED, res, source("test"), "storepreds", ("question_id",), every="100%",
        format="vqav2", outfile="vqav2_test_predictions.json")}
  else:
    keep = ("answers", "answer_type", "question_type", "question_id")
    c.evals = {"vqav2_minival": qa.decode_eval(
        PUBLISHED, res, source(splits["minival"]), "vqav2", keep, every="25%",
        answer_type_key="answer_type")}
    common.monitor_evals(c, "vqav2", source("train"), c.input.pp, every="25%", splits={
        k: splits[k] for k in ("minitrain", "minival")})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
