"""`python -m evaluators.score` on the task formats (POPE, NLVR2, A-OKVQA, ScienceQA, VQAv2 per
answer type), written in their official layouts here, with hand-derived scores; and its errors on
files that are not JSON and on null answers (the CLI's `__main__` block, run in this process as
tests/evaluators/test_score_cli.py does)."""
import json

import pytest

from evaluators import score
from evaluators import task_formats
from tests.evaluators import test_score_cli


def _jsonl(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def _json(path, value):
  path.write_text(json.dumps(value))
  return str(path)


def _score(metric, gt, pred, **kwargs):
  return score.score_files(metric, pred, gt, **kwargs)


def _cli(*args):
  """`python -m evaluators.score *args` run in this process (test_score_cli runs it as one)."""
  return test_score_cli.run_main(list(args))


# ---------------------------------------------------------------------------- POPE

_POPE_LABELS = [
    {"question_id": i, "image": "COCO_val2014_000000310196.jpg",
     "text": f"Is there a {obj} in the image?", "label": label}
    for i, (obj, label) in enumerate([("dog", "yes"), ("cat", "no"), ("car", "yes"),
                                      ("tree", "no"), ("person", "yes")], 1)]
_POPE_ANSWERS = ["Yes, there is.", "No", "There is no car.", "yes", "Yes"]


def test_pope_answers_in_label_order(tmp_path):
  gt = _jsonl(tmp_path / "coco_pope_random.json", _POPE_LABELS)
  pred = _jsonl(tmp_path / "answers.json", [
      {"question": l["text"].lower(), "answer": a} for l, a in zip(_POPE_LABELS, _POPE_ANSWERS)])
  # Parsed yes, no, no, yes, yes vs labels yes, no, yes, no, yes: TP 2, TN 1, FN 1, FP 1.
  assert _score("pope", gt, pred) == pytest.approx({
      "acc": 3 / 5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "yes_ratio": 3 / 5,
      "format": "pope", "num": 5, "num_missing": 0})


def test_pope_answers_by_question_id_and_alignment_errors(tmp_path):
  gt = _jsonl(tmp_path / "labels.json", _POPE_LABELS)
  by_id = [{"question_id": l["question_id"], "answer": a}
           for l, a in reversed(list(zip(_POPE_LABELS, _POPE_ANSWERS)))]
  assert _score("pope", gt, _jsonl(tmp_path / "a.json", by_id))["acc"] == pytest.approx(3 / 5)
  swapped = [{"question": "is there a cat in the image?", "answer": "no"},
             {"question": "is there a dog in the image?", "answer": "yes"}] + [
                 {"answer": a} for a in _POPE_ANSWERS[2:]]
  with pytest.raises(ValueError, match=r"line 1 answers .* label line 1 \(question_id 1\)"):
    _score("pope", gt, _jsonl(tmp_path / "b.json", swapped))
  with pytest.raises(ValueError, match="4 answers for 5 labels"):
    _score("pope", gt, _jsonl(tmp_path / "c.json", [{"answer": "yes"}] * 4))
  with pytest.raises(ValueError, match="does not apply to POPE"):
    _score("pope", gt, _jsonl(tmp_path / "d.json", by_id), missing_as_wrong=True)


# ---------------------------------------------------------------------------- NLVR2

_NLVR2 = [{"identifier": i, "label": l, "sentence": "There are two dogs."} for i, l in
          [("dev-0-0-0", "True"), ("dev-0-1-0", "False"), ("dev-1-0-1", "True"),
           ("dev-1-1-1", "True")]]


def test_nlvr2_accuracy_and_consistency(tmp_path):
  gt = _jsonl(tmp_path / "dev.json", _NLVR2)
  csv = tmp_path / "preds.csv"
  csv.write_text("dev-0-0-0,true\ndev-0-1-0,False\ndev-1-0-1,False\n\ndev-1-1-1,True\n")
  # Right, right, wrong, right: acc 3/4; sentence dev-0--0 all right, dev-1--1 not: 1/2.
  assert _score("nlvr2", gt, str(csv)) == pytest.approx({
      "acc": 0.75, "consistency": 0.5, "format": "nlvr2", "num": 4, "num_missing": 0})
  csv.write_text("dev-0-0-0,True\ndev-0-1-0,False\n")
  with pytest.raises(ValueError, match=r"No prediction for ids \['dev-1-0-1', 'dev-1-1-1'\]"):
    _score("nlvr2", gt, str(csv))
  out = _score("nlvr2", gt, str(csv), missing_as_wrong=True)
  assert out["acc"] == 0.5 and out["consistency"] == 0.5 and out["num_missing"] == 2
  csv.write_text("dev-0-0-0,True\ndev-0-1-0\n")
  with pytest.raises(ValueError, match=r"preds.csv:2: expected 'identifier,prediction'"):
    _score("nlvr2", gt, str(csv))


# ---------------------------------------------------------------------------- A-OKVQA

_AOKVQA = [
    {"question_id": "a", "image_id": 1, "question": "What colour?",
     "choices": ["red", "blue", "green", "black"], "correct_choice_idx": 1,
     "direct_answers": ["blue"] * 6 + ["navy"] * 4, "difficult_direct_answer": False,
     "rationales": ["It is blue."]},
    {"question_id": "b", "image_id": 2, "question": "Which animal?",
     "choices": ["cat", "dog", "cow", "bird"], "correct_choice_idx": 0,
     "direct_answers": ["cat"] * 10, "difficult_direct_answer": True, "rationales": []},
    {"question_id": "c", "image_id": 3, "question": "How many?",
     "choices": ["1", "2", "3", "4"], "correct_choice_idx": 2,
     "direct_answers": ["3"] * 2 + ["three"] * 8, "difficult_direct_answer": False,
     "rationales": []},
]


def test_aokvqa_multiple_choice_and_direct_answer(tmp_path):
  gt = _json(tmp_path / "aokvqa_v1p0_val.json", _AOKVQA)
  pred = _json(tmp_path / "predictions_val.json", {
      "a": {"multiple_choice": "blue", "direct_answer": "navy"},
      "b": {"multiple_choice": "dog", "direct_answer": "cat"},
      "c": {"multiple_choice": "3", "direct_answer": "3"}})
  # MC: a right, b wrong, c right. DA (b is difficult, left out): a "navy" 4 of 10 -> 1;
  # c "3" 2 of 10 -> 2/3.
  assert _score("aokvqa_mc", gt, pred) == pytest.approx({
      "mc_acc": 2 / 3, "format": "aokvqa", "num": 3, "num_missing": 0})
  assert _score("aokvqa_da", gt, pred) == pytest.approx({
      "da_acc": (1 + 2 / 3) / 2, "format": "aokvqa", "num": 2, "num_missing": 0})
  only_mc = _json(tmp_path / "mc.json", {"a": {"multiple_choice": "blue"}})
  out = _score("aokvqa_mc", gt, only_mc, missing_as_wrong=True)
  assert out["mc_acc"] == pytest.approx(1 / 3) and out["num_missing"] == 2


# ---------------------------------------------------------------------------- ScienceQA

_PROBLEMS = {
    "1": {"question": "Which is a mammal?", "choices": ["dog", "frog"], "answer": 0,
          "hint": "", "image": None, "split": "test", "subject": "natural science"},
    "2": {"question": "Which word rhymes?", "choices": ["a", "b", "c"], "answer": 2,
          "hint": "", "image": None, "split": "test", "subject": "language science"},
    "3": {"question": "Q", "choices": ["a", "b"], "answer": 1, "split": "val"},
    "4": {"question": "Q", "choices": ["a", "b"], "answer": 1, "split": "test"},
}


def test_scienceqa_results(tmp_path):
  gt = _json(tmp_path / "problems.json", _PROBLEMS)
  pred = _json(tmp_path / "results.json", {"acc": 0, "results": {"1": 0, "2": 1, "4": "1"}})
  # Test problems 1, 2, 4: right, wrong, right.
  assert _score("scienceqa", gt, pred, split="test") == pytest.approx({
      "acc": 2 / 3, "format": "scienceqa", "num": 3, "num_missing": 0})
  with pytest.raises(ValueError, match=r"has the splits \['test', 'val'\]: pass --split"):
    _score("scienceqa", gt, pred)
  val = _json(tmp_path / "val.json", {"results": {"3": 1, "1": 0}})
  with pytest.raises(ValueError, match=r"not in the ground truth: \['1'\]"):
    _score("scienceqa", gt, val, split="val")
  with pytest.raises(ValueError, match="--split applies to"):
    _score("nlvr2", gt, pred, split="test")


# ---------------------------------------------------------------------------- VQAv2 per type

def test_vqav2_per_answer_type(tmp_path):
  answers = lambda words: [{"answer": w, "answer_confidence": "yes", "answer_id": i}
                           for i, w in enumerate(words, 1)]
  gt = _json(tmp_path / "v2_mscoco_val2014_annotations.json", {"annotations": [
      {"question_id": 7, "answer_type": "number", "answers": answers(["2"] * 3 + ["3"] * 7)},
      {"question_id": 8, "answer_type": "yes/no", "answers": answers(["yes"] * 10)},
      {"question_id": 9, "answer_type": "other", "answers": answers(["red"] * 10)}]})
  pred = _json(tmp_path / "results.json", [{"question_id": 7, "answer": "Two"},
                                           {"question_id": 8, "answer": "yes"},
                                           {"question_id": 9, "answer": "blue"}])
  # "Two" -> "2", 3 of 10 agree: 0.9 (leave-one-out); yes: 1; blue: 0.
  assert _score("vqa_acc", gt, pred) == pytest.approx({
      "vqa_acc": 1.9 / 3, "vqa_acc/number": 0.9, "num/number": 1, "vqa_acc/other": 0.0,
      "num/other": 1, "vqa_acc/yesno": 1.0, "num/yesno": 1, "format": "vqav2", "num": 3,
      "num_missing": 0})


# ---------------------------------------------------------------------------- errors

def test_cli_names_the_file_that_is_not_json(tmp_path):
  gt = tmp_path / "val_v1.0.json"
  gt.write_text('{"data": [\n  {"questionId": 1, "answers": ["a"],}\n]}')
  pred = _json(tmp_path / "pred.json", [])
  proc = _cli("--metric", "anls", "--gt", str(gt), "--pred", pred)
  assert proc.returncode != 0
  assert f"error: {gt} is not valid JSON: Expecting property name enclosed in double quotes " \
         "at line 2 column 38." in proc.stderr  # The "}" after the ",".
  labels = tmp_path / "labels.json"
  labels.write_text(json.dumps(_POPE_LABELS[0]) + "\n" + '{"question_id": 2, "label": no}\n')
  proc = _cli("--metric", "pope", "--gt", str(labels), "--pred", pred)
  # Line 2 of the JSON Lines file, at "no".
  assert f"{labels} is not valid JSON: Expecting value at line 2 column 29." in proc.stderr


def test_cli_null_answers_are_errors_naming_the_record(tmp_path):
  gt = _json(tmp_path / "gt.json", {"data": [{"questionId": 1, "answers": ["a"]}]})
  pred = _json(tmp_path / "pred.json", [{"questionId": 1, "answer": None}])
  proc = _cli("--metric", "anls", "--gt", gt, "--pred", pred)
  assert proc.returncode != 0
  assert ("the 'answer' is null in the record {\"questionId\": 1, \"answer\": null}; it must be "
          'text (write "" for an empty answer).') in proc.stderr
  bad_gt = _json(tmp_path / "gt2.json", {"data": [{"questionId": 1, "answers": ["a", None]}]})
  proc = _cli("--metric", "exact", "--gt", bad_gt, "--pred", pred)
  assert proc.returncode != 0 and "an answer is null in the record" in proc.stderr
  assert "None" not in proc.stderr
  empty = _json(tmp_path / "pred3.json", [{"questionId": 1, "answer": ""}])
  out = json.loads(_cli("--metric", "exact", "--gt", gt, "--pred", empty).stdout.splitlines()[-1])
  assert out["exact"] == 0.0


# ---------------------------------------------------------------------------- writers

def test_prediction_writers_round_trip_through_the_scorer(tmp_path):
  gt = _jsonl(tmp_path / "labels.json", _POPE_LABELS)
  pred = str(tmp_path / "pope_answers.jsonl")
  task_formats.write_pope_answers(pred, {l["question_id"]: a
                                         for l, a in zip(_POPE_LABELS, _POPE_ANSWERS)})
  assert _score("pope", gt, pred)["acc"] == pytest.approx(3 / 5)
  gt = _jsonl(tmp_path / "dev.json", _NLVR2)
  pred = str(tmp_path / "nlvr2.csv")
  task_formats.write_nlvr2_predictions(pred, {"dev-0-0-0": "True", "dev-0-1-0": "False",
                                              "dev-1-0-1": "False", "dev-1-1-1": "True"})
  assert (tmp_path / "nlvr2.csv").read_text().startswith("dev-0-0-0,True\n")
  assert _score("nlvr2", gt, pred)["acc"] == 0.75
  gt = _json(tmp_path / "aokvqa.json", _AOKVQA)
  pred = str(tmp_path / "mc.json")
  task_formats.write_aokvqa_mc(pred, {"a": "blue", "b": "dog", "c": "3"})
  assert _score("aokvqa_mc", gt, pred)["mc_acc"] == pytest.approx(2 / 3)
  task_formats.write_aokvqa_da(pred, {"a": "navy", "b": "x", "c": "3"})
  assert _score("aokvqa_da", gt, pred)["da_acc"] == pytest.approx(5 / 6)
