"""The offline scorer CLI on official-format files with hand-derived values: once in a
subprocess (`python -m evaluators.score`), the other cases through the same `__main__` code run in
this process (a subprocess pays ~7 s of CPU importing jax and TensorFlow for each case)."""
import contextlib
import io
import json
import os
import pathlib
import runpy
import subprocess
import sys
import warnings

import pytest

from evaluators import formats

_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _write(tmp_path, metric, gt, pred, *flags) -> list[str]:
  """Writes the two files; -> the CLI's arguments."""
  gt_path, pred_path = tmp_path / "gt.json", tmp_path / "pred.json"
  gt_path.write_text(json.dumps(gt))
  pred_path.write_text(json.dumps(pred))
  return ["--metric", metric, "--gt", str(gt_path), "--pred", str(pred_path), *flags]


def _subprocess(tmp_path, metric, gt, pred, *flags) -> subprocess.CompletedProcess:
  cmd = [sys.executable, "-m", "evaluators.score", *_write(tmp_path, metric, gt, pred, *flags)]
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  return subprocess.run(cmd, capture_output=True, text=True, cwd=_ROOT, env=env, timeout=120)


def run_main(args: list[str]) -> subprocess.CompletedProcess:
  """`python -m evaluators.score *args`, its `__main__` block run in this process, with what a
  process would give: the return code (sys.exit("error: ...") prints its message to stderr and
  gives 1), stdout and stderr."""
  argv = ["evaluators/score.py", *args]
  out, err, code = io.StringIO(), io.StringIO(), 0
  saved_argv, sys.argv = sys.argv, argv
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
        warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # runpy: the module is already imported
      try:
        runpy.run_module("evaluators.score", run_name="__main__")
      except SystemExit as e:
        if isinstance(e.code, str):
          print(e.code, file=sys.stderr)
          code = 1
        else:
          code = e.code or 0
  finally:
    sys.argv = saved_argv
  return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _run(tmp_path, metric, gt, pred, *flags) -> subprocess.CompletedProcess:
  return run_main(_write(tmp_path, metric, gt, pred, *flags))


def _last_json(proc):
  assert proc.returncode == 0, proc.stderr
  return json.loads(proc.stdout.strip().splitlines()[-1])


_DOCVQA_GT = {"dataset_name": "docvqa", "data": [
    {"questionId": 1, "question": "q1", "answers": ["abc", "xyz"], "image": "a.png"},
    {"questionId": 2, "question": "q2", "answers": ["ab"]},
    {"questionId": 3, "question": "q3", "answers": ["hello"]}]}


