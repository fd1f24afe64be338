"""The task evaluators (tallyqa, rsvqa, science_qa, aokvqa_mc, pope, vqav2 per answer type,
refcoco_det, nlvr2): `score` on hand-made records with hand-derived values, and end to end through
the copying stub model (prediction = the jsonl row's `prefix`) to check that the host fields travel
through the pp's keep and the batches (13 rows, global batch 8: 3 padding rows). refcoco_det has no
end-to-end test here: jsonl rows cannot hold number lists; its boxes arrive as the masks of
refcoco_seg do, and `score` is tested on the [4], [1, 4] and zero-padded [N, 4] forms."""
import json

import pytest

from big_paligemma.tokenizer import Tokenizer
from evaluators import common
from evaluators import score
import pp
from tests.evaluators import stub_model


def _make(kind, tok_path, mesh, keep=(), data="unused.jsonl", model=None, **cfg):
  cfg = {"type": kind, "data": {"jsonl": data}, "batch_size": 8, "max_decode_len": 40,
         "pp": pp.paligemma_eval_pp(16, 48, "{prefix}", keep_keys=keep), **cfg}
  return common.make_evaluator("ev", cfg, model=model, tokenizer_path=tok_path, mesh=mesh)


def _records(preds, **columns):
  return [{"_index": i, "prediction": p, **{k: v[i] for k, v in columns.items()}}
          for i, p in enumerate(preds)]


def _run_stub(kind, rows, tok_path, mesh, tmp_path, keep, **cfg):
  path = stub_model.write_jsonl(str(tmp_path), [{"suffix": "", **r} for r in rows])
  model = stub_model.make_stub(Tokenizer.load(tok_path).vocab_size)
  return _make(kind, tok_path, mesh, keep=keep, data=path, model=model, **cfg).run({})


# ---------------------------------------------------------------------------- tallyqa

def test_tallyqa_per_split_and_count(tok_path, mesh):
  ev = _make("tallyqa", tok_path, mesh, simple_key="issimple")
  recs = _records(["2", "three", "4", "0", "one"], answer=[2, 3, 5, 0, 2],
                  issimple=[1, 1, 0, 0, -1])
  # Right: 2, three=3, 0; wrong: 4 for 5, one for 2. Simple: 2/2; complex: 1/2; -1 only in acc.
  assert ev.score(recs) == pytest.approx({
      "acc": 3 / 5, "num": 5, "acc/simple": 1.0, "num/simple": 2, "acc/complex": 0.5,
      "num/complex": 2, "acc/count_2": 0.5, "acc/count_3": 1.0, "acc/count_5": 0.0,
      "acc/count_0": 1.0})
  with pytest.raises(ValueError, match=r"'issimple' must be 1 \(simple\), 0 \(complex\)"):
    ev.score(_records(["1"], answer=[1], issimple=[3]))


def test_tallyqa_end_to_end(tok_path, mesh, tmp_path):
  # Target i % 4; the prompt (= prediction) is right when i % 3 != 0: 8 of 13.
  rows = [{"prefix": str(i % 4) if i % 3 else "seven", "answer": i % 4} for i in range(13)]
  out = _run_stub("tallyqa", rows, tok_path, mesh, tmp_path, keep=("answer",))
  assert out["ev/acc"] == pytest.approx(8 / 13) and out["ev/num"] == 13


# ---------------------------------------------------------------------------- rsvqa

def test_rsvqa_types_and_averages(tok_path, mesh):
  recs = _records(["Yes", "yes", "yes", "urban", "3"],
                  answers=[["yes"], ["no"], ["yes", ""], ["rural"], ["3"]],
                  question_type=["comp", "comp", "presence", "rural_urban", "count"])
  # Per type: comp 1/2, presence 1, rural_urban 0, count 1.
  want = {"acc": 3 / 5, "acc_comp": 0.5, "acc_presence": 1.0, "acc_rural_urban": 0.0,
          "acc_count": 1.0, "num": 5}
  assert _make("rsvqa", tok_path, mesh).score(recs) == pytest.approx(
      {**want, "acc_avg": 2.5 / 4})
  nonum = _make("rsvqa", tok_path, mesh, average_types=("comp", "presence", "rural_urban"))
  assert nonum.score(recs)["acc_avg"] == pytest.approx(1.5 / 3)
  cased = _make("rsvqa", tok_path, mesh, to_lower=False).score(recs)
  assert cased["acc_comp"] == 0.0 and cased["acc"] == pytest.approx(2 / 5)


