"""Offline scores of the task formats (task_formats.py), each as its official script computes it.

Each scorer takes (gt_path, pred_path, missing_as_wrong, split) and returns the dict that
`python -m evaluators.score` prints: the metrics, "format", "num" (questions scored) and
"num_missing". Predictions for unknown ids are an error; missing ones too, unless missing_as_wrong.
"""
from typing import Callable

from evaluators import task_formats
from evaluators.metrics import choices
from evaluators.metrics import nlvr2
from evaluators.metrics import pope

Scorer = Callable[[str, str, bool, str | None], dict]


def _ids_message(ids) -> str:
  """The first 20 ids (in file order) and the count."""
  return f"{list(ids)[:20]} ({len(ids)} in all)"


def align(known, preds, missing_as_wrong: bool, scored=None) -> list:
  """The ids of `scored` (default: all `known` ids) without a prediction; raises on predictions for
  ids that are not `known`, and on missing ones unless `missing_as_wrong`."""
  extra = [k for k in preds if k not in known]
  if extra:
    raise ValueError(f"Predictions for ids that are not in the ground truth: {_ids_message(extra)}."
                     " Check that the prediction file belongs to this ground truth and split.")
  missing = [k for k in (known if scored is None else scored) if k not in preds]
  if missing and not missing_as_wrong:
    raise ValueError(f"No prediction for ids {_ids_message(missing)}. Predict them, or pass "
                     "--missing_as_wrong to score them as wrong.")
  return missing


def _no_split(split: str | None, fmt: str) -> None:
  if split is not None:
    raise ValueError(f"--split applies to ScienceQA's problems.json only, not to {fmt} files.")


def score_pope(gt_path: str, pred_path: str, missing_as_wrong: bool, split: str | None) -> dict:
  """acc, precision, recall, f1, yes_ratio of a POPE answer file (every question answered)."""
  _no_split(split, "POPE")
  if missing_as_wrong:
    raise ValueError("--missing_as_wrong does not apply to POPE: its precision and recall need an "
                     "answer to every question.")
  labels = task_formats.read_pope_labels(gt_path)
  answers = task_formats.read_pope_answers(pred_path, labels)
  align(labels, answers, False)
  scores = pope.pope_scores([labels[k]["label"] for k in labels], [answers[k] for k in labels])
  return {**scores, "format": "pope", "num": len(labels), "num_missing": 0}


def score_nlvr2(gt_path: str, pred_path: str, missing_as_wrong: bool, split: str | None) -> dict:
  """acc and consistency of an NLVR2 predictions CSV; a missing prediction is wrong."""
  _no_split(split, "NLVR2")
  labels = task_formats.read_nlvr2_labels(gt_path)
  preds = task_formats.read_nlvr2_predictions(pred_path)
  missing = align(labels, preds, missing_as_wrong)
  correct = [k in preds and nlvr2.is_correct(label, preds[k]) for k, label in labels.items()]
  return {"acc": sum(correct) / len(correct), "consistency": nlvr2.consistency(list(labels),
                                                                             correct),
          "format": "nlvr2", "num": len(labels), "num_missing": len(missing)}


def _score_aokvqa(gt_path: str, pred_path: str, missing_as_wrong: bool, split: str | None,
                  setting: str) -> dict:
  _no_split(split, "A-OKVQA")
  data = task_formats.read_aokvqa(gt_path)
  preds = task_formats.read_aokvqa_predictions(pred_path, setting)
  # Direct answer: the official script scores only the questions not marked difficult.
  scored = [k for k, r in data.items() if setting == "multiple_choice"
            or not r["difficult_direct_answer"]]
  missing = align(data, preds, missing_as_wrong, scored)
  accs = []
  for k in scored:
    r = data[k]
    if k not in preds:
      accs.append(0.0)
    elif setting == "multiple_choice":
      accs.append(float(preds[k] == r["choices"][r["correct_choice_idx"]]))
    else:
      accs.append(choices.direct_answer_accuracy(r["direct_answers"], preds[k]))
  if not accs:
    raise ValueError(f"{gt_path} has no question to score in the {setting} setting.")
  name = "mc_acc" if setting == "multiple_choice" else "da_acc"
  return {name: sum(accs) / len(accs), "format": "aokvqa", "num": len(scored),
          "num_missing": len(missing)}


def score_aokvqa_mc(gt_path, pred_path, missing_as_wrong, split) -> dict:
  """A-OKVQA multiple choice: the prediction equals the correct choice's text."""
  return _score_aokvqa(gt_path, pred_path, missing_as_wrong, split, "multiple_choice")


def score_aokvqa_da(gt_path, pred_path, missing_as_wrong, split) -> dict:
  """A-OKVQA direct answer: min(1, #matching direct answers / 3), difficult questions left out."""
  return _score_aokvqa(gt_path, pred_path, missing_as_wrong, split, "direct_answer")


def score_scienceqa(gt_path: str, pred_path: str, missing_as_wrong: bool,
                    split: str | None) -> dict:
  """ScienceQA accuracy: the chosen index equals the problem's answer index."""
  answers = task_formats.read_scienceqa(gt_path, split)
  results = task_formats.read_scienceqa_results(pred_path)
  missing = align(answers, results, missing_as_wrong)
  if not answers:
    raise ValueError(f"{gt_path} has no problem to score.")
  acc = sum(results.get(k) == a for k, a in answers.items()) / len(answers)
  return {"acc": acc, "format": "scienceqa", "num": len(answers), "num_missing": len(missing)}


SCORERS: dict[str, Scorer] = {"pope": score_pope, "nlvr2": score_nlvr2,
                              "aokvqa_mc": score_aokvqa_mc, "aokvqa_da": score_aokvqa_da,
                              "scienceqa": score_scienceqa}
