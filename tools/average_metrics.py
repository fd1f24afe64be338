"""Means over several evals of one metric, as the multilingual caption benchmarks publish them.

  python -m tools.average_metrics --metrics WORKDIR/metrics.jsonl --prefix coco35l_ \
      [--metric cider] [--exclude coco35l_en] [--expect 34]

Reads the trainer's metrics.jsonl (one JSON object per line with "step") or the JSON file of
`evaluators.run --out`, and prints, for every step that has them, the mean of `<eval>/<metric>`
over the evals whose names start with --prefix, less --exclude: e.g. COCO-35L's avg34 (the 34
languages besides English, --prefix coco35l_ --exclude coco35l_en) and XM3600's avg35 (--prefix
xm3600_ --exclude xm3600_en). With --expect N, a step with another number of such evals is an
error (a language missing from the run).
"""
import argparse
import json

from big_paligemma import fs


def read_rows(path: str) -> list[dict]:
  """The metric rows of a metrics.jsonl file, or of an evaluators.run JSON file (step None)."""
  text = fs.read_text(path)
  if text.lstrip().startswith("{") and "\n{" not in text.strip():
    row = json.loads(text)
    return [row if "step" in row else {"step": None, **row}]
  return [json.loads(line) for line in text.splitlines() if line.strip()]


def averages(rows: list[dict], prefix: str, metric: str = "cider",
             exclude: tuple[str, ...] = (), expect: int | None = None) -> dict:
  """{step: (mean, number of evals)} of `<eval>/<metric>` over the matching evals of each step."""
  out = {}
  for row in rows:
    values = [v for k, v in row.items() if k.endswith(f"/{metric}") and k.startswith(prefix)
              and k[:-len(metric) - 1] not in exclude]
    if not values:
      continue
    if expect is not None and len(values) != expect:
      raise ValueError(f"step {row.get('step')}: {len(values)} evals {prefix}*/{metric} "
                       f"(without {list(exclude)}), expected {expect}.")
    out[row.get("step")] = (sum(values) / len(values), len(values))
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--metrics", required=True, help="metrics.jsonl or evaluators.run --out")
  parser.add_argument("--prefix", required=True, help="eval name prefix, e.g. coco35l_")
  parser.add_argument("--metric", default="cider")
  parser.add_argument("--exclude", default="", help="comma-separated eval names to leave out")
  parser.add_argument("--expect", type=int, default=None, help="number of evals per step")
  args = parser.parse_args(argv)
  exclude = tuple(n for n in args.exclude.split(",") if n)
  result = averages(read_rows(args.metrics), args.prefix, args.metric, exclude, args.expect)
  if not result:
    raise ValueError(f"{args.metrics} has no {args.prefix}*/{args.metric} values.")
  for step, (mean, n) in result.items():
    print(json.dumps({"step": step, f"{args.prefix}avg/{args.metric}": mean, "evals": n}))
  return result


if __name__ == "__main__":
  main()
