"""Reading the ground-truth host fields of the eval records (after `common.to_python`).

The eval batches pad lists to the longest of the batch ("" for strings, 0 for numbers), so a list
field holds its values followed by padding.
"""
from typing import Any


def answer_list(value) -> list[str]:
  """The reference answers of one record: a string or a list of strings ("" padding dropped)."""
  values = [value] if isinstance(value, str) else list(value)
  return [v for v in values if v != ""]


def single(value: Any, key: str) -> Any:
  """A field that holds one value: a scalar, or a list with one non-padding entry."""
  if not isinstance(value, list):
    return value
  values = [v for v in value if v != ""]
  if len(values) != 1:
    raise ValueError(f"Field {key!r} must hold one value per example, got {value!r}.")
  return values[0]
