"""DocVQA (SP-DocVQA) transfer: `--config configs/transfer/docvqa.py:res=448[,final_split][,demo]`.

Published (big_vision): prefix "answer en {question}", suffix one of the answers, text_len 32,
res 896, 10 epochs, batch 256, adam b2 0.999, lr 1e-5, wd 1e-6, clip 1.0, cosine with 5% warmup.
Scored with ANLS on the validation split; `final_split` trains on train+validation and stores
predictions for the test split (no public answers).
"""
from configs import common
import pp

PREFIX = "answer en {question}"
TEXT_LEN = 32


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=896, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = (common.demo_model(res, unroll=args.unroll) if args.demo else
             common.preset_model(res, args.unroll))
  train_split = "train+validation" if args.final_split else "train"
  c.input.data = common.tfds_source("docvqa", train_split, args)
  c.input.pp = pp.paligemma_train_pp(res, TEXT_LEN, PREFIX, "answers", suffix_is_list=True)
  c.input.batch_size = 256
  c.total_epochs = 10
  c.optim = common.transfer_optim()
  eval_split = "test" if args.final_split else "validation"
  c.evals = {f"docvqa_{eval_split}": dict(
      type="storepreds" if args.final_split else "anls",
      data=common.tfds_source("docvqa", eval_split, args),
      pp=pp.paligemma_eval_pp(res, TEXT_LEN, PREFIX, keep_keys=("answers", "question_id")),
      batch_size=64, every="1 epochs", max_decode_len=TEXT_LEN)}
  if args.final_split:  # The RRC submission file for the test server.
    c.evals[f"docvqa_{eval_split}"].update(format="docvqa", id_key="question_id",
                                           outfile="docvqa_test_predictions.json")
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)
