"""Readers and writers of the benchmarks' official ground-truth, prediction and submission files.

Ground truths are read into {key: [reference strings]}, predictions into {key: string}:
  docvqa   {"data": [{"questionId", "answers", ...}]}     + RRC results [{"questionId", "answer"}]
  vqav2    {"annotations": [{"question_id", "answers": [{"answer"}, ...]}]}
                                                          + results [{"question_id", "answer"}]
  chartqa  [{"imgname", "query", "label"}]                + [{"imgname", "query", "answer"}];
           the key is (imgname, query)
  coco     {"annotations": [{"image_id", "caption"}]}     + results [{"image_id", "caption"}]
  vizwiz   [{"image", "question", "answers": [{"answer", "answer_confidence"}], ...}]
                                                          + results [{"image", "answer"}]
           (VizWiz-VQA's annotations/{split}.json and its test server's file; the key is the
           image file name, one question per image)
The task formats (POPE, NLVR2, A-OKVQA, ScienceQA) are read by task_formats.py.

A file that is not JSON is an error naming it and the position; a null answer, caption or label
is an error naming the record (an empty answer is written "").
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
    "vizwiz": (("image",), "answer"),
}
CAPTION_FORMATS = ("coco",)


def _read_text(path: str) -> str:
  data = fs.read_bytes(path)
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError(f"{path} is not UTF-8 text (byte {e.start}): is it the right file?") from e


def _decode_error(path: str, e: json.JSONDecodeError, line_offset: int = 0) -> ValueError:
  return ValueError(f"{path} is not valid JSON: {e.msg} at line {e.lineno + line_offset} column "
                    f"{e.colno}.")


def load_json(path: str) -> Any:
  """The parsed JSON file; an error names the path, line and column when it is not JSON."""
  try:
    return json.loads(_read_text(path))
  except json.JSONDecodeError as e:
    raise _decode_error(path, e) from e


def load_records(path: str) -> Any:
  """A JSON file, or a JSON Lines file (one JSON value per line; blank lines skipped) as a list."""
  text = _read_text(path)
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    if e.msg != "Extra data":  # Only a second value after the first means JSON Lines.
      raise _decode_error(path, e) from e
  records = []
  for number, line in enumerate(text.splitlines(), 1):
    if line.strip():
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise _decode_error(path, e, number - 1) from e
  return records


def text_value(value: Any, what: str, record: Any, path: str) -> str:
  """A string-like field (text, number or bool) as text; null or a container is an error."""
  if value is None or isinstance(value, (dict, list)):
    raise ValueError(f"{path}: {what} is {json.dumps(value)} in the record "
                     f"{json.dumps(record)[:200]}; it must be text (write \"\" for an empty "
                     "answer).")
  return value if isinstance(value, str) else str(value)


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
  if isinstance(gt, list) and gt and isinstance(gt[0], dict) and {"image", "answers"} <= set(gt[0]):
    return "vizwiz"
  raise ValueError(f"{path}: unknown ground-truth format. Accepted: DocVQA {{'data': [...]}}, "
                   "VQAv2 {'annotations': [{'question_id', 'answers'}]}, COCO {'annotations': "
                   "[{'image_id', 'caption'}]}, ChartQA [{'imgname', 'query', 'label'}], VizWiz "
                   "[{'image', 'answers'}].")


def _field(record: Mapping, name: str, path: str) -> Any:
  if name not in record:
    raise ValueError(f"{path}: a record lacks the field {name!r}: {json.dumps(record)[:200]}")
  return record[name]


def _key(record: Mapping, fields: tuple[str, ...], path: str) -> Hashable:
  values = tuple(_field(record, f, path) for f in fields)
  return values[0] if len(values) == 1 else values


def read_ground_truth(path: str) -> tuple[str, dict[Hashable, list[str]]]:
  """(format name, {key: references}) of a ground-truth file in any format above."""
  return parse_ground_truth(load_json(path), path)


def vqav2_answer_types(gt: Mapping, path: str) -> dict[Hashable, str] | None:
  """{question_id: answer_type} of parsed VQAv2 annotations, or None when they have no types."""
  annotations = gt["annotations"]
  if not all("answer_type" in r for r in annotations):
    return None
  return {r["question_id"]: text_value(r["answer_type"], "the answer_type", r, path)
          for r in annotations}


def parse_ground_truth(gt: Any, path: str) -> tuple[str, dict[Hashable, list[str]]]:
  """(format name, {key: references}) of a parsed ground-truth file (`path` for messages)."""
  fmt = detect_format(gt, path)
  out: dict[Hashable, list[str]] = {}
  if fmt == "docvqa":
    for r in gt["data"]:
      answers = [text_value(a, "an answer", r, path) for a in _field(r, "answers", path)]
      _add_unique(out, _key(r, ("questionId",), path), answers, path)
  elif fmt in ("vqav2", "vizwiz"):
    for r in (gt["annotations"] if fmt == "vqav2" else gt):
      answers = [text_value(_field(a, "answer", path), "an answer", r, path)
                 for a in _field(r, "answers", path)]
      _add_unique(out, _key(r, PREDICTION_FIELDS[fmt][0], path), answers, path)
  elif fmt == "chartqa":
    for r in gt:
      key = _key(r, ("imgname", "query"), path)
      label = [text_value(_field(r, "label", path), "the label", r, path)]
      if key in out and out[key] == label:
        continue  # The same question listed twice with the same label counts once.
      _add_unique(out, key, label, path)
  else:
    for r in gt["annotations"]:
      caption = text_value(_field(r, "caption", path), "the caption", r, path)
      out.setdefault(_key(r, ("image_id",), path), []).append(caption)
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
    value = text_value(_field(r, value_field, path), f"the {value_field!r}", r, path)
    _add_unique(out, _key(r, key_fields, path), value, path)
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


def write_vizwiz_submission(path: str, answers: Mapping[Hashable, str]) -> None:
  """VizWiz-VQA (EvalAI) results: [{"image", "answer"}], keyed by the image file name."""
  _write(path, [{"image": k, "answer": v} for k, v in answers.items()])
