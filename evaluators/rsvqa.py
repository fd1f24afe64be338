"""RSVQA evaluator (type "rsvqa", for RSVQA-LR and -HR): accuracy per question type and their mean.

Scored as the RSVQA paper and big_vision's RSVQA evaluator (see metrics/rsvqa.py): an answer is
right when it equals one of the references (both lower-cased when to_lower).

Metrics: acc (OA: mean over questions), acc_<type> per question type, acc_avg (AA: the mean of the
per-type accuracies over average_types, or over every type present; the published PaliGemma number
is this mean over the non-numeric types, `metrics.rsvqa.NON_NUMERIC_TYPES`), num.

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answers_key (the
references: a list of strings or one string; default "answers"), type_key (the host field with the
question type, e.g. "comp", "presence", "rural_urban", "count", "area"; default "question_type"),
to_lower (default True, as big_vision's RSVQA configs), average_types (default None: all types
present; a type listed without questions is an error).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import rsvqa


@registry.register("evaluator.rsvqa")
class RSVQAEvaluator(common.DecodingEvaluator):
  """Decoded answers vs references: acc, acc_<type>, acc_avg, num."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answers_key": "answers",
              "type_key": "question_type", "to_lower": True, "average_types": None}

  def score(self, records: list[dict]) -> dict[str, float]:
    answers_key, type_key = self.cfg["answers_key"], self.cfg["type_key"]
    self.require_fields(records, answers_key, type_key)
    correct = [rsvqa.answer_match(fields.answer_list(r[answers_key]), r["prediction"],
                                  self.cfg["to_lower"]) for r in records]
    per_type = rsvqa.type_accuracies(correct, [fields.single(r[type_key], type_key)
                                               for r in records])
    types = self.cfg["average_types"]
    return {"acc": sum(correct) / len(correct),
            **{f"acc_{t}": v for t, v in sorted(per_type.items())},
            "acc_avg": rsvqa.average_accuracy(per_type, None if types is None else list(types)),
            "num": float(len(correct))}
