"""Submission writer (type "storepreds"): decodes the split and writes the official results file.

Config keys (besides the common ones): max_decode_len, sampler, format ("docvqa" RRC
[{"questionId", "answer"}], "vqav2" [{"question_id", "answer"}], "coco" [{"image_id",
"caption"}]), outfile (the path to write; host 0 writes it), id_key (the host field with the
example id; default "question_id", "image_id" for coco). Reports num_predictions.
"""
import jax

from big_paligemma import registry
from evaluators import common
from evaluators import formats

WRITERS = {"docvqa": formats.write_docvqa_submission, "vqav2": formats.write_vqav2_submission,
           "coco": formats.write_coco_submission}


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
    id_key = self.cfg["id_key"] or ("image_id" if self.cfg["format"] == "coco" else "question_id")
    self.require_fields(records, id_key)
    preds = {}
    for r in records:
      if r[id_key] in preds:
        raise ValueError(f"evals.{self.name}: {id_key}={r[id_key]} appears twice in the split.")
      preds[r[id_key]] = r["prediction"]
    if jax.process_index() == 0:
      WRITERS[self.cfg["format"]](self.cfg["outfile"], preds)
    return {"num_predictions": len(preds)}
