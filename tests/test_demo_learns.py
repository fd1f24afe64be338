"""The DocVQA demo learns: a shortened `docvqa.py:demo` run on freshly generated demo data.

Measures the untrained model (the run's eval at start, as the demo does: the initial parameters)
and the trained one (its eval at the end), with the same evaluator, in one run. The demo questions
have one-word answers (4 colours, 3 shapes): answering by the question type alone gets about 0.3.

Predictions are whitespace-trimmed before scoring, so the untrained model (which decodes
newlines) scores ANLS and exact match near 0; the test asserts both rise to a learned level.
"""
import json
import os

import pytest

from tools import make_demo_data
from trainers import train

CONFIG = "configs/transfer/docvqa.py:demo,demo_data={}"
ANLS, EXACT = "docvqa_validation/anls", "docvqa_validation/exact"
# Runs of 250, 300 and 400 steps end at 0.75, 0.78 and 0.80 (ANLS = exact match here; the 400-step
# run is at 0.66 by step 100 and 0.81 at step 300, on 64 questions).
STEPS = 300


pytestmark = pytest.mark.slow  # the README's DocVQA demo, shortened

def scores(workdir: str) -> list[tuple[int, float, float]]:
  """(step, ANLS, exact match) of each eval in workdir/metrics.jsonl."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  out = [(r["step"], r[ANLS], r[EXACT]) for r in rows if ANLS in r]
  assert out, f"no {ANLS} in {workdir}/metrics.jsonl"
  return out


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo_data"))
  make_demo_data.make_demo_data(out, num_train=800, num_eval=64, size=64, sets="docvqa")
  return out


# The evaluators at the start and once at the end, the checkpoint once (the demo evaluates at the
# start and every 25%, and saves every 100 steps; the test reads the first and last scores only).
END_EVALS = ["--config.eval_at_start=True", "--config.ckpt.every=100%"] + [
    f"--config.evals.{name}.every=100%"
    for name in ("docvqa_validation", "docvqa_minival_pplx", "docvqa_minitrain_pplx")]


def test_docvqa_demo_learns_from_untrained(demo_dir, tmp_path):
  workdir = str(tmp_path / "run")
  train.main(["--config", CONFIG.format(demo_dir), "--workdir", workdir,
              "--config.ckpt.async_save=False", f"--config.total_steps={STEPS}", *END_EVALS])
  rows = scores(workdir)
  assert [step for step, _, _ in rows] == [0, STEPS], rows
  untrained, trained = rows[0][1:], rows[-1][1:]
  print(f"(ANLS, exact) untrained {untrained} -> trained {trained} after {STEPS} steps")
  assert untrained[0] <= 0.1 and untrained[1] <= 0.1
  assert trained[0] >= 0.65 and trained[1] >= 0.65
  assert trained[0] >= untrained[0] + 0.55 and trained[1] >= untrained[1] + 0.55
