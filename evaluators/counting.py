"""Counting evaluator (type "tallyqa"; CountBenchQA uses it too): accuracy of the predicted count.

Scored as big_vision's TallyQA evaluator (see metrics/counting.py): the decoded answer and the
target pass through the number-word table and are compared as text.

Metrics: acc and num over the whole split; acc/count_<n> per target count n (the numeral); with
simple_key also acc/simple, num/simple, acc/complex, num/complex (TallyQA's split: the field is 1
for simple questions, 0 for complex ones, and -1 for unannotated ones, which count only in acc).
The simple/complex split is whatever the data marks: the evaluator reports what it gets.

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answer_key (the host
field with the target count, an int or its text; default "answer"), simple_key (the host field
with TallyQA's `issimple`; default None: no simple/complex breakdown).
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import counting
from evaluators.metrics import grouped

_SPLITS = {1: "simple", 0: "complex"}


@registry.register("evaluator.tallyqa")
class TallyQAEvaluator(common.DecodingEvaluator):
  """Decoded counts vs the target count: acc, num, per count and per simple/complex split."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answer_key": "answer", "simple_key": None}

  def score(self, records: list[dict]) -> dict[str, float]:
    key, simple_key = self.cfg["answer_key"], self.cfg["simple_key"]
    self.require_fields(records, key, *([simple_key] if simple_key else []))
    targets = [counting.to_numeral(str(fields.single(r[key], key))) for r in records]
    correct = [float(counting.count_match(t, r["prediction"])) for t, r in zip(targets, records)]
    out = {"acc": sum(correct) / len(correct), "num": float(len(correct))}
    out.update({f"acc/count_{t}": v for t, v in grouped.group_means(correct, targets).items()})
    if simple_key:
      out.update(_split_scores(correct, [_split(r[simple_key], simple_key) for r in records]))
    return out


def _split(value, key: str) -> str | None:
  value = int(fields.single(value, key))
  if value not in (1, 0, -1):
    raise ValueError(f"Field {key!r} must be 1 (simple), 0 (complex) or -1 (unannotated), "
                     f"got {value}.")
  return _SPLITS.get(value)


def _split_scores(correct: list[float], splits: list[str | None]) -> dict[str, float]:
  kept = [(c, s) for c, s in zip(correct, splits) if s is not None]
  means = grouped.group_means([c for c, _ in kept], [s for _, s in kept])
  counts = grouped.group_counts([s for _, s in kept])
  out = {}
  for s in ("simple", "complex"):
    if s in means:
      out[f"acc/{s}"], out[f"num/{s}"] = means[s], float(counts[s])
  return out
