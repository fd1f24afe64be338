"""CIDEr-D through pycocoevalcap 1.2's scorer (the reference implementation), on tokenized captions.

Inputs are whitespace-tokenized strings (run `coco.ptb_tokenize` first to match the papers).
The document frequency is taken over the reference sets of all the images scored together, so
always score a whole split at once (never per shard): the value depends on the set.

Arithmetic (pycocoevalcap/cider/cider_scorer.py):
  * n-grams of order 1..4; an n-gram's weight is tf * (log(#images) - log(max(1, df))).
  * per order: sum over candidate n-grams of min(cand_w, ref_w) * ref_w, divided by the two vector
    norms when both are non-zero, times the Gaussian length penalty exp(-delta^2 / (2 sigma^2)).
  * the "length" in delta is the number of BIGRAMS of each caption (an upstream quirk).
  * image score = 10 * mean over orders of the sum over references / #references; CIDEr = mean.
Papers print 100 x this value (e.g. 1.41 here is "141.0").

We call the library rather than keep our own copy of this arithmetic: on 5000 COCO-sized images the
hand-written copy we had took 0.88x-1.22x the library's time (5-9 s each; tools/bench_metrics.py,
BENCHMARKS.md), seconds beside the decoding of the same split: no reason to keep a second copy.
"""
from typing import Hashable, Mapping, Sequence


def cider_d(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str],
            n: int = 4, sigma: float = 6.0) -> tuple[float, dict]:
  """CIDEr-D of tokenized candidates against tokenized references.

  Args:
    refs: image id -> the reference captions of that image (at least one each).
    cands: image id -> the one candidate caption; must have exactly the ids of `refs`.
    n: the largest n-gram order.
    sigma: the standard deviation of the Gaussian length penalty.

  Returns:
    (the corpus CIDEr-D, the pycocoevalcap value; {image id: its score}).
  """
  from pycocoevalcap.cider.cider import Cider  # pylint: disable=import-outside-toplevel (coco.py)
  check_ids(refs, cands)
  ids = list(refs)
  score, scores = Cider(n=n, sigma=sigma).compute_score(
      {i: list(refs[i]) for i in ids}, {i: [cands[i]] for i in ids})
  return float(score), {i: float(s) for i, s in zip(ids, scores)}


def check_ids(refs: Mapping, cands: Mapping) -> None:
  """Raises unless refs and cands have the same non-empty ids and every image has a reference."""
  if not refs:
    raise ValueError("No images to score: refs is empty.")
  if set(refs) != set(cands):
    missing = sorted(map(str, set(refs) - set(cands)))[:20]
    extra = sorted(map(str, set(cands) - set(refs)))[:20]
    raise ValueError(f"refs and cands must have the same ids; missing candidates for {missing}, "
                     f"candidates for unknown ids {extra} (first 20 of each).")
  empty = [i for i, r in refs.items() if not r]
  if empty:
    raise ValueError(f"Images {empty[:20]} have no reference caption; give each at least one.")
