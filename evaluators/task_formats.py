"""Readers of the official ground-truth and prediction files of POPE, NLVR2, A-OKVQA and ScienceQA.

  pope       labels: JSON Lines {"question_id", "image", "text", "label": "yes"|"no"} (RUCAIBox/POPE
             output/*/*.json); answers: JSON Lines {"question", "answer"} in the labels' order, as
             the official evaluate.py zips them (or with "question_id" to match by id).
  nlvr2      labels: JSON Lines {"identifier", "label": "True"|"False", ...} (lil-lab/nlvr
             nlvr2/data/*.json); predictions: CSV lines "identifier,prediction" (eval/metrics.py).
  aokvqa     [{"question_id", "choices", "correct_choice_idx", "direct_answers",
             "difficult_direct_answer", ...}] (aokvqa_v1p0_{split}.json); predictions:
             {question_id: {"multiple_choice": text, "direct_answer": text}} (either may be
             left out).
  scienceqa  problems.json {pid: {"choices", "answer": index, "split", ...}}; results:
             {"results": {pid: chosen index}, ...} (as models/run_gpt3.py writes it).
Every reader returns {key: value} in file order; an id twice, a null answer or a malformed record
is an error naming the file and the record. The writers produce the prediction files above (what
the "storepreds" evaluator writes for these benchmarks).
"""
import csv
import io
import json
from typing import Any, Hashable, Mapping

from big_paligemma import fs
from evaluators import formats


def _records(path: str, what: str) -> list:
  records = formats.load_records(path)
  if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
    raise ValueError(f"{path}: {what} must be JSON (Lines) records, one object each.")
  return records


def _field(record: Mapping, name: str, path: str) -> Any:
  if name not in record:
    raise ValueError(f"{path}: a record lacks the field {name!r}: {json.dumps(record)[:200]}")
  return record[name]


def _put(out: dict, key: Hashable, value: Any, path: str) -> None:
  if key in out:
    raise ValueError(f"{path}: the id {key!r} appears twice.")
  out[key] = value


def read_pope_labels(path: str) -> dict[Hashable, dict]:
  """{question_id: {"label": "yes"|"no", "text": question}} of a POPE label file."""
  out = {}
  for r in _records(path, "POPE labels"):
    label = formats.text_value(_field(r, "label", path), "the label", r, path)
    if label not in ("yes", "no"):
      raise ValueError(f"{path}: POPE labels are 'yes' or 'no'; got {label!r} in {json.dumps(r)}.")
    _put(out, _field(r, "question_id", path), {"label": label, "text": r.get("text")}, path)
  return out


def read_pope_answers(path: str, labels: Mapping[Hashable, dict]) -> dict[Hashable, str]:
  """{question_id: answer} of a POPE answer file: by "question_id" when every line has one, else
  line i answers label i (the official script); a "question" that differs from the label's text
  (ignoring case and surrounding blanks) is an error, as the files are then misaligned."""
  records = _records(path, "POPE answers")
  if records and all("question_id" in r for r in records):
    out = {}
    for r in records:
      _put(out, r["question_id"], formats.text_value(_field(r, "answer", path), "the answer",
                                                     r, path), path)
    return out
  if len(records) != len(labels):
    raise ValueError(f"{path}: {len(records)} answers for {len(labels)} labels; without "
                     "question_id, answer line i goes with label line i, so the counts must agree.")
  out = {}
  for i, (r, (qid, label)) in enumerate(zip(records, labels.items()), 1):
    question = r.get("question")
    if question is not None and label["text"] is not None and (
        str(question).strip().lower() != str(label["text"]).strip().lower()):
      raise ValueError(f"{path}: line {i} answers {question!r} but label line {i} (question_id "
                       f"{qid}) asks {label['text']!r}; the files are not aligned.")
    out[qid] = formats.text_value(_field(r, "answer", path), "the answer", r, path)
  return out


def read_nlvr2_labels(path: str) -> dict[str, str]:
  """{identifier: "True"|"False"} of an NLVR2 (or MaRVL) JSON Lines file."""
  out = {}
  for r in _records(path, "NLVR2 examples"):
    label = _field(r, "label", path)
    label = str(label) if isinstance(label, bool) else formats.text_value(label, "the label",
                                                                           r, path)
    _put(out, formats.text_value(_field(r, "identifier", path), "the identifier", r, path),
         label, path)
  return out


def read_nlvr2_predictions(path: str) -> dict[str, str]:
  """{identifier: prediction} of an NLVR2 predictions CSV ("identifier,prediction" per line)."""
  rows = list(csv.reader(io.StringIO(fs.read_text(path))))
  out = {}
  for number, row in enumerate(rows, 1):
    if not row:
      continue
    if len(row) != 2:
      raise ValueError(f"{path}:{number}: expected 'identifier,prediction', got {','.join(row)!r}.")
    _put(out, row[0].strip(), row[1].strip(), path)
  return out


