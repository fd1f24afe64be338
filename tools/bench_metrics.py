"""Metric speed: ANLS's edit distance on a DocVQA-sized set, caption metrics on a COCO-sized set.

  python -m tools.bench_metrics [--questions 5000] [--images 5000] [--trials 3] [--json]

ANLS: `--questions` synthetic questions with 1-3 answers of 5-40 characters and a prediction each
(an answer with its case changed, an answer with 1-5 character edits, or unrelated text). Times the
Levenshtein distances of every (answer, prediction) pair with a pure-Python dynamic programme (the
hand-written one ANLS had) and with the C library ANLS uses (`anls.levenshtein`), checks that they
are equal, and times the whole `anls.anls` of the set.
Captions: `--images` synthetic images with 5 reference captions of 8-14 words (a Zipf-like 1000-word
vocabulary) and a candidate each; times our CIDEr-D, BLEU-4 and ROUGE-L and pycocoevalcap's scorers
on the same tokenized text and checks the values are equal. Best of `--trials` for each.
"""
import argparse
import json
import os
import random
import string
import time

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from evaluators.metrics import anls
from evaluators.metrics import cider
from evaluators.metrics import coco

_CHARS = string.ascii_letters + string.digits + " .,-/"


def python_levenshtein(a: str, b: str) -> int:
  """The edit distance by the two-row dynamic programme (the baseline)."""
  if len(a) < len(b):
    a, b = b, a
  prev = list(range(len(b) + 1))
  for i, x in enumerate(a, 1):
    cur = [i]
    for j, y in enumerate(b, 1):
      cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
    prev = cur
  return prev[-1]


def _text(rng: random.Random) -> str:
  return "".join(rng.choice(_CHARS) for _ in range(rng.randint(5, 40)))


def _edit(rng: random.Random, text: str) -> str:
  chars = list(text)
  for _ in range(rng.randint(1, 5)):
    i = rng.randrange(len(chars) + 1)
    op = rng.choice("isd") if chars else "i"
    if op == "i":
      chars.insert(i, rng.choice(_CHARS))
    elif i < len(chars):
      chars[i] = rng.choice(_CHARS) if op == "s" else ""
  return "".join(chars)


def docvqa_set(num: int, seed: int = 0) -> tuple[list[list[str]], list[str]]:
  """(answers per question, predictions) of a DocVQA-sized synthetic set."""
  rng = random.Random(seed)
  answers, preds = [], []
  for _ in range(num):
    refs = [_text(rng) for _ in range(rng.randint(1, 3))]
    kind = rng.random()
    pred = (rng.choice(refs).swapcase() if kind < 0.5 else
            _edit(rng, rng.choice(refs)) if kind < 0.8 else _text(rng))
    answers.append(refs)
    preds.append(pred)
  return answers, preds


def coco_set(num: int, seed: int = 0) -> tuple[dict, dict]:
  """({image: 5 reference captions}, {image: candidate}) with a Zipf-like vocabulary."""
  rng = random.Random(seed)
  vocab = [f"w{i}" for i in range(1000)]
  weights = [1.0 / (i + 1) for i in range(1000)]
  caption = lambda: " ".join(rng.choices(vocab, weights, k=rng.randint(8, 14)))
  refs = {i: [caption() for _ in range(5)] for i in range(num)}
  return refs, {i: caption() for i in range(num)}


def best_time(fn, trials: int):
  """(smallest wall seconds of `trials` calls, the last result)."""
  best, out = float("inf"), None
  for _ in range(trials):
    start = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - start)
  return best, out


def bench_anls(num: int, trials: int) -> dict:
  answers, preds = docvqa_set(num)
  norm = lambda s: " ".join(s.strip().lower().split())
  pairs = [(norm(a), norm(p)) for refs, p in zip(answers, preds) for a in refs]
  t_py, d_py = best_time(lambda: [python_levenshtein(a, b) for a, b in pairs], trials)
  t_lib, d_lib = best_time(lambda: [anls.levenshtein(a, b) for a, b in pairs], trials)
  t_anls, value = best_time(lambda: anls.anls(answers, preds), trials)
  return {"questions": num, "pairs": len(pairs), "python_dp_s": t_py, "library_s": t_lib,
          "speedup": t_py / t_lib, "distances_equal": d_py == d_lib, "anls_s": t_anls,
          "anls": value}


def bench_captions(num: int, trials: int) -> dict:
  refs, cands = coco_set(num)
  res = {k: [v] for k, v in cands.items()}
  rows = {}
  for name, ours, lib in [
      ("cider", lambda: cider.cider_d(refs, cands)[0],
       lambda: Cider().compute_score(refs, res)[0]),
      ("bleu4", lambda: coco.bleu4(refs, cands),
       lambda: Bleu(4).compute_score(refs, res, verbose=0)[0][3]),
      ("rouge_l", lambda: coco.rouge_l(refs, cands),
       lambda: Rouge().compute_score(refs, res)[0])]:
    t_ours, v_ours = best_time(ours, trials)
    t_lib, v_lib = best_time(lib, trials)
    rows[name] = {"ours_s": t_ours, "pycocoevalcap_s": t_lib, "ratio": t_lib / t_ours,
                  "ours": v_ours, "pycocoevalcap": float(v_lib),
                  "equal": abs(v_ours - float(v_lib)) <= 1e-9}
  return {"images": num, **rows}


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--questions", type=int, default=5000)
  parser.add_argument("--images", type=int, default=5000)
  parser.add_argument("--trials", type=int, default=3)
  parser.add_argument("--json", action="store_true", help="print one JSON line only")
  args = parser.parse_args(argv)
  result = {"load_average": os.getloadavg()[0], "anls": bench_anls(args.questions, args.trials),
            "captions": bench_captions(args.images, args.trials)}
  if args.json:
    print(json.dumps(result))
    return result
  a = result["anls"]
  print(f"load average {result['load_average']:.2f}")
  print(f"ANLS, {a['questions']} questions, {a['pairs']} pairs: Levenshtein pure Python "
        f"{a['python_dp_s']:.3f} s, library {a['library_s']:.4f} s ({a['speedup']:.0f}x), equal: "
        f"{a['distances_equal']}; whole anls() {a['anls_s']:.3f} s")
  for name, r in result["captions"].items():
    if isinstance(r, dict):
      print(f"{name}, {args.images} images: ours {r['ours_s']:.3f} s, pycocoevalcap "
            f"{r['pycocoevalcap_s']:.3f} s (ours {r['ratio']:.2f}x), equal: {r['equal']}")
  return result


if __name__ == "__main__":
  main()