def test_rsvqa_end_to_end(tok_path, mesh, tmp_path):
  # Type "presence" when i is even (7 rows), else "comp" (6); wrong when i % 4 == 0 (4 presence).
  rows = [{"prefix": "no" if i % 4 == 0 else "yes", "answers": ["yes"],
           "question_type": "presence" if i % 2 == 0 else "comp"} for i in range(13)]
  out = _run_stub("rsvqa", rows, tok_path, mesh, tmp_path, keep=("answers", "question_type"))
  assert out == pytest.approx({"ev/acc": 9 / 13, "ev/acc_comp": 1.0, "ev/acc_presence": 3 / 7,
                               "ev/acc_avg": (1 + 3 / 7) / 2, "ev/num": 13})


# ---------------------------------------------------------------------------- multiple choice

def test_science_qa(tok_path, mesh):
  ev = _make("science_qa", tok_path, mesh)
  recs = _records(["The answer is B.", "the answer is a. because", "B", "The answer is C."],
                  answer=["The answer is B.", "The answer is A.", "The answer is B.", "D"])
  # Right: 1, 2; "B" does not parse (parsefail, wrong); C != D.
  assert ev.score(recs) == {"acc": 0.5, "parsefail": 0.25, "num": 4.0}
  with pytest.raises(ValueError, match="neither"):
    ev.score(_records(["The answer is B."], answer=["blue"]))


def test_aokvqa_mc(tok_path, mesh):
  ev = _make("aokvqa_mc", tok_path, mesh)
  opts = ["red", "green", "blue", ""]  # "" = batch padding.
  recs = _records(["blue", "Blue", "red", "purple"], answer=["blue", "blue", "green", "red"],
                  choices=[opts] * 4)
  # Right: 1; "Blue" and "purple" are no choice (invalid); "red" is a wrong choice.
  assert ev.score(recs) == {"acc": 0.25, "num": 4.0, "invalid": 0.5}
  with pytest.raises(ValueError, match=r"target 'pink' is not one of the choices"):
    ev.score(_records(["red"], answer=["pink"], choices=[opts]))
  plain = _make("aokvqa_mc", tok_path, mesh, choices_key=None)
  assert plain.score(_records(["red"], answer=["red"])) == {"acc": 1.0, "num": 1.0}


def test_multiple_choice_end_to_end(tok_path, mesh, tmp_path):
  opts = ["cat", "dog", "bird"]
  rows = [{"prefix": opts[i % 3], "answer": "dog", "choices": opts} for i in range(13)]
  out = _run_stub("aokvqa_mc", rows, tok_path, mesh, tmp_path, keep=("answer", "choices"))
  assert out == pytest.approx({"ev/acc": 4 / 13, "ev/num": 13, "ev/invalid": 0.0})
  rows = [{"prefix": f"The answer is {'AB'[i % 2]}.", "answer": "The answer is A."}
          for i in range(13)]
  out = _run_stub("science_qa", rows, tok_path, mesh, tmp_path, keep=("answer",))
  assert out == pytest.approx({"ev/acc": 7 / 13, "ev/parsefail": 0.0, "ev/num": 13})


# ---------------------------------------------------------------------------- pope

