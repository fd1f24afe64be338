"""Submission writer (type "storepreds"): decodes the split and writes the official results file.

Config keys (besides the common ones): max_decode_len, sampler, format ("docvqa" RRC
[{"questionId", "answer"}], "vqav2" [{"question_id", "answer"}], "coco" [{"image_id",
"caption"}], "pope" JSON Lines {"question_id", "answer"}, "nlvr2" CSV "identifier,prediction",
"aokvqa_mc" / "aokvqa_da" {question_id: {"multiple_choice" / "direct_answer": text}}, "vizwiz"
[{"image", "answer"}]), outfile (the path to write; host 0 writes it), id_key (the host field
with the example id; default "question_id", "image_id" for coco, "identifier" for nlvr2,
"image/filename" for vizwiz). Reports num_predictions.
"""
import jax

from big_paligemma import registry
from evaluators import common
from evaluators import formats
from evaluators import task_formats

WRITERS = {"docvqa": formats.write_docvqa_submission, "vqav2": formats.write_vqav2_submission,
           "coco": formats.write_coco_submission, "pope": task_formats.write_pope_answers,
           "nlvr2": task_formats.write_nlvr2_predictions,
           "aokvqa_mc": task_formats.write_aokvqa_mc, "aokvqa_da": task_formats.write_aokvqa_da,
           "vizwiz": formats.write_vizwiz_submission}
DEFAULT_ID_KEYS = {"coco": "image_id", "nlvr2": "identifier", "vizwiz": "image/filename"}


@registry.register("evaluator.storepreds")
class StorePredsEvaluator(common.DecodingEvaluator):
  """Writes {id: prediction} of every example in the benchmark's submission format."""

  DEFAULTS = {**common.DecodingEvaluator.DEFAULTS, "format": common.REQUIRED,
              "outfile": common.REQUIRED, "id_key": None}

  def __init__(self, name, cfg, **kwargs):
    super().__init__(name, cfg, **kwargs)
    if self.cfg["format"] not in WRITERS:
      raise ValueError(f"evals.{name}.format={self.cfg['format']!r}; allowed: {sorted(WRITERS)}.")

  def score(self, records: list[dict]) -> dict[str, float]:
    id_key = self.cfg["id_key"] or DEFAULT_ID_KEYS.get(self.cfg["format"], "question_id")
    self.require_fields(records, id_key)
    preds = {}
    for r in records:
      if r[id_key] in preds:
        raise ValueError(f"evals.{self.name}: {id_key}={r[id_key]} appears twice in the split.")
      preds[r[id_key]] = r["prediction"]
    if jax.process_index() == 0:
      WRITERS[self.cfg["format"]](self.cfg["outfile"], preds)
    return {"num_predictions": len(preds)}
