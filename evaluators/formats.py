"""Readers and writers of the benchmarks' official ground-truth, prediction and submission files.

Ground truths are read into {key: [reference strings]}, predictions into {key: string}:
  docvqa   {"data": [{"questionId", "answers", ...}]}     + RRC results [{"questionId", "answer"}]
  vqav2    {"annotations": [{"question_id", "answers": [{"answer"}, ...]}]}
                                                          + results [{"question_id", "answer"}]
  chartqa  [{"imgname", "query", "label"}]                + [{"imgname", "query", "answer"}];
           the key is (imgname, query)
  coco     {"annotations": [{"image_id", "caption"}]}     + results [{"image_id", "caption"}]
"""
import json
from typing import Any, Hashable, Mapping

from big_paligemma import fs

# format -> (prediction key fields, prediction value field)
PREDICTION_FIELDS = {
    "docvqa": (("questionId",), "answer"),
    "vqav2": (("question_id",), "answer"),
    "chartqa": (("imgname", "query"), "answer"),
    "coco": (("image_id",), "caption"),
}
CAPTION_FORMATS = ("coco",)


def load_json(path: str) -> Any:
  return json.loads(fs.read_text(path))


def detect_format(gt: Any, path: str = "<ground truth>") -> str:
  """The format name of a parsed ground-truth file; raises naming the accepted shapes."""
  if isinstance(gt, dict) and isinstance(gt.get("data"), list):
    return "docvqa"
  if isinstance(gt, dict) and isinstance(gt.get("annotations"), list) and gt["annotations"]:
    first = gt["annotations"][0]
    if "caption" in first:
      return "coco"
    if "answers" in first:
      return "vqav2"
  if isinstance(gt, list) and gt and isinstance(gt[0], dict) and "label" in gt[0]:
    return "chartqa"
  raise ValueError(f"{path}: unknown ground-truth format. Accepted: DocVQA {{'data': [...]}}, "
                   "VQAv2 {'annotations': [{'question_id', 'answers'}]}, COCO {'annotations': "
                   "[{'image_id', 'caption'}]}, ChartQA [{'imgname', 'query', 'label'}].")


def _field(record: Mapping, name: str, path: str) -> Any:
  if name not in record:
    raise ValueError(f"{path}: a record lacks the field {name!r}: {json.dumps(record)[:200]}")
  return record[name]


def _key(record: Mapping, fields: tuple[str, ...], path: str) -> Hashable:
  values = tuple(_field(record, f, path) for f in fields)
  return values[0] if len(values) == 1 else values


def read_ground_truth(path: str) -> tuple[str, dict[Hashable, list[str]]]:
  """(format name, {key: references}) of a ground-truth file in any format above."""
  gt = load_json(path)
  fmt = detect_format(gt, path)
  out: dict[Hashable, list[str]] = {}
  if fmt == "docvqa":
    for r in gt["data"]:
      _add_unique(out, _key(r, ("questionId",), path), list(_field(r, "answers", path)), path)
  elif fmt == "vqav2":
    for r in gt["annotations"]:
      answers = [_field(a, "answer", path) for a in _field(r, "answers", path)]
      _add_unique(out, _key(r, ("question_id",), path), answers, path)
  elif fmt == "chartqa":
    for r in gt:
      key = _key(r, ("imgname", "query"), path)
      label = [str(_field(r, "label", path))]
      if key in out and out[key] == label:
        continue  # The same question listed twice with the same label counts once.
      _add_unique(out, key, label, path)
  else:
    for r in gt["annotations"]:
      out.setdefault(_key(r, ("image_id",), path), []).append(_field(r, "caption", path))
  return fmt, out


def _add_unique(out: dict, key: Hashable, value: list[str], path: str) -> None:
  if key in out:
    raise ValueError(f"{path}: the id {key!r} appears twice (with {out[key]!r} and {value!r}).")
  out[key] = value


def read_predictions(path: str, fmt: str) -> dict[Hashable, str]:
  """{key: prediction} of a results file for ground-truth format `fmt`; duplicates are errors."""
  if fmt not in PREDICTION_FIELDS:
    raise ValueError(f"Unknown format {fmt!r}; choose from {sorted(PREDICTION_FIELDS)}.")
  key_fields, value_field = PREDICTION_FIELDS[fmt]
  records = load_json(path)
  if not isinstance(records, list):
    raise ValueError(f"{path}: predictions must be a JSON list of "
                     f"{{{', '.join(key_fields + (value_field,))}}} records.")
  out: dict[Hashable, str] = {}
  for r in records:
    _add_unique(out, _key(r, key_fields, path), str(_field(r, value_field, path)), path)
  return out


def _write(path: str, records: list[dict]) -> None:
  fs.write_text(path, json.dumps(records, ensure_ascii=False))


def write_docvqa_submission(path: str, answers: Mapping[Hashable, str]) -> None:
  """DocVQA / InfoVQA RRC submission: [{"questionId", "answer"}]."""
  _write(path, [{"questionId": k, "answer": v} for k, v in answers.items()])


def write_vqav2_submission(path: str, answers: Mapping[Hashable, str]) -> None:
  """VQAv2 (EvalAI) results: [{"question_id", "answer"}]."""
  _write(path, [{"question_id": k, "answer": v} for k, v in answers.items()])


def write_coco_submission(path: str, captions: Mapping[Hashable, str]) -> None:
  """COCO caption results: [{"image_id", "caption"}]."""
  _write(path, [{"image_id": k, "caption": v} for k, v in captions.items()])
