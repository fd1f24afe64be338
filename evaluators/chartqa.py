"""ChartQA evaluator (type "chartqa"): relaxed accuracy (5% on numbers) and exact match.

Config keys (besides the common ones): max_decode_len, sampler, answer_key (the host field with
the target string; default "answer").
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import chartqa as chartqa_lib


@registry.register("evaluator.chartqa")
class ChartQAEvaluator(common.DecodingEvaluator):
  """Generated answers vs the single target: relaxed_accuracy and exact (stripped equality)."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer"}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answer_key"]
    self.require_fields(records, key)
    targets = [fields.single(r[key], key) for r in records]
    preds = [r["prediction"] for r in records]
    exact = sum(t.strip() == p.strip() for t, p in zip(targets, preds)) / len(preds)
    return {"relaxed_accuracy": chartqa_lib.relaxed_accuracy(targets, preds), "exact": exact}

