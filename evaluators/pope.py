"""POPE evaluator (type "pope"): accuracy, precision, recall, F1 and yes ratio of yes/no answers.

Answers are parsed to yes/no as the official POPE script does (see metrics/pope.py: "no" when the
first sentence has the word "No", "no" or "not", else "yes"). Metrics: acc, precision, recall, f1,
yes_ratio, valid (the fraction of answers that are exactly "yes" or "no" in any case, big_vision's
`valid_percent`), num.

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answer_key (the host
field with the label "yes" or "no"; default "answer"; any other label is an error).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import pope


@registry.register("evaluator.pope")
class POPEEvaluator(common.DecodingEvaluator):
  """Free-form answers vs yes/no labels: acc, precision, recall, f1, yes_ratio, valid, num."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer"}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answer_key"]
    self.require_fields(records, key)
    labels = [fields.single(r[key], key) for r in records]
    bad = [l for l in labels if l not in ("yes", "no")]
    if bad:
      raise ValueError(f"evals.{self.name}: POPE labels must be 'yes' or 'no'; got {bad[0]!r} "
                       f"({len(bad)} such labels).")
    preds = [r["prediction"] for r in records]
    valid = sum(p.lower() in ("yes", "no") for p in preds) / len(preds)
    return {**pope.pope_scores(labels, preds), "valid": valid, "num": float(len(preds))}
