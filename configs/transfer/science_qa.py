"""ScienceQA transfer (IMG subset, multiple choice, no chain of thought):
`--config configs/transfer/science_qa.py:res=448[,model=pg2_3b][,final_split][,freeze_vit=False]`
`[,demo]`.

Published (big_vision's paligemma/transfers/science_qa.py, its QCM -> A format;
configs/published.py): prefix "Question: {question}\\nContext: {hint}\\nOptions:
{indexed_choices}\\nAnswer:" with the choices shuffled per example (pp shuffle_choices) when
training, suffix "The answer is {indexed_answer}.", text_len 512, 20 epochs, batch 128, lr 1e-5, wd
0, the image encoder frozen (the recipe's freeze_vit; freeze_vit=False trains it) at 224 and 448
(adam b2 0.999, clip 1.0, cosine with 5% warm-up); PaliGemma 2: lr 6e-6 (3B), 1e-6 (10B), 1e-6 (28B)
(arXiv 2412.03555 Table 14). Trains on train (`final_split`: train+val), monitors perplexity on
minitrain (train[:5%]) and minival (val), and decodes minitrain, minival and test: accuracy of the
"The answer is X." letter.
Published accuracy (test, train+val): PaliGemma 3B 95.39 / 95.93 (224 / 448); PaliGemma 2 (its
paper's Table 13) 3B 96.1 / 96.2, 10B 98.2 / 98.5, 28B 98.2 / 98.6.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 10.1, pg2_3b 10.6);
v5e-32 (pg2_10b 10.6); v5e-64 (pg2_28b 13.8). 448: v5e-16 (pg1_3b 11.1, pg2_3b 12.0); v5e-32
(pg2_10b 11.9); v5e-64 (pg2_28b 15.4). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b
3.4); v5e-32 (pg2_10b 5.8); v5e-64 (pg2_28b 7.8). 448: v5e-16 (pg1_3b 3.6, pg2_3b 4.3); v5e-32
(pg2_10b 6.7); v5e-64 (pg2_28b 8.1).
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["science_qa"]
EVALS = {"minitrain": "train[:5%]", "minival": "val", "test": "test"}


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=448, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  text_len, prompt, target = PUBLISHED.text_len, PUBLISHED.prompt, PUBLISHED.suffix
  c.input.data = common.tfds_source("science_qa", "train+val" if args.final_split else "train",
                                    args)
  c.input.pp = pp.paligemma_train_pp(
      res, text_len, prompt, "target", antialias=False,
      before=("shuffle_choices", f'strfmt({target!r}, outkey="target")'))
  eval_pp = pp.paligemma_eval_pp(res, text_len, prompt, keep_keys=("answer", "question_id"),
                                 antialias=False, before=(f'strfmt({target!r}, outkey="answer")',))
  c.evals = {f"science_qa_{name}": dict(
      type="science_qa", data=common.tfds_source("science_qa", split, args), pp=eval_pp,
      batch_size=64, every="12.5%", max_decode_len=text_len) for name, split in EVALS.items()}
  common.monitor_evals(c, "science_qa", common.tfds_source("science_qa", "train", args),
                       c.input.pp, every="5%", splits={"minitrain": "train[:5%]",
                                                       "minival": "val"})
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
