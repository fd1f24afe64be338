"""VizWiz-VQA transfer: `--config configs/transfer/vizwizvqa.py:res=224[,model=pg2_3b]`
`[,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/vizwizvqa.py; configs/published.py): prefix
"answer en {question}", suffix one of the answers, text_len 48, batch 256, 10 epochs, lr 1e-5,
wd 0 at 224 and 448 (PaliGemma 2: lr 1e-5 (3B), 3e-6 (10B), 3e-6 (28B), arXiv 2412.03555 Table
14); eval images resized without anti-aliasing. Trains on train and scores val
with the VQA accuracy min(#matches / 3, 1) (also with `final_split`, as big_vision); perplexity
monitors on train and val. `final_split` trains on train+val and also writes the test server's
file for test (vizwizvqa_test_predictions.json, [{"image": file name, "answer"}], the official
VizWiz-VQA results format that big_vision's test eval writes too, with out_question_key "image").
Published accuracy (test-std): PaliGemma 3B 73.7 (224) / 75.52 (448); PaliGemma 2 (val, its
paper's Table 13) 3B 76.4 / 77.5, 10B 78.1 / 78.6, 28B 78.7 / 78.9.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 5.6, pg2_3b 6.1,
pg2_10b 13.8); v5e-64 (pg2_28b 13.3). 448: v5e-16 (pg1_3b 10.9, pg2_3b 10.1); v5e-32 (pg2_10b 11.6);
v5e-64 (pg2_28b 14.1). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.7); v5e-64
(pg2_28b 7.8).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["vizwizvqa"]


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  source = qa.source("vizwizvqa", args)
  c.input.data = source("train+val" if args.final_split else "train")
  c.input.pp = qa.train_pp(PUBLISHED, res, "answers", suffix_is_list=True,
                           pick="choice_no_replacement")
  c.evals = {"vizwizvqa_val": qa.decode_eval(
      PUBLISHED, res, source("val"), "vqa", ("answers", "question_id"), every="10%",
      antialias=False)}
  if args.final_split:
    c.evals["vizwizvqa_test"] = qa.decode_eval(
        PUBLISHED, res, source("test"), "storepreds", ("image/filename",), every="100%",
        antialias=False, format="vizwiz", outfile="vizwizvqa_test_predictions.json")
  else:
    common.monitor_evals(c, "vizwizvqa", source("train"), c.input.pp, every="12.5%",
                         splits={"minitrain": "train", "val": "val"})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
