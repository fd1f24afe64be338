"""What the question-answering transfer configs (vqav2, textvqa, okvqa, aokvqa_*, gqa, vizwizvqa,
ai2d, stvqa, infovqa, ocrvqa) share: the common start, their decoding evals and the end
(common.setup, common.decode_eval, common.finish, which other families use too), the data
source and training pp, and the whole config of the lower-cased ANLS transfers (stvqa, infovqa).

Each config reads its published row (configs/published.py) and big_vision's splits; these
helpers only assemble the pieces every such config has (see configs/transfer/docvqa.py for the
same written out).
"""
import ml_collections

from configs import common
from configs import published
import pp

# The generic pieces moved to configs/common.py (the caption transfers use them too).
setup = common.setup
decode_eval = common.decode_eval
finish = common.finish


def source(name: str, args):
  """split -> the TFDS source of dataset `name` at `split` (the demo's data_dir with `demo`)."""
  return lambda split: common.tfds_source(name, split, args)


def train_pp(transfer: published.Transfer, res: int, suffix_key: str, **kwargs) -> str:
  """The training pp: the published prompt and text length, `suffix_key` as the target."""
  return pp.paligemma_train_pp(res, transfer.text_len, transfer.prompt, suffix_key, **kwargs)


def lowercased_anls(transfer: published.Transfer, arg: str | None, dataset: str,
                    test_format: str) -> ml_collections.ConfigDict:
  """ST-VQA / InfographicVQA as big_vision: answers lower-cased in the pp, one picked as the
  suffix; trains on train (final_split: train+val) and scores val with ANLS lower-cased, with
  perplexity monitors on train[:5%] and val (final_split: writes the test server's file for
  test in `test_format`). Default res 896."""
  c, args, res = setup(transfer, arg, res=896)
  data, lower = source(dataset, args), ('lower(key="answers")',)
  c.input.data = data("train+val" if args.final_split else "train")
  c.input.pp = train_pp(transfer, res, "answers", suffix_is_list=True, before=lower,
                        pick="choice_no_replacement")
  if args.final_split:
    c.evals = {f"{dataset}_test": decode_eval(
        transfer, res, data("test"), "storepreds", ("question_id",), every="100%",
        format=test_format, outfile=f"{dataset}_test_predictions.json")}
  else:
    c.evals = {f"{dataset}_val": decode_eval(
        transfer, res, data("val"), "anls", ("answers", "question_id"), every="10%",
        before=lower, to_lower=transfer.to_lower)}
    common.monitor_evals(c, dataset, data("train"), c.input.pp, every="5%",
                         splits={"minitrain": "train[:5%]", "val": "val"})
  return finish(c, args)
