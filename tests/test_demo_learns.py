"""The DocVQA demo learns: a shortened `docvqa.py:demo` run on freshly generated demo data.

Measures the untrained model (a 2-step run at lr 0: its end-of-run eval scores the initial
parameters) and the trained one with the same config, seed and evaluator. The demo questions have
one-word answers (4 colours, 3 shapes): answering by the question type alone gets about 0.3.

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
STEPS = 400


pytestmark = pytest.mark.slow  # the README's DocVQA demo, shortened

def final_scores(workdir: str) -> tuple[float, float]:
  """(ANLS, exact match) of the last eval in workdir/metrics.jsonl."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  scores = [r for r in rows if ANLS in r]
  assert scores, f"no {ANLS} in {workdir}/metrics.jsonl"
  return scores[-1][ANLS], scores[-1][EXACT]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo_data"))
  make_demo_data.make_demo_data(out, num_train=800, num_eval=64, size=64)
  return out


# The evaluators and the checkpoint once, at the end of a run (the demo evaluates at the start and
# every 25%, and saves every 100 steps; the test reads the last scores only).
END_EVALS = ["--config.eval_at_start=False", "--config.ckpt.every=100%"] + [
    f"--config.evals.{name}.every=100%"
    for name in ("docvqa_validation", "docvqa_minival_pplx", "docvqa_minitrain_pplx")]


def run(demo_dir: str, workdir: str, *overrides: str) -> tuple[float, float]:
  train.main(["--config", CONFIG.format(demo_dir), "--workdir", workdir,
              "--config.ckpt.async_save=False", *END_EVALS, *overrides])
  return final_scores(workdir)


def test_docvqa_demo_learns_from_untrained(demo_dir, tmp_path):
  untrained = run(demo_dir, str(tmp_path / "untrained"), "--config.total_steps=2",
                  "--config.optim.lr=0.0")
  trained = run(demo_dir, str(tmp_path / "trained"), f"--config.total_steps={STEPS}")
  print(f"(ANLS, exact) untrained {untrained} -> trained {trained} after {STEPS} steps")
  assert untrained[0] <= 0.1 and untrained[1] <= 0.1
  assert trained[0] >= 0.65 and trained[1] >= 0.65
  assert trained[0] >= untrained[0] + 0.55 and trained[1] >= untrained[1] + 0.55
