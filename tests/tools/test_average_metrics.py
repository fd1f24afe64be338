"""tools.average_metrics: the mean over languages of a metric, per step, as avg34 / avg35."""
import json

import pytest

from big_paligemma import fs
from tools import average_metrics


def test_means_per_step_without_the_excluded_evals(tmp_path, capsys):
  path = tmp_path / "metrics.jsonl"
  rows = [{"step": 10, "train/loss": 1.0},
          {"step": 20, "coco35l_de/cider": 1.0, "coco35l_fr/cider": 2.0, "coco35l_en/cider": 9.0,
           "coco35l_de/bleu4": 5.0, "xm3600_de/cider": 7.0}]
  path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
  got = average_metrics.main(["--metrics", str(path), "--prefix", "coco35l_",
                              "--exclude", "coco35l_en", "--expect", "2"])
  assert got == {20: (1.5, 2)}
  assert json.loads(capsys.readouterr().out) == {"step": 20, "coco35l_avg/cider": 1.5,
                                                 "evals": 2}
  with pytest.raises(ValueError, match="3 evals coco35l_\\*/cider .* expected 34"):
    average_metrics.main(["--metrics", str(path), "--prefix", "coco35l_", "--expect", "34"])
  run = tmp_path / "run.json"  # evaluators.run --out
  run.write_text(json.dumps({"xm3600_de/cider": 0.5, "xm3600_quz/cider": 0.25}))
  assert average_metrics.averages(average_metrics.read_rows(str(run)), "xm3600_") == {
      None: (0.375, 2)}


def test_reads_a_metrics_file_in_a_bucket(gcs_bucket):
  path = f"{gcs_bucket}/run/metrics.jsonl"
  fs.write_text(path, json.dumps({"step": 5, "xm3600_de/cider": 1.0, "xm3600_en/cider": 3.0}))
  assert average_metrics.main(["--metrics", path, "--prefix", "xm3600_"]) == {5: (2.0, 2)}
  with pytest.raises(FileNotFoundError, match=f"{gcs_bucket}/run/none.jsonl"):
    average_metrics.read_rows(f"{gcs_bucket}/run/none.jsonl")
