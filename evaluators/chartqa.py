"""ChartQA evaluator (type "chartqa"): relaxed accuracy (5% on numbers) and exact match.

Config keys (besides the common ones): max_decode_len, sampler, answer_key (the host field with
the target string; default "answer"), to_lower (lower-case predictions and targets before both
metrics, as big_vision's chartqa evaluator with `to_lower=True`, which its ChartQA transfer sets;
default False: exact match is case-sensitive, relaxed accuracy compares strings lower-cased).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import chartqa as chartqa_lib


@registry.register("evaluator.chartqa")
class ChartQAEvaluator(common.DecodingEvaluator):
  """Generated answers vs the single target: relaxed_accuracy and exact (stripped equality)."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer", "to_lower": False}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answer_key"]
    self.require_fields(records, key)
    case = str.lower if self.cfg["to_lower"] else str
    targets = [case(fields.single(r[key], key)) for r in records]
    preds = [case(r["prediction"]) for r in records]
    exact = sum(t.strip() == p.strip() for t, p in zip(targets, preds)) / len(preds)
    return {"relaxed_accuracy": chartqa_lib.relaxed_accuracy(targets, preds), "exact": exact}

