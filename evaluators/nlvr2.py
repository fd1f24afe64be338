"""NLVR2 / MaRVL evaluator (type "nlvr2"): accuracy of "True" / "False" answers.

Scored as the official NLVR2 evaluation (see metrics/nlvr2.py): right when the answer equals the
label, ignoring case. Metrics: acc, valid (the fraction of answers that are "true" or "false" in any
case), num, and with id_key consistency (the fraction of NLVR2 sentences all of whose examples are
right; needs NLVR2's "split-set-pair-sentence" identifiers).

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answer_key (the host
field with the label, "True"/"False" or a bool; default "answer"), id_key (default None).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import nlvr2


@registry.register("evaluator.nlvr2")
class NLVR2Evaluator(common.DecodingEvaluator):
  """True/false answers vs labels: acc, valid, num (and consistency)."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer", "id_key": None}

  def score(self, records: list[dict]) -> dict[str, float]:
    key, id_key = self.cfg["answer_key"], self.cfg["id_key"]
    self.require_fields(records, key, *([id_key] if id_key else []))
    labels = [nlvr2.label_text(fields.single(r[key], key)) for r in records]
    bad = [l for l in labels if not nlvr2.is_valid(l)]
    if bad:
      raise ValueError(f"evals.{self.name}: NLVR2 labels must be 'True' or 'False'; got "
                       f"{bad[0]!r} ({len(bad)} such labels).")
    preds = [r["prediction"] for r in records]
    correct = [nlvr2.is_correct(l, p) for l, p in zip(labels, preds)]
    n = len(preds)
    out = {"acc": sum(correct) / n, "valid": sum(map(nlvr2.is_valid, preds)) / n, "num": float(n)}
    if id_key:
      out["consistency"] = nlvr2.consistency([r[id_key] for r in records], correct)
    return out
