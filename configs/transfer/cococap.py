"""COCO captions (Karpathy split) transfer:
`--config configs/transfer/cococap.py:res=224[,model=pg2_3b][,demo]`.

Published (big_vision's paligemma/transfers/cococap.py; configs/published.py): prefix
"caption en", text_len 32, 5 epochs (one per caption), lr 1e-5, wd 1e-6 at 224 and 448, beam
search with 2 beams at eval (adam b2 0.999, clip 1.0, cosine with 5% warm-up, batch 256). One
training example per image with one of its captions picked at random. Scored with CIDEr on the
Karpathy validation split (`final_split`: train+restval+val, test).
Published CIDEr: PaliGemma 3B 141.9 / 144.6; PaliGemma 2 3B 141.3 / 143.4.
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["cococap"]
PREFIX = PUBLISHED.prompt
TEXT_LEN = PUBLISHED.text_len


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=224, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  train_split = "train+restval+val" if args.final_split else "train+restval"
  c.input.data = common.tfds_source("coco_captions", train_split, args)
  c.input.pp = pp.paligemma_train_pp(res, TEXT_LEN, PREFIX, "captions", suffix_is_list=True)
  eval_split = "test" if args.final_split else "val"
  c.evals = {f"cococap_{eval_split}": dict(
      type="coco_caption", data=common.tfds_source("coco_captions", eval_split, args),
      pp=pp.paligemma_eval_pp(res, TEXT_LEN, PREFIX, keep_keys=("captions", "image_id")),
      batch_size=64, every="1 epochs", max_decode_len=TEXT_LEN,
      sampler=dict(PUBLISHED.decode))}
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
