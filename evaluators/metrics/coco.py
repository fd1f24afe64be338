"""The other COCO caption metrics (BLEU-4, ROUGE-L, METEOR) and PTB tokenization.

All are pycocoevalcap 1.2's scorers. BLEU and ROUGE-L are pure Python there, so pre-tokenized text
needs no Java (the copies of them we had were 1.05x-1.1x and 1.3x-1.5x faster on 5000 COCO-sized
images, 1.5-2.5 s each, tools/bench_metrics.py: not worth keeping second copies equal). PTB
tokenization and METEOR run pycocoevalcap's Java jars, which need a `java` binary. pycocoevalcap
(about 100 MB with its jars) is imported where a score is computed, so importing the evaluators
(config validation, tools.plan on a machine with only JAX) does not need it.
"""
import shutil
from typing import Hashable, Mapping, Sequence

from evaluators.metrics import cider

_INSTALL = ("PTB tokenization and METEOR need a Java runtime on PATH (e.g. apt-get install "
            "default-jre); or pass pre-tokenized text and use cider/bleu4/rouge_l, which do not.")


def _require_java_tools():
  """Raises a clear error when there is no java binary."""
  if shutil.which("java") is None:
    raise RuntimeError(f"No `java` binary on PATH. {_INSTALL}")


def ptb_tokenize(captions: Mapping[Hashable, Sequence[str]]) -> dict:
  """PTB-tokenizes, lower-cases and strips punctuation as the COCO caption evaluation does.

  Args:
    captions: id -> list of raw captions.

  Returns:
    id -> list of tokenized captions (same order).
  """
  _require_java_tools()
  from pycocoevalcap.tokenizer import ptbtokenizer  # pylint: disable=import-outside-toplevel
  wrapped = {k: [{"caption": c} for c in v] for k, v in captions.items()}
  tokenized = ptbtokenizer.PTBTokenizer().tokenize(wrapped)
  lost = [k for k, v in captions.items() if len(tokenized.get(k, ())) != len(v)]
  if lost:
    raise RuntimeError(f"The PTB tokenizer returned a different number of captions for ids "
                       f"{lost[:20]} ({len(lost)} in all); check those captions.")
  return tokenized


def _lists(refs: Mapping, cands: Mapping) -> tuple[dict, dict]:
  """pycocoevalcap's inputs: {id: [references]} and {id: [candidate]}, ids checked."""
  cider.check_ids(refs, cands)
  return {i: list(refs[i]) for i in refs}, {i: [cands[i]] for i in refs}


def bleu(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str],
         n: int = 4) -> list[float]:
  """Corpus BLEU-1..n as pycocoevalcap's Bleu(n) ("closest" reference length), tokenized input."""
  from pycocoevalcap.bleu.bleu import Bleu  # pylint: disable=import-outside-toplevel
  scores, _ = Bleu(n).compute_score(*_lists(refs, cands), verbose=0)
  return [float(s) for s in scores]


def bleu4(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str]) -> float:
  """Corpus BLEU-4 as pycocoevalcap's Bleu(4) reports it (the last of its four values)."""
  return bleu(refs, cands, 4)[3]


def rouge_l(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str]) -> float:
  """Mean ROUGE-L (beta 1.2) over images, as pycocoevalcap's Rouge (tokens split on " ")."""
  from pycocoevalcap.rouge.rouge import Rouge  # pylint: disable=import-outside-toplevel
  score, _ = Rouge().compute_score(*_lists(refs, cands))
  return float(score)


def meteor(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str]) -> float:
  """METEOR 1.5 through pycocoevalcap's Java jar (needs java); tokenized input."""
  cider.check_ids(refs, cands)
  _require_java_tools()
  from pycocoevalcap.meteor import meteor as meteor_lib  # pylint: disable=import-outside-toplevel
  scorer = meteor_lib.Meteor()
  score, _ = scorer.compute_score({k: list(v) for k, v in refs.items()},
                                  {k: [cands[k]] for k in refs})
  return float(score)


CAPTION_METRICS = {"cider": lambda r, c: cider.cider_d(r, c)[0], "bleu4": bleu4,
                   "rouge_l": rouge_l, "meteor": meteor}


def caption_scores(refs: Mapping[Hashable, Sequence[str]], cands: Mapping[Hashable, str],
                   metrics: Sequence[str] = ("cider",), tokenize: bool = True) -> dict:
  """COCO caption metrics on raw captions (PTB-tokenized first when `tokenize`).

  Returns {metric: pycocoevalcap value}; CIDEr is not multiplied by 100.
  """
  unknown = sorted(set(metrics) - set(CAPTION_METRICS))
  if unknown:
    raise ValueError(f"Unknown caption metrics {unknown}; choose from {sorted(CAPTION_METRICS)}.")
  cider.check_ids(refs, cands)
  if tokenize:
    refs = ptb_tokenize(refs)
    cands = {k: v[0] for k, v in ptb_tokenize({k: [c] for k, c in cands.items()}).items()}
  return {m: CAPTION_METRICS[m](refs, cands) for m in metrics}
