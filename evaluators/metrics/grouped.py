"""Accuracy broken down by a per-question group (question type, answer type, simple/complex)."""
from typing import Hashable, Sequence


def group_means(values: Sequence[float], groups: Sequence[Hashable]) -> dict:
  """{group: mean of the values of its questions} for every group that has a question."""
  if len(values) != len(groups):
    raise ValueError(f"Need one group per value; got {len(values)} values, {len(groups)} groups.")
  sums, counts = {}, {}
  for v, g in zip(values, groups):
    sums[g] = sums.get(g, 0.0) + float(v)
    counts[g] = counts.get(g, 0) + 1
  return {g: sums[g] / counts[g] for g in sums}


def group_counts(groups: Sequence[Hashable]) -> dict:
  """{group: number of questions}."""
  out = {}
  for g in groups:
    out[g] = out.get(g, 0) + 1
  return out
