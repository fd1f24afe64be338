"""Question answering evaluators: "vqa" (exact match, VQA accuracy), "anls" (DocVQA), "vqav2".

Config keys (besides the common ones, see common.py): max_decode_len, sampler, answers_key
(the host field with the reference answers: a list of strings or one string; default "answers"),
metrics (any of "exact", "vqa_accuracy", "vqav2", "anls"; each type has its default), to_lower
(lower-case predictions and answers before scoring, as big_vision's `to_lower`; default False),
exclude_key (default None: a boolean host field; when given, every metric is also reported over
the questions where it is false, as "<metric>/without_<exclude_key>", with their number
"num/without_<exclude_key>": A-OKVQA's official direct-answer score leaves out the questions
marked `direct_answer_is_difficult`, which big_vision's score keeps).
Padding "" entries of the answer lists (the eval batches pad lists to the longest) are dropped.

"vqav2" also takes answer_type_key (default None): the host field with each question's answer type
("yes/no", "number", "other" in the VQAv2 annotations). When given, it reports beside the overall
"vqav2" accuracy the mean accuracy of each answer type, "vqav2/yesno", "vqav2/number",
"vqav2/other" (the "perAnswerType" averages of the official vqaEval.py; the overall accuracy stays
the mean over all questions), and the number of questions of each, "num/yesno", ...
"""
from big_paligemma import registry
from evaluators import common
from evaluators import fields
from evaluators.metrics import anls as anls_lib
from evaluators.metrics import vqa as vqa_lib

PER_QUESTION = {"exact": vqa_lib.exact_match, "vqa_accuracy": vqa_lib.vqa_accuracy,
                "vqav2": vqa_lib.vqav2_accuracy, "anls": anls_lib.anls_one}


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


def _flag(value, key: str) -> bool:
  value = fields.single(value, key)
  if not isinstance(value, (bool, int)) or value not in (0, 1):
    raise ValueError(f"exclude_key {key!r} must hold a boolean per example, got {value!r}.")
  return bool(value)


@registry.register("evaluator.vqa")
class VQAEvaluator(common.DecodingEvaluator):
  """Generated answers scored against reference answer lists."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "answers_key": "answers",
              "metrics": ("exact", "vqa_accuracy"), "to_lower": False, "exclude_key": None}

  def score(self, records: list[dict]) -> dict[str, float]:
    key = self.cfg["answers_key"]
    self.require_fields(records, key)
    answers, preds = self.references_and_predictions(records)
    out = qa_scores(answers, preds, self.cfg["metrics"])
    exclude = self.cfg["exclude_key"]
    if exclude:
      self.require_fields(records, exclude)
      kept = [i for i, r in enumerate(records) if not _flag(r[exclude], exclude)]
      if kept:
        sub = qa_scores([answers[i] for i in kept], [preds[i] for i in kept], self.cfg["metrics"])
        out.update({f"{m}/without_{exclude}": v for m, v in sub.items()})
      out[f"num/without_{exclude}"] = float(len(kept))
    return out

  def references_and_predictions(self, records: list[dict]) -> tuple[list[list[str]], list[str]]:
    """The reference lists and predictions of the records, lower-cased when to_lower."""
    case = str.lower if self.cfg["to_lower"] else str
    key = self.cfg["answers_key"]
    answers = [[case(a) for a in fields.answer_list(r[key])] for r in records]
    return answers, [case(r["prediction"]) for r in records]


@registry.register("evaluator.anls")
class ANLSEvaluator(VQAEvaluator):
  """DocVQA / InfoVQA: ANLS (and exact match)."""

  DEFAULTS = {**VQAEvaluator.DEFAULTS, "metrics": ("anls", "exact")}


@registry.register("evaluator.vqav2")
class VQAv2Evaluator(VQAEvaluator):
  """VQAv2: the official normalised accuracy (and exact match)."""

  DEFAULTS = {**VQAEvaluator.DEFAULTS, "metrics": ("vqav2", "exact"), "answer_type_key": None}

  def __init__(self, name: str, cfg, **kwargs):
    super().__init__(name, cfg, **kwargs)
    if self.cfg["answer_type_key"] and "vqav2" not in self.cfg["metrics"]:
      raise ValueError(f"evals.{name}: answer_type_key needs 'vqav2' in metrics "
                       f"{list(self.cfg['metrics'])}.")

  def score(self, records: list[dict]) -> dict[str, float]:
    out = super().score(records)
    type_key = self.cfg["answer_type_key"]
    if type_key:
      self.require_fields(records, type_key)
      answers, preds = self.references_and_predictions(records)
      accs = [vqa_lib.vqav2_accuracy(a, p) for a, p in zip(answers, preds)]
      types = [fields.single(r[type_key], type_key) for r in records]
      out.update(vqa_lib.per_answer_type(accs, types, "vqav2"))
    return out

