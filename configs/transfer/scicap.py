"""SciCap transfer (first sentence, figures without subfigures):
`--config configs/transfer/scicap.py:res=448[,model=pg2_3b][,final_split][,demo]`.

Published (big_vision's paligemma/transfers/scicap.py; configs/published.py): data
scicap/first_sentence_subfig_no, prefix "caption en", the caption
`caption/lowercase_and_token_and_remove_figure_index` as the target, text_len 96; 80 epochs, lr
3e-5, no weight decay, label smoothing 0.1, LLM dropout 0.1 at 224 and 448 (PaliGemma 2: the same
lr is the best of every size), adam b2 0.999, clip 1.0, cosine with 5% warm-up, batch 256; greedy
decoding. Trains on train (`final_split`: train+val), tunes on val; scored with CIDEr and BLEU-4
on val and test (published: test), perplexity monitors on minitrain (train[:5%]), val and test.
Published CIDEr (test): PaliGemma 3B 162.3 / 181.5 (BLEU-4 0.192 / 0.211); PaliGemma 2 3B 165.1 /
183.3, 10B 159.5 / 177.2, 28B 156.9 / 172.7.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 224: v5e-16 (pg1_3b 6.8, pg2_3b 7.3,
pg2_10b 14.7); v5e-64 (pg2_28b 13.4). 448: v5e-16 (pg1_3b 12.0, pg2_3b 10.9); v5e-32 (pg2_10b 12.1);
v5e-64 (pg2_28b 14.6). Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.8, pg2_3b 3.0, pg2_10b
9.7); v5e-64 (pg2_28b 7.5). 448: v5e-16 (pg1_3b 3.2, pg2_3b 3.7); v5e-32 (pg2_10b 5.8); v5e-64
(pg2_28b 7.8).
"""
from big_paligemma.data.datasets import scicap as scicap_data
from configs import captions
from configs import common
from configs import published

PUBLISHED = published.TRANSFERS["scicap"]
DATASET = "scicap/first_sentence_subfig_no"


def get_config(arg: str | None = None):
  c, args, res = common.setup(PUBLISHED, arg, res=448)
  data = lambda split: common.tfds_source(DATASET, split, args)
  c.input.data = data("train+val" if args.final_split else "train")
  c.input.pp = captions.train_pp(PUBLISHED, res, scicap_data.CAPTION, is_list=False)
  c.evals = {f"scicap_{split}": captions.caption_eval(
      PUBLISHED, res, data(split), scicap_data.CAPTION, every="30%", metrics=("cider", "bleu4"))
             for split in ("val", "test")}
  common.monitor_evals(c, "scicap", data("train"), c.input.pp,
                       splits={"minitrain": "train[:5%]", "val": "val", "test": "test"})
  return common.finish(c, args)


def get_hyper(hyper, arg: str | None = None):
  """`python -m tools.sweep`: the published resolutions (demo: two learning rates)."""
  args = common.get_args(arg, res=448, final_split=False)
  return common.published_sweep(hyper, PUBLISHED, args)
