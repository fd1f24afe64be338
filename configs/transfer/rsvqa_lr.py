"""RSVQA-LR transfer (remote sensing VQA, Sentinel-2 tiles; non-numeric questions):
`--config configs/transfer/rsvqa_lr.py:res=224[,model=pg2_3b][,final_split][,freeze_vit]`
`[,demo]`.

Published (big_vision's paligemma/transfers/rsvqa_lr.py; configs/published.py): data
rsvqa/lr_nonum (big_vision's rsvqa_lr/nonum), prefix "answer en {question}", suffix the
lower-cased answer, text_len 32, 3 epochs, lr 3e-6, wd 0, label smoothing 0.2 at 224 and 448 (adam
b2 0.999, clip 1.0, cosine with 5% warm-up, batch 256); PaliGemma 2: lr 3e-6 (3B), 1e-5 (10B),
6e-6 (28B) (arXiv 2412.03555 Table 14). Trains on train (`final_split`:
train+val), monitors perplexity on minitrain (train[:1280]; `:demo` train[:10%]) and minival
(val), and decodes minitrain, minival and test: accuracy per question type and their mean
(acc_avg), lower-cased.
Published mean accuracy (test, train+val): PaliGemma 3B 92.65 / 93.11 (224 / 448); PaliGemma 2
(its paper's Table 13) 3B 93.0 / 92.7, 10B 92.8 / 93.1, 28B 93.5 / 93.7.
rsvqa_hr.py builds its config here too.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b
9.5); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64
(pg2_28b 7.8).
"""
from configs import common
from configs import published
import pp

# Per transfer: its TFDS source, the decoded eval splits {name: (split, every)}.
RELEASES = {
    "rsvqa_lr": dict(source="rsvqa/lr_nonum", evals={
        "minitrain": ("minitrain", "10%"), "minival": ("val", "10%"), "test": ("test", "10%")}),
    # big_vision evaluates HR's large val/test sets only at the end.
    "rsvqa_hr": dict(source="rsvqa/hr_nonum", evals={
        "minitrain": ("minitrain", "10%"), "minival": ("val", "100%"),
        "test": ("test", "100%"), "test_2": ("test_2", "100%")}),
}
# big_vision's minitrain; the demo's train split is smaller than 1280.
MINITRAIN, DEMO_MINITRAIN = "train[:1280]", "train[:10%]"
LOWER = 'lower(key="answers")'  # big_vision lower-cases the references (RSVQA's evaluation)


def build(name: str, arg: str | None):
  """The config of `name` (RELEASES) for the `get_config` argument `arg`."""
  transfer, release = published.TRANSFERS[name], RELEASES[name]
  args = common.get_args(arg, res=224, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, transfer, args)
  text_len, prompt, source = transfer.text_len, transfer.prompt, release["source"]
  c.input.data = common.tfds_source(source, "train+val" if args.final_split else "train", args)
  c.input.pp = pp.paligemma_train_pp(res, text_len, prompt, "answers", suffix_is_list=True,
                                     before=(LOWER,), pick="choice_no_replacement")
  eval_pp = pp.paligemma_eval_pp(res, text_len, prompt, antialias=False, before=(LOWER,),
                                 keep_keys=("answers", "question_type", "question_id"))
  minitrain = DEMO_MINITRAIN if args.demo else MINITRAIN
  c.evals = {f"{name}_{sub}": dict(
      type="rsvqa", data=common.tfds_source(source, minitrain if split == "minitrain" else split,
                                            args),
      pp=eval_pp, batch_size=64, every=every, max_decode_len=text_len, to_lower=transfer.to_lower)
             for sub, (split, every) in release["evals"].items()}
  common.monitor_evals(c, name, common.tfds_source(source, "train", args), c.input.pp,
                       splits={"minitrain": minitrain, "minival": "val"})
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def sweep(name: str, hyper, arg: str | None):
  """`get_hyper` of `name`: its published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, published.TRANSFERS[name], args)


def get_config(arg: str | None = None):
  return build("rsvqa_lr", arg)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  return sweep("rsvqa_lr", hyper, arg)