@pytest.mark.parametrize("run", [_subprocess, _run], ids=["subprocess", "in_process"])
def test_docvqa_anls(tmp_path, run):
  # 1: "abd" vs "abc" -> 2/3; 2: "ax" vs "ab" -> NL 0.5 -> 0.5; 3: exact -> 1.
  preds = [{"questionId": 1, "answer": "abd"}, {"questionId": 2, "answer": "ax"},
           {"questionId": 3, "answer": "Hello"}]
  out = _last_json(run(tmp_path, "anls", _DOCVQA_GT, preds))
  assert out["anls"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
  assert out["num"] == 3 and out["num_missing"] == 0


def test_an_error_in_a_subprocess_exits_1_with_the_message(tmp_path):
  proc = _subprocess(tmp_path, "anls", _DOCVQA_GT, [{"questionId": 3, "answer": "hello"}])
  assert proc.returncode == 1 and not proc.stdout, proc.stdout
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: No prediction for ids [1, 2] (2 in all)."), proc.stderr


def test_missing_predictions_error_and_missing_as_wrong(tmp_path):
  preds = [{"questionId": 3, "answer": "hello"}]
  proc = _run(tmp_path, "anls", _DOCVQA_GT, preds)
  assert proc.returncode != 0
  assert "No prediction for ids [1, 2] (2 in all)" in proc.stderr
  out = _last_json(_run(tmp_path, "anls", _DOCVQA_GT, preds, "--missing_as_wrong"))
  assert out["anls"] == pytest.approx(1 / 3) and out["num_missing"] == 2


def test_missing_list_is_capped_at_20(tmp_path):
  gt = {"data": [{"questionId": i, "answers": ["a"]} for i in range(30)]}
  proc = _run(tmp_path, "exact", gt, [])
  assert proc.returncode != 0 and "(30 in all)" in proc.stderr
  assert f"{list(range(20))} (30 in all)" in proc.stderr


def test_unknown_ids_are_an_error(tmp_path):
  preds = [{"questionId": i, "answer": "a"} for i in (1, 2, 3, 99)]
  proc = _run(tmp_path, "anls", _DOCVQA_GT, preds, "--missing_as_wrong")
  assert proc.returncode != 0 and "[99]" in proc.stderr


def test_chartqa_relaxed_and_exact(tmp_path):
  gt = [{"imgname": "a.png", "query": "how many?", "label": "100"},
        {"imgname": "a.png", "query": "share?", "label": "40%"},
        {"imgname": "b.png", "query": "how many?", "label": "Yes"},
        {"imgname": "b.png", "query": "which?", "label": "0"}]
  preds = [{"imgname": "a.png", "query": "how many?", "answer": "95.2"},
           {"imgname": "a.png", "query": "share?", "answer": "0.4"},
           {"imgname": "b.png", "query": "how many?", "answer": "yes"},
           {"imgname": "b.png", "query": "which?", "answer": "0.0"}]
  assert _last_json(_run(tmp_path, "relaxed_acc", gt, preds))["relaxed_acc"] == 0.75
  assert _last_json(_run(tmp_path, "exact", gt, preds))["exact"] == 0.0


def test_vqav2_accuracy(tmp_path):
  answers = [{"answer": a, "answer_id": i} for i, a in enumerate(["2"] * 3 + ["3"] * 7, 1)]
  gt = {"annotations": [{"question_id": 7, "answers": answers, "answer_type": "number"}]}
  out = _last_json(_run(tmp_path, "vqa_acc", gt, [{"question_id": 7, "answer": "Two"}]))
  assert out["vqa_acc"] == pytest.approx(0.9)


_COCO_GT = {"images": [{"id": 1}, {"id": 2}], "annotations": [
    {"image_id": 1, "id": 10, "caption": "red dog"},
    {"image_id": 2, "id": 11, "caption": "big cat"}]}


def test_coco_cider_pretokenized(tmp_path):
  # Hand value (see test_metrics_cider): identical two-word captions -> 5.0 per image.
  preds = [{"image_id": 1, "caption": "red dog"}, {"image_id": 2, "caption": "big cat"}]
  out = _last_json(_run(tmp_path, "cider", _COCO_GT, preds, "--pretokenized"))
  assert out["cider"] == pytest.approx(5.0) and out["cider_x100"] == pytest.approx(500.0)


def test_coco_cider_ptb_and_missing_as_wrong(tmp_path):
  # PTB lower-cases and drops the period; image 2 missing -> empty caption -> 0: mean 2.5.
  preds = [{"image_id": 1, "caption": "Red dog."}]
  out = _last_json(_run(tmp_path, "cider", _COCO_GT, preds, "--missing_as_wrong"))
  assert out["cider"] == pytest.approx(2.5)


def test_coco_rouge_l(tmp_path):
  preds = [{"image_id": 1, "caption": "red"}, {"image_id": 2, "caption": "big cat"}]
  out = _last_json(_run(tmp_path, "rouge_l", _COCO_GT, preds, "--pretokenized"))
  # Image 1: precision 1, recall 1/2 -> 2.44 * 0.5 / 1.94; image 2: 1.
  assert out["rouge_l"] == pytest.approx((2.44 * 0.5 / 1.94 + 1) / 2)


def test_metric_format_mismatch_is_an_error(tmp_path):
  proc = _run(tmp_path, "cider", _DOCVQA_GT, [])
  assert proc.returncode != 0 and "does not apply" in proc.stderr


def test_submission_writers_round_trip(tmp_path):
  formats.write_docvqa_submission(str(tmp_path / "d.json"), {5: "a", 6: "b"})
  assert json.loads((tmp_path / "d.json").read_text()) == [
      {"questionId": 5, "answer": "a"}, {"questionId": 6, "answer": "b"}]
  assert formats.read_predictions(str(tmp_path / "d.json"), "docvqa") == {5: "a", 6: "b"}
  formats.write_coco_submission(str(tmp_path / "c.json"), {1: "a dog"})
  assert json.loads((tmp_path / "c.json").read_text()) == [{"image_id": 1, "caption": "a dog"}]
  formats.write_vqav2_submission(str(tmp_path / "v.json"), {3: "yes"})
  assert formats.read_predictions(str(tmp_path / "v.json"), "vqav2") == {3: "yes"}


def test_duplicate_prediction_is_an_error(tmp_path):
  (tmp_path / "p.json").write_text(json.dumps([{"questionId": 1, "answer": "a"}] * 2))
  with pytest.raises(ValueError, match="appears twice"):
    formats.read_predictions(str(tmp_path / "p.json"), "docvqa")
