"""TallyQA transfer, evaluated on TallyQA (simple/complex) and CountBenchQA:
`--config configs/transfer/tallyqa.py:res=224[,model=pg2_3b][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/tallyqa.py; configs/published.py): prefix "answer en
{question}", suffix the count ("{answer}"), text_len 32, batch 256, adam b2 0.999, clip 1.0, cosine
with 5% warm-up; 2 epochs, lr 1e-5 with wd 0 (224), 1e-6 (448); lr 7e-6, wd 7e-7 (896); PaliGemma 2:
the 224 recipe at 224 and 448 with lr 6e-6 (3B), 6e-7 (10B), 3e-6 (28B) (arXiv 2412.03555 Table 14).
Trains on all of train (big_vision holds nothing out) and monitors perplexity on minitrain
(train[:5%]) and test; decodes (greedy) minitrain, test (acc, acc/simple, acc/complex through
`issimple`) and CountBenchQA's `huggingface` split (acc; its answer is `number`).
Published accuracy: PaliGemma 3B simple 81.72 / 84.86, complex 69.56 / 72.27 (224 / 448),
CountBenchQA 81.9 / 83.1 (its paper's Table 1); PaliGemma 2 (its paper's Table 13) simple 3B 81.8 /
85.3, 10B 83.2 / 86.2, 28B 83.4 / 85.7, complex 3B 70.3 / 73.6, 10B 73.4 / 76.7, 28B 74.2 / 76.8,
CountBenchQA 3B 81.0 / 82.0, 10B 84.0 / 85.3, 28B 86.4 / 87.4.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6,
pg2_10b 14.4); v5e-64 (pg2_28b 13.2). 448: v5e-16 (pg1_3b 10.6, pg2_3b 10.0); v5e-32 (pg2_10b 12.5);
v5e-64 (pg2_28b 14.0). 896: v5e-32 (pg1_3b 14.3, pg2_3b 15.2); v5e-64 (pg2_10b 12.5); v5e-128
(pg2_28b 12.6). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.7, pg2_3b 2.9, pg2_10b 9.5);
v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.6); v5e-64 (pg2_28b
7.8). 896: v5e-32 (pg1_3b 2.4, pg2_3b 3.0); v5e-64 (pg2_10b 4.7); v5e-128 (pg2_28b 6.7).
"""
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["tallyqa"]
TARGET = f'strfmt({PUBLISHED.suffix!r}, outkey="target")'


def _decode_eval(source: dict, eval_pp: str, every: str, **keys) -> dict:
  return dict(type="tallyqa", data=source, pp=eval_pp, batch_size=64, every=every,
              max_decode_len=PUBLISHED.text_len, **keys)


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=224)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  common.apply_recipe(c, PUBLISHED, args)
  text_len, prompt = PUBLISHED.text_len, PUBLISHED.prompt
  c.input.data = common.tfds_source("tallyqa", "train", args)
  c.input.pp = pp.paligemma_train_pp(res, text_len, prompt, "target", before=(TARGET,))
  tally_pp = pp.paligemma_eval_pp(res, text_len, prompt, keep_keys=("answer", "issimple"))
  c.evals = {
      "tallyqa_minitrain": _decode_eval(common.tfds_source("tallyqa", "train[:5%]", args),
                                        tally_pp, "10%"),
      "tallyqa_test": _decode_eval(common.tfds_source("tallyqa", "test", args), tally_pp, "25%",
                                   simple_key="issimple"),
      "countbenchqa": _decode_eval(
          common.tfds_source("countbenchqa", "huggingface", args),
          pp.paligemma_eval_pp(res, text_len, prompt, keep_keys=("number",)), "10%",
          answer_key="number"),
  }
  common.monitor_evals(c, "tallyqa", common.tfds_source("tallyqa", "train", args), c.input.pp,
                       splits={"minitrain": "train[:5%]", "test": "test"})
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=224)
  return common.published_sweep(hyper, PUBLISHED, args)
