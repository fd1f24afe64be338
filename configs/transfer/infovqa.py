"""InfographicVQA transfer: `--config configs/transfer/infovqa.py:res=896[,model=pg2_3b]`
`[,final_split][,freeze_vit][,demo]`.

Published (big_vision's paligemma/transfers/infovqa.py; configs/published.py): prefix "answer en
{question}", suffix one of the lower-cased answers, text_len 48, 3 epochs, label smoothing 0.4; lr
1e-5, wd 1e-6, batch 256 at 224 and 128 at 448; lr 3e-6, wd 3e-7, batch 32 at 896; PaliGemma 2: the
224 recipe at 224 and 448 with lr 3e-6 (3B), 6e-7 (10B), 3e-7 (28B) (arXiv 2412.03555 Table 14).
Trains on train and scores val (its multi-span answers in every order) with ANLS, lower-cased as the
official evaluation; perplexity monitors on train[:5%] and val. `final_split` trains on train+val
and writes the test server's RRC file for test.
Published ANLS (test server): PaliGemma 3B 28.46 (224) / 40.47 (448) / 47.75 (896); PaliGemma 2
(val, its paper's Table 13) 3B 25.2 / 37.5, 10B 33.6 / 47.8, 28B 36.4 / 46.7 (224 / 448).

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 5.6, pg2_3b 6.1,
pg2_10b 13.8); v5e-64 (pg2_28b 13.3). 448: v5e-16 (pg1_3b 8.4, pg2_3b 10.1); v5e-32 (pg2_10b 11.6);
v5e-64 (pg2_28b 14.1). 896: v5e-16 (pg1_3b 8.8, pg2_3b 9.0); v5e-32 (pg2_10b 10.0); v5e-64 (pg2_28b
14.5). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b 9.5); v5e-64
(pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.6); v5e-32 (pg2_10b 5.7); v5e-64 (pg2_28b 7.8).
896: v5e-16 (pg1_3b 11.0, pg2_3b 11.1); v5e-32 (pg2_10b 8.3); v5e-64 (pg2_28b 10.1).
"""
from configs import common
from configs import published
from configs import qa

PUBLISHED = published.TRANSFERS["infovqa"]


def get_config(arg: str | None = None):
  return qa.lowercased_anls(PUBLISHED, arg, "infovqa", test_format="docvqa")


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=896, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
