"""Scores a predictions file against an official ground-truth file, offline.

  python -m evaluators.score --metric anls --pred preds.json --gt val_v1.0.json

The LAST printed line is a JSON object with the score(s). A prediction missing for some ids is an
error (unless --missing_as_wrong scores them as wrong), and so is a prediction for an unknown id.
CIDEr is printed as pycocoevalcap computes it (`cider`) and as papers print it (`cider_x100`).

Metrics and the ground truths they take (formats.py, task_formats.py):
  anls, vqa_acc, relaxed_acc, exact   DocVQA / InfoVQA, VQAv2 (vqa_acc also per answer type when
                                      the annotations have answer_type), ChartQA, VizWiz-VQA
  cider, bleu4, meteor, rouge_l       COCO captions
  pope                                POPE label file + answer file (acc, precision, recall, f1,
                                      yes_ratio)
  nlvr2                               NLVR2 / MaRVL JSON Lines + predictions CSV (acc, consistency)
  aokvqa_mc, aokvqa_da                A-OKVQA annotations + {question_id: {"multiple_choice",
                                      "direct_answer"}} (mc_acc, da_acc)
  scienceqa                           problems.json (--split test) + {"results": {pid: index}} (acc)
"""
import argparse
import json
import sys
from typing import Mapping, Sequence

from evaluators import formats
from evaluators import task_scores
from evaluators.metrics import anls, chartqa, coco, vqa

# metric -> per-question score(references, prediction)
QA_METRICS = {
    "anls": anls.anls_one,
    "vqa_acc": vqa.vqav2_accuracy,
    "relaxed_acc": lambda gts, p: float(any(chartqa.relaxed_match(t, p) for t in gts)),
    "exact": vqa.exact_match,
}
CAPTION_METRICS = ("cider", "bleu4", "meteor", "rouge_l")
METRICS = tuple(CAPTION_METRICS) + tuple(QA_METRICS) + tuple(task_scores.SCORERS)


def score_qa(metric: str, gts: Mapping, preds: Mapping) -> float:
  """Mean per-question score; a missing prediction scores 0."""
  fn = QA_METRICS[metric]
  return sum(fn(refs, preds[k]) if k in preds else 0.0 for k, refs in gts.items()) / len(gts)


def score_captions(metric: str, gts: Mapping, preds: Mapping, pretokenized: bool) -> dict:
  """{metric: value} for a caption metric; a missing caption is scored as the empty caption."""
  if not pretokenized:
    gts = coco.ptb_tokenize(gts)
    present = coco.ptb_tokenize({k: [c] for k, c in preds.items()})
    preds = {k: v[0] for k, v in present.items()}
  cands = {k: preds.get(k, "") for k in gts}
  value = coco.caption_scores(gts, cands, metrics=(metric,), tokenize=False)[metric]
  out = {metric: value}
  if metric == "cider":
    out["cider_x100"] = 100.0 * value
  return out


def score_files(metric: str, pred_path: str, gt_path: str, missing_as_wrong: bool = False,
                pretokenized: bool = False, split: str | None = None) -> dict:
  """Scores `pred_path` against `gt_path`; returns the dict the CLI prints."""
  if metric not in METRICS:
    raise ValueError(f"Unknown metric {metric!r}; choose from {list(METRICS)}.")
  if metric in task_scores.SCORERS:
    return task_scores.SCORERS[metric](gt_path, pred_path, missing_as_wrong, split)
  if split is not None:
    raise ValueError(f"--split applies to the scienceqa metric only, not to {metric}.")
  gt = formats.load_json(gt_path)
  fmt, gts = formats.parse_ground_truth(gt, gt_path)
  is_caption = fmt in formats.CAPTION_FORMATS
  if is_caption != (metric in CAPTION_METRICS):
    kind = "caption" if is_caption else "question-answering"
    raise ValueError(f"--metric {metric} does not apply to {gt_path}, a {fmt} ({kind}) file; "
                     f"use one of {CAPTION_METRICS if is_caption else tuple(QA_METRICS)}.")
  if not gts:
    raise ValueError(f"{gt_path} holds no question or image to score.")
  preds = formats.read_predictions(pred_path, fmt)
  missing = task_scores.align(gts, preds, missing_as_wrong)
  print(f"Scoring {len(gts)} {fmt} items with {metric}; {len(missing)} missing predictions.",
        file=sys.stderr)
  if is_caption:
    scores = score_captions(metric, gts, preds, pretokenized)
  else:
    scores = {metric: score_qa(metric, gts, preds)}
    types = formats.vqav2_answer_types(gt, gt_path) if fmt == "vqav2" else None
    if types and metric == "vqa_acc":
      scores.update(score_per_answer_type(gts, preds, types))
  return {**scores, "format": fmt, "num": len(gts), "num_missing": len(missing)}


def score_per_answer_type(gts: Mapping, preds: Mapping, types: Mapping) -> dict:
  """{"vqa_acc/<type>": mean accuracy, "num/<type>": count} as vqaEval.py's perAnswerType."""
  keys = list(gts)
  accs = [vqa.vqav2_accuracy(gts[k], preds[k]) if k in preds else 0.0 for k in keys]
  return vqa.per_answer_type(accs, [types[k] for k in keys], "vqa_acc")


def main(argv: Sequence[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--metric", required=True, choices=METRICS)
  parser.add_argument("--pred", required=True, help="predictions / results file")
  parser.add_argument("--gt", required=True, help="official ground-truth file")
  parser.add_argument("--missing_as_wrong", action="store_true",
                      help="score ids without a prediction as wrong instead of failing")
  parser.add_argument("--pretokenized", action="store_true",
                      help="caption metrics: text is already PTB-tokenized (no Java needed)")
  parser.add_argument("--split", default=None,
                      help="scienceqa: the split of problems.json to score (e.g. test)")
  args = parser.parse_args(argv)
  result = score_files(args.metric, args.pred, args.gt, args.missing_as_wrong, args.pretokenized,
                       args.split)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  try:
    main()
  except (ValueError, ImportError, RuntimeError, OSError) as e:
    sys.exit(f"error: {e}")
