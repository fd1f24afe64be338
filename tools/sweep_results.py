"""The results of sweeps as one table: `python -m tools.sweep_results DIR [--metric KEY]
[--format md|csv|json] [--by_transfer]`.

DIR is a `tools.sweep` workdir_root (or a folder of several, one per transfer), local or gs://.
One row per member: its swept values, status (done / running / failed / not started), the last
training step, and for every evaluator metric its final value, its best value and the step of the
best (lower is better for nll / perplexity / loss, higher for the rest). Rows are sorted by
--metric (default: the transfer's published metric, e.g. docvqa_validation/anls). --by_transfer
gives one row per transfer instead: its best member beside the published score of
configs/published.py for that model and resolution (published x 100 of the evaluator's value).
"""
import argparse
import csv
import io
import json
import math
from typing import Any

from big_paligemma import fs
from configs import common
from configs import published
from tools import sweep

LOWER_IS_BETTER = ("nll", "perplexity", "loss")


def _lower_better(key: str) -> bool:
  return key.rsplit("/", 1)[-1] in LOWER_IS_BETTER


def read_metrics(workdir: str) -> tuple[int | None, dict[str, list[tuple[int, float]]]]:
  """(last training step, {eval metric: [(step, value)]}) from workdir/metrics.jsonl."""
  path = fs.join(workdir, "metrics.jsonl")
  last, evals = None, {}
  if not fs.exists(path):
    return last, evals
  for line in fs.read_text(path).splitlines():
    if not line.strip():
      continue
    row = json.loads(line)
    step = row.pop("step")
    if "loss" in row:
      last = step
    for key, value in row.items():
      if "/" in key and isinstance(value, (int, float)):
        evals.setdefault(key, []).append((step, float(value)))
  return last, evals


def summarise(series: list[tuple[int, float]], key: str) -> dict[str, Any]:
  """{final, best, best_step} of one metric's (step, value) series."""
  pick = min if _lower_better(key) else max
  best_step, best = pick(series, key=lambda sv: sv[1])
  return {"final": series[-1][1], "best": best, "best_step": best_step}


def member_rows(root: str) -> list[dict[str, Any]]:
  """One row per member of every sweep under `root` (the sweeps' plans list members that never
  started; members are found at root/NAME and root/*/NAME)."""
  rows = []
  for plan_path in sorted(fs.glob(fs.join(root, sweep.PLAN_FILE))
                          + fs.glob(fs.join(root, "*", sweep.PLAN_FILE))):
    base = fs.dirname(plan_path)
    plan = json.loads(fs.read_text(plan_path))
    for name in plan["members"]:
      workdir = fs.join(base, name)
      state = sweep.read_state(workdir)
      last, evals = read_metrics(workdir)
      rows.append({"transfer": plan["transfer"], "name": name, "values": plan["members"][name],
                   "status": state.get("status", "not started"), "step": last,
                   "preset": plan["presets"].get(name),
                   "metrics": {k: summarise(v, k) for k, v in evals.items()}})
  if not rows:
    raise FileNotFoundError(f"no sweep under {root!r} ({sweep.PLAN_FILE} of tools.sweep).")
  return rows


def default_metric(rows: list[dict[str, Any]]) -> str | None:
  """The first eval metric whose name ends with the transfer's published metric (else the first
  eval metric seen)."""
  keys = sorted({k for r in rows for k in r["metrics"]})
  row_transfer = rows[0]["transfer"]
  if row_transfer in published.TRANSFERS:
    wanted = "/" + published.TRANSFERS[row_transfer].metric
    keys = [k for k in keys if k.endswith(wanted)] or keys
  return keys[0] if keys else None


def sort_rows(rows: list[dict[str, Any]], metric: str | None) -> list[dict[str, Any]]:
  """Best first by `metric`'s best value; rows without it last."""
  if metric is None:
    return rows
  sign = 1 if _lower_better(metric) else -1
  return sorted(rows, key=lambda r: (metric not in r["metrics"],
                                     sign * r["metrics"].get(metric, {}).get("best", 0.0)))


def published_score(transfer: str, preset: str | None) -> float | None:
  """The published score of `transfer` for the model and resolution of `preset`, or None."""
  if transfer not in published.TRANSFERS or preset is None:
    return None
  for model, pattern in common.MODELS.items():
    for res in common.RESOLUTIONS:
      if pattern.format(res=res) == preset:
        return published.TRANSFERS[transfer].scores.get(model, {}).get(res)
  return None


def by_transfer(rows: list[dict[str, Any]], metric: str | None) -> list[dict[str, Any]]:
  """One row per transfer: its best member by its published metric (or `metric`)."""
  out = []
  for transfer in sorted({r["transfer"] for r in rows}):
    group = [r for r in rows if r["transfer"] == transfer]
    key = metric or default_metric(group)
    best = sort_rows(group, key)[0]
    value = best["metrics"].get(key, {}).get("best") if key else None
    out.append({"transfer": transfer, "best member": best["name"], "status": best["status"],
                "metric": key, "best": value,
                "published": published_score(transfer, best["preset"]),
                "members": len(group), "done": sum(r["status"] == "done" for r in group)})
  return out


def flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """Rows as flat {column: value} dicts (member rows: values, then metric/final|best|best_step)."""
  out = []
  for r in rows:
    if "metrics" not in r:
      out.append(dict(r))
      continue
    row = {"transfer": r["transfer"], "member": r["name"], **r["values"], "status": r["status"],
           "step": r["step"]}
    for key in sorted(r["metrics"]):
      for field, value in r["metrics"][key].items():
        row[f"{key} {field}"] = value
    out.append(row)
  return out


def _cell(value) -> str:
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.4g}" if math.isfinite(value) else str(value)
  return str(value)


def render(rows: list[dict[str, Any]], fmt: str) -> str:
  columns = list(dict.fromkeys(k for r in rows for k in r))
  if fmt == "json":
    return json.dumps(rows, indent=1)
  if fmt == "csv":
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
  return "\n".join(lines)


def main(argv=None) -> str:
  parser = argparse.ArgumentParser(prog="python -m tools.sweep_results", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("root", help="a tools.sweep --workdir_root (or a folder of several)")
  parser.add_argument("--metric", default=None, help="sort by this eval metric")
  parser.add_argument("--format", default="md", choices=("md", "csv", "json"))
  parser.add_argument("--by_transfer", action="store_true",
                      help="one row per transfer: its best member beside the published score")
  args = parser.parse_args(argv)
  try:
    rows = member_rows(args.root)
  except FileNotFoundError as e:
    parser.error(str(e))
  if args.by_transfer:
    table = by_transfer(rows, args.metric)
  else:
    table = flat(sort_rows(rows, args.metric or default_metric(rows)))
  text = render(table, args.format)
  print(text)
  return text


if __name__ == "__main__":
  main()