def test_pope(tok_path, mesh):
  ev = _make("pope", tok_path, mesh)
  recs = _records(["Yes", "no", "no", "Not really", "yes"],
                  answer=["yes", "yes", "no", "no", "yes"])
  got = ev.score(recs)
  # "Not really": the words are "Not", "really": neither is "No"/"no"/"not" -> yes (FP).
  # TP 2 (1, 5), FN 1 (2), TN 1 (3), FP 1 (4).
  assert got == pytest.approx({"acc": 3 / 5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                               "yes_ratio": 3 / 5, "valid": 4 / 5, "num": 5})
  with pytest.raises(ValueError, match="POPE labels must be 'yes' or 'no'; got 'Yes'"):
    ev.score(_records(["yes"], answer=["Yes"]))


def test_pope_end_to_end(tok_path, mesh, tmp_path):
  # Label yes for even i (7); the prediction says yes when i % 3 == 0 (i = 0, 3, 6, 9, 12).
  rows = [{"prefix": "yes" if i % 3 == 0 else "no", "answer": "yes" if i % 2 == 0 else "no"}
          for i in range(13)]
  # TP: 0, 6, 12; FP: 3, 9; FN: 2, 4, 8, 10; TN: 1, 5, 7, 11.
  out = _run_stub("pope", rows, tok_path, mesh, tmp_path, keep=("answer",))
  assert out == pytest.approx({"ev/acc": 7 / 13, "ev/precision": 3 / 5, "ev/recall": 3 / 7,
                               "ev/f1": 2 * (3 / 5) * (3 / 7) / (3 / 5 + 3 / 7),
                               "ev/yes_ratio": 5 / 13, "ev/valid": 1.0, "ev/num": 13})


# ---------------------------------------------------------------------------- vqav2

def test_vqav2_per_answer_type(tok_path, mesh):
  ev = _make("vqav2", tok_path, mesh, answer_type_key="answer_type")
  ten = lambda a, n, b: [a] * n + [b] * (10 - n)
  recs = _records(["yes", "two", "red", "blue"],
                  answers=[ten("yes", 10, "no"), ten("2", 2, "3"), ten("red", 3, "blue"),
                           ten("red", 10, "x")],
                  answer_type=["yes/no", "number", "other", "other"])
  # Exact: "yes" and "red" are among the answers. "two" -> "2", 2 matches: the leave-one-out
  # mean of min(k/3, 1) = (2 * 1/3 + 8 * 2/3) / 10 = 0.6.
  # "red" with 3 matches: (3 * 2/3 + 7 * 1) / 10 = 0.9; "blue" with 0 matches of 10 "red": 0.
  assert ev.score(recs) == pytest.approx({
      "vqav2": (1 + 0.6 + 0.9 + 0) / 4, "exact": 2 / 4, "vqav2/yesno": 1.0, "num/yesno": 1,
      "vqav2/number": 0.6, "num/number": 1, "vqav2/other": 0.45, "num/other": 2})
  with pytest.raises(ValueError, match="answer_type_key needs 'vqav2'"):
    _make("vqav2", tok_path, mesh, answer_type_key="answer_type", metrics=("exact",))


# ---------------------------------------------------------------------------- refcoco_det

def _loc(*values):
  return "".join(f"<loc{v:04d}>" for v in values)


def test_refcoco_det(tok_path, mesh):
  ev = _make("refcoco_det", tok_path, mesh)
  recs = _records([_loc(0, 0, 1023, 1023) + " cat", "cat", _loc(0, 0, 1023, 511) + " cat"],
                  **{"objects/bbox": [[[0.0, 0.0, 1.0, 0.5]], [0.0, 0.0, 1.0, 0.5],
                                      [[0.0, 0.0, 1.0, 1.0], [0, 0, 0, 0]]]})
  # IoU 0.5; invalid (no box); 511/1023 of the full image, IoU just under 0.5.
  assert ev.score(recs) == pytest.approx({"acc_iou50": 1 / 3, "acc_iou75": 0.0,
                                          "miou": (0.5 + 511 / 1023) / 3, "invalid": 1,
                                          "total": 3})
  with pytest.raises(ValueError, match="must hold one box per example"):
    ev.score(_records(["x"], **{"objects/bbox": [[[0, 0, 1, 1], [0, 0, 0.5, 0.5]]]}))
  with pytest.raises(ValueError, match=r"evals.ev.thresholds=0.5: give a list of IoU thresholds"):
    _make("refcoco_det", tok_path, mesh, thresholds=0.5)


