"""POPE (object hallucination, yes/no questions), evaluation only, of a VQAv2 transfer:
`python -m evaluators.run --config configs/transfer/pope.py:res=224[,model=pg2_3b] --ckpt RUN`
(or `trainers.train` with `init=RUN`: it trains 0 steps and evaluates the initial params).

Published (big_vision's paligemma/transfers/pope.py; configs/published.py): prompt the bare
question ("{question}"), text_len 48, greedy decoding; the test split of each of POPE's three
sets (random, popular, adversarial), scored with accuracy, precision, recall, F1 and yes ratio.
There is no training data: as big_vision, config.input is the three sets with the training pp and
the run is 0 steps long (lr 0). `:demo` instead trains the tiny demo model on the demo's POPE
questions for the demo's steps (only to exercise the pipeline).
Published accuracy (random / popular / adversarial), PaliGemma 3B VQAv2 transfer: 87.80 / 85.87 /
84.27 (224), 88.23 / 86.77 / 85.90 (448).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.5); v5e-32 (pg2_28b 13.3). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6, pg2_10b 11.2); v5e-32 (pg2_28b
14.3).
"""
from big_paligemma import config as config_lib
from configs import common
from configs import published
import pp

PUBLISHED = published.TRANSFERS["pope"]
SETS = ("random", "popular", "adversarial")


def get_config(arg: str | None = None):
  args = common.get_args(arg, res=224)
  if not args.demo and args.res not in PUBLISHED.scores["pg1_3b"]:
    raise config_lib.ConfigError(f"pope is published at res {sorted(PUBLISHED.scores['pg1_3b'])}"
                                 f" (its VQAv2 transfer's), not res={args.res}.")
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = common.transfer_model(args)
  text_len, prompt = PUBLISHED.text_len, PUBLISHED.prompt
  c.input.data = dict(mixture=[dict(common.tfds_source(f"pope/{s}", "test", args), weight=1.0)
                               for s in SETS])
  c.input.pp = pp.paligemma_train_pp(res, text_len, prompt, "answer", antialias=False)
  c.total_epochs, c.total_steps = None, 0
  c.optim = common.transfer_optim()
  c.optim.update(lr=0.0, wd=0.0, schedule=dict(decay_type="constant"))
  c.eval_at_start = True  # The only evaluation of a 0-step run.
  eval_pp = pp.paligemma_eval_pp(res, text_len, prompt, keep_keys=("answer", "question_id"),
                                 antialias=False)
  c.evals = {f"pope_{s}": dict(type="pope", data=common.tfds_source(f"pope/{s}", "test", args),
                               pp=eval_pp, batch_size=64, every="100%", max_decode_len=text_len)
             for s in SETS}
  if args.demo:
    common.shrink_for_demo(c)
  return common.apply_args(c, args)
