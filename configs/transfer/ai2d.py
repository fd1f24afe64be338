"""AI2D transfer: `--config configs/transfer/ai2d.py:res=224[,model=pg2_3b][,final_split]`
`[,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/ai2d.py; configs/published.py): prefix
"answer en  {question} choose from: {ansstr}" (two spaces, as big_vision writes it; ansstr = the
choices joined by " \\t "), suffix the correct choice, text_len 128, batch 256, 10 epochs,
lr 1e-5, wd 1e-6 at 224 and 448 (PaliGemma 2: lr 6e-6 (3B), 1e-6 (10B), 3e-6 (28B), arXiv
2412.03555 Table 14); eval images resized without anti-aliasing. Trains on
train[:-1024] and scores test (the published split) with exact match, case kept (the model sees
the choices); perplexity monitors on train[:1024] and the held-out train[-1024:]. `final_split`
trains on all of train.
Published accuracy (test): PaliGemma 3B 72.12 (224) / 73.28 (448); PaliGemma 2 (its paper's
Table 13) 3B 74.7 / 76.0, 10B 83.1 / 84.4, 28B 83.2 / 84.6.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 7.5, pg2_3b 8.1,
pg2_10b 14.9); v5e-64 (pg2_28b 13.5). 448: v5e-16 (pg1_3b 11.6, pg2_3b 11.2); v5e-32 (pg2_10b 12.3);
v5e-64 (pg2_28b 14.7). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.8); v5e-64 (pg2_28b 7.6). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.8); v5e-32 (pg2_10b 5.8); v5e-64
(pg2_28b 7.9).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["ai2d"]
JOIN = 'strjoin(" \\t ", inkey="possible_answers", outkey="ansstr")'
SPLITS = {"train": "train[:-1024]", "minitrain": "train[:1024]", "minival": "train[-1024:]"}
DEMO_SPLITS = {"train": "train[:-10%]", "minitrain": "train[:10%]", "minival": "train[-10%:]"}


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  splits, source = DEMO_SPLITS if args.demo else SPLITS, qa.source("ai2d", args)
  c.input.data = source("train" if args.final_split else splits["train"])
  c.input.pp = qa.train_pp(PUBLISHED, res, "answer", before=(JOIN,))
  c.evals = {"ai2d_test": qa.decode_eval(
      PUBLISHED, res, source("test"), "vqa", ("answer", "id"), every="12.5%", before=(JOIN,),
      antialias=False, answers_key="answer", metrics=("exact",), to_lower=PUBLISHED.to_lower)}
  if not args.final_split:
    common.monitor_evals(c, "ai2d", source("train"), c.input.pp, every="12.5%", splits={
        k: splits[k] for k in ("minitrain", "minival")})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
