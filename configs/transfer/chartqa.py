"""ChartQA transfer: `--config configs/transfer/chartqa.py:res=448[,demo]`.

Published (big_vision): human + augmented mixed by size (7398 : 20901), text_len 48, 30 epochs,
label smoothing 0.2, LLM dropout 0.1, lr 1e-5, wd 1e-6 (adam b2 0.999, clip 1.0, cosine with 5%
warm-up, batch 256 as the other transfers). Scored with relaxed accuracy on both validation sets.
"""
from configs import common
import pp

PREFIX = "answer en {question}"
TEXT_LEN = 48
SUBSETS = ("human", "augmented")


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=448, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  if args.demo:
    c.model = common.demo_model(res, llm_dropout=0.1, unroll=args.unroll)
  else:
    c.model = common.preset_model(res, args.unroll, llm=dict(dropout=0.1))
  train_split = "train+validation" if args.final_split else "train"
  c.input.data = dict(mixture=[common.tfds_source(f"chartqa/{s}", train_split, args)
                               for s in SUBSETS])
  c.input.pp = pp.paligemma_train_pp(res, TEXT_LEN, PREFIX, "answer")
  c.input.batch_size = 256
  c.total_epochs = 30
  c.optim = common.transfer_optim()
  c.loss.label_smoothing = 0.2
  eval_split = "test" if args.final_split else "validation"
  c.evals = {f"chartqa_{s}_{eval_split}": dict(
      type="chartqa", data=common.tfds_source(f"chartqa/{s}", eval_split, args),
      pp=pp.paligemma_eval_pp(res, TEXT_LEN, PREFIX, keep_keys=("answer", "question_id")),
      batch_size=64, every="5 epochs", max_decode_len=TEXT_LEN) for s in SUBSETS}
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)