def read_aokvqa(path: str) -> dict[Hashable, dict]:
  """{question_id: record} of an A-OKVQA annotation file, checked for the fields scoring needs."""
  out = {}
  for r in _records(path, "A-OKVQA annotations"):
    choices = [formats.text_value(c, "a choice", r, path) for c in _field(r, "choices", path)]
    idx = _field(r, "correct_choice_idx", path)
    if not isinstance(idx, int) or not 0 <= idx < len(choices):
      raise ValueError(f"{path}: correct_choice_idx={idx!r} is no index of the {len(choices)} "
                       f"choices of question {r.get('question_id')!r}.")
    direct = [formats.text_value(a, "a direct answer", r, path)
              for a in _field(r, "direct_answers", path)]
    _put(out, _field(r, "question_id", path), {
        "choices": choices, "correct_choice_idx": idx, "direct_answers": direct,
        "difficult_direct_answer": bool(_field(r, "difficult_direct_answer", path))}, path)
  return out


def read_aokvqa_predictions(path: str, setting: str) -> dict[Hashable, str]:
  """{question_id: prediction} of one setting ("multiple_choice" or "direct_answer")."""
  preds = formats.load_json(path)
  if not isinstance(preds, dict) or not all(isinstance(v, dict) for v in preds.values()):
    raise ValueError(f"{path}: A-OKVQA predictions must be {{question_id: {{'multiple_choice': "
                     "..., 'direct_answer': ...}}}.")
  return {k: formats.text_value(v[setting], f"the {setting!r}", {k: v}, path)
          for k, v in preds.items() if setting in v}


def read_scienceqa(path: str, split: str | None) -> dict[str, int]:
  """{pid: answer index} of ScienceQA's problems.json, restricted to `split` (needed when the file
  has several splits)."""
  problems = formats.load_json(path)
  if not isinstance(problems, dict):
    raise ValueError(f"{path}: ScienceQA problems must be {{pid: problem}}.")
  splits = sorted({p.get("split") for p in problems.values()}, key=str)
  if split is None and len(splits) > 1:
    raise ValueError(f"{path} has the splits {splits}: pass --split (e.g. --split test).")
  if split is not None and split not in splits:
    raise ValueError(f"{path} has no split {split!r}; it has {splits}.")
  return {pid: _field(p, "answer", path) for pid, p in problems.items()
          if split is None or p.get("split") == split}


def read_scienceqa_results(path: str) -> dict[str, int]:
  """{pid: chosen index} of a ScienceQA results file {"results": {pid: index}}."""
  results = formats.load_json(path)
  if not isinstance(results, dict) or not isinstance(results.get("results"), dict):
    raise ValueError(f"{path}: ScienceQA results must be {{'results': {{pid: index}}}}.")
  out = {}
  for pid, idx in results["results"].items():
    if isinstance(idx, bool) or not (isinstance(idx, int) or str(idx).strip().isdigit()):
      raise ValueError(f"{path}: the result of problem {pid} is {json.dumps(idx)}; it must be "
                       "the index of the chosen option.")
    out[pid] = int(idx)
  return out


def write_pope_answers(path: str, answers: Mapping[Hashable, str]) -> None:
  """POPE answers as JSON Lines {"question_id", "answer"}."""
  fs.write_text(path, "".join(json.dumps({"question_id": k, "answer": v}, ensure_ascii=False)
                              + "\n" for k, v in answers.items()))


def write_nlvr2_predictions(path: str, answers: Mapping[Hashable, str]) -> None:
  """NLVR2 predictions CSV: "identifier,prediction" lines."""
  text = io.StringIO()
  csv.writer(text, lineterminator="\n").writerows([k, v] for k, v in answers.items())
  fs.write_text(path, text.getvalue())


def _write_aokvqa(path: str, answers: Mapping[Hashable, str], setting: str) -> None:
  fs.write_text(path, json.dumps({k: {setting: v} for k, v in answers.items()},
                                 ensure_ascii=False))


def write_aokvqa_mc(path: str, answers: Mapping[Hashable, str]) -> None:
  """A-OKVQA predictions {question_id: {"multiple_choice": text}}."""
  _write_aokvqa(path, answers, "multiple_choice")


def write_aokvqa_da(path: str, answers: Mapping[Hashable, str]) -> None:
  """A-OKVQA predictions {question_id: {"direct_answer": text}}."""
  _write_aokvqa(path, answers, "direct_answer")