# ---------------------------------------------------------------------------- nlvr2

def test_nlvr2(tok_path, mesh):
  ev = _make("nlvr2", tok_path, mesh, id_key="identifier")
  recs = _records(["True", "false", "True", "yes"], answer=["True", "False", "False", True],
                  identifier=["dev-1-0-0", "dev-1-1-0", "dev-2-0-1", "dev-2-1-1"])
  # Right: 1, 2 (case ignored); wrong: 3, 4 ("yes" is no label). Sentences: dev-1--0 all right.
  assert ev.score(recs) == {"acc": 0.5, "valid": 0.75, "num": 4.0, "consistency": 0.5}
  with pytest.raises(ValueError, match="labels must be 'True' or 'False'; got 'yes'"):
    ev.score(_records(["True"], answer=["yes"], identifier=["dev-1-0-0"]))


def test_nlvr2_end_to_end(tok_path, mesh, tmp_path):
  rows = [{"prefix": "True" if i % 2 else "False", "answer": "True"} for i in range(13)]
  out = _run_stub("nlvr2", rows, tok_path, mesh, tmp_path, keep=("answer",))
  assert out == pytest.approx({"ev/acc": 6 / 13, "ev/valid": 1.0, "ev/num": 13})


def test_storepreds_writes_the_nlvr2_csv(tok_path, mesh, tmp_path):
  rows = [{"prefix": "True" if i % 2 else "False", "identifier": f"dev-{i}-0-0"}
          for i in range(13)]
  outfile = tmp_path / "out" / "nlvr2_test.csv"
  out = _run_stub("storepreds", rows, tok_path, mesh, tmp_path, keep=("identifier",),
                  format="nlvr2", outfile=str(outfile))
  assert out == {"ev/num_predictions": 13.0}
  assert outfile.read_text() == "".join(f"dev-{i}-0-0,{'True' if i % 2 else 'False'}\n"
                                        for i in range(13))


def test_storepreds_writes_the_vizwiz_results_and_the_scorer_reads_them(tok_path, mesh,
                                                                          tmp_path):
  """The VizWiz-VQA results file [{"image", "answer"}] keyed by image file name (big_vision's
  out_question_key "image"), scored by `evaluators.score` against annotations in VizWiz's layout:
  10 answers "red" -> VQA accuracy 1 for "red", 0 for "blue"; 7 of 13 predictions are "red"."""
  names = [f"VizWiz_val_{i:08d}.jpg" for i in range(13)]
  rows = [{"prefix": "red" if i % 2 == 0 else "blue", "image/filename": n}
          for i, n in enumerate(names)]
  outfile = tmp_path / "out" / "vizwiz_val.json"
  out = _run_stub("storepreds", rows, tok_path, mesh, tmp_path, keep=("image/filename",),
                  format="vizwiz", outfile=str(outfile))
  assert out == {"ev/num_predictions": 13.0}
  written = json.loads(outfile.read_text())
  assert written == [{"image": n, "answer": r["prefix"]} for n, r in zip(names, rows)]
  gt = [{"image": n, "question": "what color is this?", "answerable": 1, "answer_type": "other",
         "answers": [{"answer": "red", "answer_confidence": "yes"}] * 10} for n in names]
  gt_path = tmp_path / "val.json"
  gt_path.write_text(json.dumps(gt))
  result = score.score_files("vqa_acc", str(outfile), str(gt_path))
  assert result["format"] == "vizwiz" and result["vqa_acc"] == pytest.approx(7 / 13)


def test_unknown_key_is_refused(tok_path, mesh):
  with pytest.raises(ValueError, match=r"unknown keys \['answers_key'\] for type 'pope'"):
    _make("pope", tok_path, mesh, answers_key="a")
