"""tools.bench_metrics on a shrunken set: the library distances and scores equal the baselines."""
from tools import bench_metrics


def test_bench_metrics_small_run_checks_equality():
  out = bench_metrics.main(["--questions", "40", "--images", "12", "--trials", "1", "--json"])
  assert out["anls"]["distances_equal"] and out["anls"]["pairs"] >= 40
  assert 0.0 <= out["anls"]["anls"] <= 1.0
  assert all(out["captions"][m]["equal"] for m in ("cider", "bleu4", "rouge_l"))


def test_synthetic_sets_have_the_documented_shapes():
  answers, preds = bench_metrics.docvqa_set(200)
  assert len(preds) == 200 and all(1 <= len(a) <= 3 for a in answers)
  assert all(5 <= len(x) <= 40 for a in answers for x in a)
  refs, cands = bench_metrics.coco_set(5)
  assert all(len(r) == 5 for r in refs.values()) and set(cands) == set(refs)
  assert bench_metrics.python_levenshtein("kitten", "sitting") == 3
