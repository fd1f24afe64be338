"""Multiple-choice evaluators: "science_qa" (letters) and "aokvqa_mc" (choice texts).

Parsed as big_vision (see metrics/choices.py).
science_qa: the answer must open with "The answer is X." (any case); the target is that sentence for
  the right letter or the bare letter. Metrics: acc, parsefail (fraction of answers without the
  sentence; they count as wrong), num.
aokvqa_mc: right when the answer equals the text of the correct choice. Metrics: acc, num, and
  with choices_key invalid (fraction of answers that are none of the choices; they are wrong).

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answer_key (the
target; default "answer"); aokvqa_mc also choices_key (the host field with the choice texts, a list
of strings; default "choices"; None: no invalid count).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import choices as choices_lib


@registry.register("evaluator.science_qa")
class ScienceQAEvaluator(common.DecodingEvaluator):
  """"The answer is X." letters vs the target letter: acc, parsefail, num."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer"}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answer_key"]
    self.require_fields(records, key)
    letters = [choices_lib.science_qa_letter(r["prediction"]) for r in records]
    targets = [choices_lib.science_qa_target(fields.single(r[key], key)) for r in records]
    n = len(records)
    return {"acc": sum(l == t for l, t in zip(letters, targets)) / n,
            "parsefail": sum(l is None for l in letters) / n, "num": float(n)}


@registry.register("evaluator.aokvqa_mc")
class AOKVQAMultipleChoiceEvaluator(common.DecodingEvaluator):
  """Answer texts vs the correct choice's text: acc, invalid, num."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer",
              "choices_key": "choices"}

  def score(self, records: list[dict]) -> dict[str, float]:
    key, choices_key = self.cfg["answer_key"], self.cfg["choices_key"]
    self.require_fields(records, key, *([choices_key] if choices_key else []))
    targets = [fields.single(r[key], key) for r in records]
    n = len(records)
    out = {"acc": sum(r["prediction"] == t for r, t in zip(records, targets)) / n,
           "num": float(n)}
    if choices_key:
      options = [fields.answer_list(r[choices_key]) for r in records]
      for t, o, r in zip(targets, options, records):
        if t not in o:
          raise ValueError(f"evals.{self.name}: the target {t!r} is not one of the choices {o} "
                           f"(record {r['_index']}).")
      out["invalid"] = sum(choices_lib.choice_index(r["prediction"], o) is None
                           for r, o in zip(records, options)) / n
    return out
