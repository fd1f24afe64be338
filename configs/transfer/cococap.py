"""COCO captions (Karpathy split) transfer: `--config configs/transfer/cococap.py:res=224[,demo]`.

Published (big_vision): prefix "caption en", text_len 32, res 224, 5 epochs, beam search with 2
beams at eval (adam b2 0.999, lr 1e-5, wd 1e-6, clip 1.0, cosine with 5% warm-up, batch 256 as the
other transfers). One training example per image with one of its captions picked at random.
Scored with CIDEr on the Karpathy validation split (`final_split`: train+restval+val, test).
"""
from configs import common
import pp

PREFIX = "caption en"
TEXT_LEN = 32


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=224, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = (common.demo_model(res, unroll=args.unroll) if args.demo else
             common.preset_model(res, args.unroll))
  train_split = "train+restval+val" if args.final_split else "train+restval"
  c.input.data = common.tfds_source("coco_captions", train_split, args)
  c.input.pp = pp.paligemma_train_pp(res, TEXT_LEN, PREFIX, "captions", suffix_is_list=True)
  c.input.batch_size = 256
  c.total_epochs = 5
  c.optim = common.transfer_optim()
  eval_split = "test" if args.final_split else "val"
  c.evals = {f"cococap_{eval_split}": dict(
      type="coco_caption", data=common.tfds_source("coco_captions", eval_split, args),
      pp=pp.paligemma_eval_pp(res, TEXT_LEN, PREFIX, keep_keys=("captions", "image_id")),
      batch_size=64, every="1 epochs", max_decode_len=TEXT_LEN,
      sampler=dict(name="beam", beam_size=2))}
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)
