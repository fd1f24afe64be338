"""What the referring-expression transfers (refcoco_seg, refcoco_det) share, as big_vision's
refcoco_seg config: training on ref_coco_bv/refcocox_combined's train split (RefCOCO + RefCOCO+ +
RefCOCOg, one example per image: one of its objects and one of that object's expressions picked),
perplexity monitors on minitrain (train[:5%]) and validation, and decoding evals on the flat
validation/test splits of RefCOCO, RefCOCO+ (testA, testB) and RefCOCOg (test); the prefix is
the published prompt filled with the picked `expression`; images resized without antialiasing.
"""
from configs import common
from configs import published
import pp

TRAIN = "ref_coco_bv/refcocox_combined"
OBJECT = ("objects/mask", "objects/bbox", "objects/refs/sentence")
# The picked object's fields, then one of its expressions; training cycles through an image's
# objects over the epochs (big_vision's choice_no_replacement), the flat eval splits have one.
PICK = ("flatten", f"choice(inkey={list(OBJECT)!r})",
        'choice(inkey="objects/refs/sentence", outkey="expression")')
TRAIN_PICK = ("flatten", f"choice_no_replacement(inkey={list(OBJECT)!r})", PICK[2])
# (eval name, dataset, split, every) as big_vision's add_eval.
EVALS = (("refcoco_val", "ref_coco_bv/refcoco_unc", "validation_flat", "20%"),
         ("refcoco_testA", "ref_coco_bv/refcoco_unc", "testA_flat", "100%"),
         ("refcoco_testB", "ref_coco_bv/refcoco_unc", "testB_flat", "100%"),
         ("refcocoplus_val", "ref_coco_bv/refcocoplus_unc", "validation_flat", "100%"),
         ("refcocoplus_testA", "ref_coco_bv/refcocoplus_unc", "testA_flat", "100%"),
         ("refcocoplus_testB", "ref_coco_bv/refcocoplus_unc", "testB_flat", "100%"),
         ("refcocog_val", "ref_coco_bv/refcocog_umd", "validation_flat", "100%"),
         ("refcocog_test", "ref_coco_bv/refcocog_umd", "test_flat", "100%"))


def config(transfer: published.Transfer, arg: str | None, target, evaluator: str,
           keep: tuple[str, ...], eval_ops: tuple[str, ...] = (), **defaults):
  """(config, args) of a referring-expression transfer: the ops `target(args)` write the training
  target to "target" from the picked object; each eval keeps the host fields `keep` (after
  `eval_ops`) for `evaluator`. Default res 448; `defaults` adds arguments."""
  c, args, res = common.setup(transfer, arg, res=448, **defaults)
  source = lambda name, split: common.tfds_source(name, split, args)
  c.input.data = source(TRAIN, "train")
  c.input.pp = pp.paligemma_train_pp(res, transfer.text_len, transfer.prompt, "target",
                                     before=TRAIN_PICK + tuple(target(args)), antialias=False)
  c.evals = {name: common.decode_eval(transfer, res, source(data, split), evaluator, keep,
                                      every=every, before=PICK + eval_ops, antialias=False)
             for name, data, split, every in EVALS}
  common.monitor_evals(c, transfer.name, source(TRAIN, "train"), c.input.pp,
                       splits={"minitrain": "train[:5%]", "val": "validation"})
  return c, args
