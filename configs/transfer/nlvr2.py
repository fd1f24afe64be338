"""NLVR2 transfer (two images per example), evaluated on NLVR2 and MaRVL:
`--config configs/transfer/nlvr2.py:res=224[,model=pg2_3b][,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/nlvr2.py; configs/published.py): both images
(image_left, image_right) resized without antialiasing and stacked into "images" [2,res,res,3]
(their 2P tokens ahead of the text, models/paligemma.py), prefix "answer en {sentence}", suffix the
label ("True"/"False"), text_len 64, batch 256, adam b2 0.999, clip 1.0, cosine with 5% warm-up; 3
epochs, lr 1e-5, wd 1e-6 (224); 10 epochs, lr 3e-6, wd 3e-7 (448); PaliGemma 2: the 224 recipe at
224 and 448 with lr 6e-6 (3B), 1e-6 (10B), 3e-6 (28B) (arXiv 2412.03555 Table 14). Trains on train
(`final_split`: train+dev) and decodes minitrain (train[:10000]; `:demo` train[:10%]), dev, test and
MaRVL's five test languages: accuracy (NLVR2 also consistency over each sentence's examples).
Published accuracy (train+dev): PaliGemma 3B NLVR2 test 90.02 / 88.93 (224 / 448); MaRVL mean over
id, sw, ta, tr, zh 80.57 / 76.78. PaliGemma 2 (its paper's Table 13): NLVR2 3B 91.4 / 91.6, 10B 93.9
/ 93.7, 28B 94.2 / 94.1; MaRVL 3B 83.5 / 82.7, 10B 89.5 / 89.1, 28B 90.6 / 89.7.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 7.4, pg2_3b 7.6);
v5e-32 (pg2_10b 9.4); v5e-64 (pg2_28b 14.2). 448: v5e-16 (pg1_3b 15.4, pg2_3b 15.3); v5e-32 (pg2_10b
15.0); v5e-128 (pg2_28b 10.5). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.9, pg2_3b 3.2);
v5e-32 (pg2_10b 5.1); v5e-64 (pg2_28b 7.6). 448: v5e-16 (pg1_3b 3.7, pg2_3b 4.9); v5e-32 (pg2_10b
6.5); v5e-128 (pg2_28b 5.9).
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["nlvr2"]
IMAGES = ("image_left", "image_right")
NLVR2_EVALS = {"minitrain": "train[:10000]", "dev": "dev", "test": "test"}
DEMO_MINITRAIN = "train[:10%]"  # the demo's train split is smaller than 10000
MARVL_LANGUAGES = ("id", "sw", "ta", "tr", "zh")


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=224, final_split=False)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  text_len, prompt = PUBLISHED.text_len, PUBLISHED.prompt
  c.input.data = common.tfds_source("nlvr2", "train+dev" if args.final_split else "train", args)
  c.input.pp = pp.paligemma_train_pp(res, text_len, prompt, "label", antialias=False,
                                     image_keys=IMAGES)
  eval_pp = pp.paligemma_eval_pp(res, text_len, prompt, keep_keys=("label", "example_id"),
                                 image_keys=IMAGES, antialias=False)

  def decode(source: dict, **keys) -> dict:
    return dict(type="nlvr2", data=source, pp=eval_pp, batch_size=64, every="10%",
                max_decode_len=text_len, answer_key="label", **keys)

  splits = dict(NLVR2_EVALS, **({"minitrain": DEMO_MINITRAIN} if args.demo else {}))
  c.evals = {f"nlvr2_{name}": decode(common.tfds_source("nlvr2", split, args),
                                     id_key="example_id") for name, split in splits.items()}
  c.evals.update({f"marvl_test_{lang}": decode(common.tfds_source("marvl", f"test_{lang}", args))
                  for lang in MARVL_LANGUAGES})
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
