"""OCR-VQA transfer: `--config configs/transfer/ocrvqa.py:res=224[,model=pg2_3b][,final_split]`
`[,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/ocrvqa.py; configs/published.py): prefix
"answer en {question}", suffix the answer, text_len 32, batch 128, 3 epochs, wd 0; lr 3e-6 at
224 and 448, 1e-5 at 896; PaliGemma 2 at 224 and 448: lr 1e-6 (3B), 3e-7 (10B), 3e-7 (28B)
(arXiv 2412.03555 Table 14). Trains on train + val[20000:] and scores the held-out val[:20000]
(minival) during the run and test (the published split) at its end, with exact match lower-cased
as big_vision; perplexity monitors on train[:5120] and minival. `final_split` trains on
train+val.
Published accuracy (test): PaliGemma 3B 73.24 (224) / 75.60 (448) / 75.90 (896); PaliGemma 2
(its paper's Table 13) 3B 73.4 / 75.7, 10B 74.7 / 76.3, 28B 75.3 / 76.6 (224 / 448).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 7.2, pg2_3b 7.9,
pg2_10b 14.1); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 8.3, pg2_3b 9.2); v5e-32 (pg2_10b 11.0);
v5e-64 (pg2_28b 14.2). 896: v5e-16 (pg1_3b 14.8, pg2_3b 14.6); v5e-32 (pg2_10b 14.6); v5e-64
(pg2_28b 15.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b 9.5);
v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64 (pg2_28b
7.8). 896: v5e-16 (pg1_3b 4.8, pg2_3b 5.9); v5e-32 (pg2_10b 8.3); v5e-64 (pg2_28b 9.1).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["ocrvqa"]
SPLITS = {"train": "train+val[20000:]", "minitrain": "train[:5120]", "minival": "val[:20000]"}
DEMO_SPLITS = {"train": "train+val[50%:]", "minitrain": "train[:10%]", "minival": "val[:50%]"}


def get_config(arg: str | None = None):
  c, args, res = qa.setup(PUBLISHED, arg, res=224)
  splits, source = DEMO_SPLITS if args.demo else SPLITS, qa.source("ocrvqa", args)
  c.input.data = source("train+val" if args.final_split else splits["train"])
  c.input.pp = qa.train_pp(PUBLISHED, res, "answer")
  evals = {"ocrvqa_test": ("test", "100%")}
  if not args.final_split:
    evals["ocrvqa_minival"] = (splits["minival"], "25%")
  c.evals = {name: qa.decode_eval(
      PUBLISHED, res, source(split), "vqa", ("answer", "question_id"), every=every,
      answers_key="answer", metrics=("exact",), to_lower=PUBLISHED.to_lower)
             for name, (split, every) in evals.items()}
  if not args.final_split:
    common.monitor_evals(c, "ocrvqa", source("train"), c.input.pp, every="10%", splits={
        k: splits[k] for k in ("minitrain", "minival")})
  return qa.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
