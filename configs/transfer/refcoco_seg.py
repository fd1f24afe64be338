"""RefCOCO referring segmentation from jsonl files:
`--config configs/transfer/refcoco_seg.py:res=448,train=T.jsonl,val=V.jsonl,vae=vae-oid.npz`.

Data: the output of `tools/make_seg_targets.py` (lines with image, mask, expression, box,
seg_codes, prefix, suffix; mask paths relative to the jsonl file's folder). Training target: the
box's 4 `<loc>` tokens then the mask's 16 `<seg>` codes (pp.seg_suffix). The validation split is
scored by the refcoco_seg evaluator (mIoU, cIoU, invalid answers) against the ground-truth masks at
the images' original size (`size`, kept before the resize), decoding masks with `vae`.

Published (big_vision's paligemma/transfers/refcoco_seg.py, its per-resolution best settings):
text_len 48, 100 epochs, label smoothing 0.3, adam b2 0.999, clip 1.0, cosine with 5% warm-up,
no weight decay; res 224: lr 3e-5, LLM dropout 0.1, batch 256; res 448: lr 1e-5, batch 256;
res 896: lr 1e-5, batch 64; decoding up to text_len tokens. big_vision's prefix is the bare
expression; here it is "segment {expression}" (PaliGemma's segmentation prompt).
"""
from configs import common
import pp
from big_paligemma import config as config_lib
from big_paligemma import fs

PREFIX = "segment {expression}"
TEXT_LEN = 48
# res -> (lr, LLM dropout, batch size) of big_vision's best settings.
BEST = {224: (3e-5, 0.1, 256), 448: (1e-5, 0.0, 256), 896: (1e-5, 0.0, 64)}


def train_pp(res: int) -> str:
  """The box + seg codes target, then the standard PaliGemma training layout."""
  return "seg_suffix|" + pp.paligemma_train_pp(res, TEXT_LEN, PREFIX, "suffix")


def eval_pp(res: int, data_root: str) -> str:
  """Prompt-only text plus the ground-truth mask at the original size and that size [h, w]."""
  mask = f"decode_mask(root={data_root!r})|keep_size(key=\"mask\", outkey=\"size\")"
  return mask + "|" + pp.paligemma_eval_pp(res, TEXT_LEN, PREFIX, keep_keys=("mask", "size"))


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=448, train="refcoco_seg/train.jsonl",
                         val="refcoco_seg/validation.jsonl", vae="vae-oid.npz")
  if args.demo:
    raise config_lib.ConfigError("refcoco_seg has no :demo mode; give train=, val= (outputs of "
                                    "tools/make_seg_targets.py) and vae=.")
  c = common.base_config()
  c.model = common.preset_model(args.res, args.unroll)  # Checks res.
  lr, dropout, batch_size = BEST[args.res]
  c.model.overrides.llm["dropout"] = dropout
  c.input.data = {"jsonl": args.train}
  c.input.pp = train_pp(args.res)
  c.input.batch_size = batch_size
  c.total_epochs = 100
  c.optim = common.transfer_optim()
  c.optim.update(lr=lr, wd=0.0)
  c.loss.label_smoothing = 0.3
  c.evals = {"refcoco_seg_val": dict(
      type="refcoco_seg", data={"jsonl": args.val},
      pp=eval_pp(args.res, fs.dirname(args.val)), batch_size=64, every="20%",
      max_decode_len=TEXT_LEN, vae_path=args.vae, mask_key="mask", size_key="size")}
  return common.apply_args(c, args)
