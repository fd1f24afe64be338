"""VQA metrics: exact match, the simple VQA accuracy, and the official VQAv2 accuracy.

`vqav2_accuracy` follows the official vqaEval.py as GT-Vision-Lab/VQA has it since its 2021 fix
("Fixed processing answers bug", a013f00), which big_vision's vqav2 evaluator also follows: the
prediction and the ground-truth answers are stripped (newlines and tabs to spaces); only when the
answers do not all agree are both sides normalised (punctuation, then lower-case / number words to
digits / articles dropped / contractions). Accuracy is the mean over the leave-one-out subsets (10
for VQAv2's 10 answers) of min(#matches among the others / 3, 1). (The earlier vqaEval.py, and the
2017 EvalAI server script, always normalise the prediction and never the answers beyond their
punctuation: with ten "2" answers they count "two" right, where the current one counts it wrong.)
"""
import re
from typing import Hashable, Sequence

from evaluators.metrics import grouped

# The official tables (vqaEval.py), kept verbatim including their capitalised keys.
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
               "@", "`", ",", "?", "!")
# Upstream writes "(?!<=\d)" (a typo for a look-behind): it never blocks, kept for equality.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_DIGITS = re.compile(r"(\d)(,)(\d)")


def process_punctuation(text: str) -> str:
  """The official punctuation step: drop a mark next to a space (or anywhere once the text has
  a digit,digit comma), otherwise replace it by a space; then drop periods not before a digit."""
  out = text
  drop_all = _COMMA_DIGITS.search(text) is not None
  for p in PUNCTUATION:
    if drop_all or p + " " in text or " " + p in text:
      out = out.replace(p, "")
    else:
      out = out.replace(p, " ")
  # Upstream passes re.UNICODE (= 32) as the positional `count`: at most 32 periods go.
  return _PERIOD_STRIP.sub("", out, count=int(re.UNICODE))


def process_digit_article(text: str) -> str:
  """Lower-case, number words to digits, articles dropped, contractions restored."""
  words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
  words = [w for w in words if w not in ARTICLES]
  return " ".join(CONTRACTIONS.get(w, w) for w in words)


def _clean(text: str) -> str:
  return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_answer(text: str) -> str:
  """The official normalisation (punctuation, then digits / articles / contractions)."""
  return process_digit_article(process_punctuation(text))


def leave_one_out_accuracy(gt_answers: Sequence[str], pred: str) -> float:
  """Mean over i of min(#(gt_j == pred for j != i) / 3, 1); no normalisation."""
  if not gt_answers:
    raise ValueError(f"A question has no ground-truth answer (prediction {pred!r}).")
  matches = sum(gt == pred for gt in gt_answers)
  hit = [gt == pred for gt in gt_answers]
  return sum(min((matches - h) / 3.0, 1.0) for h in hit) / len(gt_answers)


def vqav2_accuracy(gt_answers: Sequence[str], pred: str) -> float:
  """Official VQAv2 accuracy of one prediction against its (usually 10) human answers."""
  gts, pred = [_clean(a) for a in gt_answers], _clean(pred)
  if len(set(gts)) > 1:  # Only when the humans disagree is either side normalised.
    gts, pred = [normalize_answer(a) for a in gts], normalize_answer(pred)
  return leave_one_out_accuracy(gts, pred)


def vqa_accuracy(gt_answers: Sequence[str], pred: str) -> float:
  """Simple VQA accuracy min(#exact matches / 3, 1), no normalisation (OK-VQA style)."""
  return min(sum(gt == pred for gt in gt_answers) / 3.0, 1.0)


def exact_match(gt_answers: Sequence[str], pred: str) -> float:
  """1.0 when the prediction equals one of the ground truths exactly, else 0.0."""
  return float(pred in gt_answers)


def per_answer_type(accuracies: Sequence[float], types: Sequence[Hashable],
                    name: str) -> dict[str, float]:
  """{"<name>/<type>": mean accuracy, "num/<type>": count} per answer type, as the official
  vqaEval.py's "perAnswerType" averages ("yes/no" is written "yesno")."""
  means, counts = grouped.group_means(accuracies, types), grouped.group_counts(types)
  out = {}
  for t in sorted(means, key=str):
    key = str(t).replace("/", "")
    out[f"{name}/{key}"], out[f"num/{key}"] = means[t], float(counts[t])
  return out
