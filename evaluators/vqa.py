"""Question answering evaluators: "vqa" (exact match, VQA accuracy), "anls" (DocVQA), "vqav2".

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answers_key
(the host field with the reference answers: a list of strings or one string; default "answers"),
metrics (any of "exact", "vqa_accuracy", "vqav2", "anls"; each type has its default), to_lower
(lower-case predictions and answers before scoring, as big_vision's `to_lower`; default False).
Padding "" entries of the answer lists (the eval batches pad lists to the longest) are dropped.
"""
from big_paligemma import registry
from evaluators import common
from evaluators.metrics import anls as anls_lib
from evaluators.metrics import vqa as vqa_lib

PER_QUESTION = {"exact": vqa_lib.exact_match, "vqa_accuracy": vqa_lib.vqa_accuracy,
                "vqav2": vqa_lib.vqav2_accuracy, "anls": anls_lib.anls_one}


def answer_list(value) -> list[str]:
  """The reference answers of one record ("" padding dropped)."""
  values = [value] if isinstance(value, str) else list(value)
  return [v for v in values if v != ""]


def qa_scores(answers: list[list[str]], preds: list[str], metrics) -> dict[str, float]:
  """Mean of each per-question metric over all questions."""
  unknown = sorted(set(metrics) - set(PER_QUESTION))
  if unknown:
    raise ValueError(f"Unknown QA metrics {unknown}; choose from {sorted(PER_QUESTION)}.")
  out = {}
  for m in metrics:
    if m == "anls":
      out[m] = anls_lib.anls(answers, preds)
    else:
      out[m] = sum(PER_QUESTION[m](a, p) for a, p in zip(answers, preds)) / len(preds)
  return out


@registry.register("evaluator.vqa")
class VQAEvaluator(common.DecodingEvaluator):
  """Generated answers scored against reference answer lists."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answers_key": "answers",
              "metrics": ("exact", "vqa_accuracy"), "to_lower": False}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answers_key"]
    self.require_fields(records, key)
    case = str.lower if self.cfg["to_lower"] else str
    answers = [[case(a) for a in answer_list(r[key])] for r in records]
    return qa_scores(answers, [case(r["prediction"]) for r in records], self.cfg["metrics"])


@registry.register("evaluator.anls")
class ANLSEvaluator(VQAEvaluator):
  """DocVQA / InfoVQA: ANLS (and exact match)."""

  DEFAULTS = {**VQAEvaluator.DEFAULTS, "metrics": ("anls", "exact")}


@registry.register("evaluator.vqav2")
class VQAv2Evaluator(VQAEvaluator):
  """VQAv2: the official normalised accuracy (and exact match)."""

  DEFAULTS = {**VQAEvaluator.DEFAULTS, "metrics": ("vqav2", "exact")}
