"""The published PaliGemma transfers: prompts, recipes and scores, one row per transfer config.

The one table that the transfer configs read their published settings from and that
tests/configs pins them to. Sources, per row: big_vision's
`big_vision/configs/proj/paligemma/transfers/<name>.py` (prompt and text length from its
training_data / add_eval pp; the recipe of each resolution from its `sweep_best`, with its
`get_config` defaults for what sweep_best leaves out), the PaliGemma paper / big_vision README
(PaliGemma 1 3B scores) and the PaliGemma 2 paper, arXiv 2412.03555 (PaliGemma 2 scores: its
Table 13; PaliGemma 2 recipes, `pg2_recipes`: PaliGemma's 224 px recipe with each size's learning
rate from its Table 14 sweep, at 224 and 448 px). Each section's comments name the table, line and
split of its numbers.

Models: "pg1_3b" (PaliGemma 1 3B), "pg2_3b", "pg2_10b", "pg2_28b" (PaliGemma 2); see
configs/common.MODELS.
"""
import dataclasses
from typing import Mapping

MODELS = ("pg1_3b", "pg2_3b", "pg2_10b", "pg2_28b")


@dataclasses.dataclass(frozen=True)
class Recipe:
  """One published training recipe (`epochs`, or `examples` seen where big_vision counts those).
  Everything else is the transfer default (configs/common.transfer_optim: adam b2 0.999, clip
  1.0, cosine, 5% warm-up)."""
  epochs: float | None
  lr: float
  wd: float = 0.0
  batch_size: int = 256
  label_smoothing: float = 0.0
  llm_dropout: float = 0.0
  freeze_vit: bool = False  # big_vision's sweep_best trains the decoder only (e.g. GQA at 448).
  examples: int | None = None  # big_vision's total_examples, where it counts examples (epochs=None)


@dataclasses.dataclass(frozen=True)
class Transfer:
  """A published transfer.

  name: its config, configs/transfer/<name>.py. prompt: the prefix template (pp strfmt) exactly
  as big_vision writes it ("{question}" is the bare question). text_len: the pp's text length
  (also the decode length unless `decode` says otherwise). metric: the evaluator's metric key
  the scores are in (scores are as published: the evaluator's value x 100). recipes: res ->
  Recipe (PaliGemma 1 3B and, unless pg2_recipes has the entry, PaliGemma 2). pg2_recipes:
  (model, res) -> Recipe where PaliGemma 2 differs. scores: model -> {res: published score}.
  decode: the eval sampler (e.g. {"name": "beam", "beam_size": 2}; empty: greedy). to_lower: the
  evaluator lower-cases predictions and answers (big_vision's to_lower). suffix: the target
  template (pp strfmt) where the target is not a plain field ("": the config names the field).
  other_scores: published scores of the transfer's other evaluations or metrics, {eval or
  "<eval>/<metric>": {model: {res: score}}} (e.g. xGQA, the zero-shot eval of the GQA transfer;
  TallyQA's complex questions). pg2_note: for a trained row without pg2_recipes, why PaliGemma 2
  trains with `recipes` (PaliGemma 1 3B's) at every size; shown in the README table.
  """
  name: str
  prompt: str
  text_len: int
  metric: str
  recipes: Mapping[int, Recipe]
  scores: Mapping[str, Mapping[int, float]]
  pg2_recipes: Mapping[tuple[str, int], Recipe] = dataclasses.field(default_factory=dict)
  decode: Mapping[str, object] = dataclasses.field(default_factory=dict)
  to_lower: bool = False
  suffix: str = ""
  other_scores: Mapping[str, Mapping[str, Mapping[int, float]]] = dataclasses.field(
      default_factory=dict)
  pg2_note: str = ""

  def recipe(self, model: str, res: int) -> Recipe:
    """The recipe of `model` at `res` (KeyError naming the published resolutions)."""
    if (model, res) in self.pg2_recipes:
      return self.pg2_recipes[(model, res)]
    if res not in self.recipes:
      raise KeyError(f"{self.name} has no published recipe at res={res}; published: "
                     f"{sorted(self.recipes)}.")
    return self.recipes[res]


def _same(recipe: Recipe, *resolutions: int) -> dict[int, Recipe]:
  return {res: recipe for res in resolutions}


def _pg2_lrs(recipe: Recipe, lrs: Mapping[str, float], *resolutions: int) -> dict:
  """PaliGemma 2's recipes from the PaliGemma 2 paper (arXiv 2412.03555): `recipe` (PaliGemma's
  224 px one: its transfers at 448 px reuse the 224 px settings) with each size's learning rate,
  the best on the task's validation split of its Table 14 sweep (3e-7, 6e-7, 1e-6, 3e-6, 6e-6,
  1e-5, 3e-5, at 224 px; a tie takes the lower rate)."""
  return {(model, res): dataclasses.replace(recipe, lr=lr)
          for model, lr in lrs.items() for res in resolutions}


# Captions and referring expressions: recipes and scores several rows share.
_COCOCAP = Recipe(epochs=5, lr=1e-5, wd=1e-6)
_COCO35L = Recipe(epochs=None, examples=5 * 566_435, lr=1e-5, wd=1e-6)
_TEXTCAPS = Recipe(epochs=5, lr=1e-5, wd=1e-6)
_SCREEN2WORDS = Recipe(epochs=10, lr=1e-5, label_smoothing=0.2, llm_dropout=0.3)
_WIDGETCAP = Recipe(epochs=4, lr=3e-6, wd=3e-7, batch_size=64, label_smoothing=0.1,
                    llm_dropout=0.1)
_REFCOCO = {224: Recipe(epochs=100, lr=3e-5, label_smoothing=0.3, llm_dropout=0.1),
            448: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3),
            896: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3, batch_size=64)}
_REFCOCO_PG2_LRS = {"pg2_3b": 1e-5, "pg2_10b": 3e-6, "pg2_28b": 1e-6}
_NOCAPS_SCORES = {"pg1_3b": {224: 121.7, 448: 123.6}, "pg2_3b": {224: 123.1, 448: 123.5},
                  "pg2_10b": {224: 126.3, 448: 126.9}, "pg2_28b": {224: 127.1, 448: 127.0}}
_XM3600_EN = {"pg1_3b": {224: 78.0, 448: 80.0}, "pg2_3b": {224: 79.8, 448: 80.3},
              "pg2_10b": {224: 80.7, 448: 81.5}, "pg2_28b": {224: 81.0, 448: 81.0}}
_XM3600_AVG35 = {"pg1_3b": {224: 41.9, 448: 42.4}, "pg2_3b": {224: 42.8, 448: 43.2},
                 "pg2_10b": {224: 44.5, 448: 44.6}, "pg2_28b": {224: 45.2, 448: 45.2}}
# VQA and counting-and-others: the PaliGemma 1 3B recipe at 224 px (big_vision's sweep_best),
# which PaliGemma 2 trains with at 224 and 448 (with its own learning rate per size).
_DOCVQA = Recipe(epochs=10, lr=1e-5, wd=1e-6)
_CHARTQA = Recipe(epochs=30, lr=1e-5, wd=1e-6, label_smoothing=0.2, llm_dropout=0.1)
_VQAV2 = Recipe(epochs=10, lr=1e-5, wd=1e-6)
_TEXTVQA = Recipe(epochs=5, lr=3e-6)
_OKVQA = Recipe(epochs=10, lr=5e-6, batch_size=128)
_AOKVQA_DA = Recipe(epochs=10, lr=5e-6, batch_size=128)
_AOKVQA_MC = Recipe(epochs=15, lr=5e-6, batch_size=128)
_GQA = Recipe(epochs=1, lr=1e-5, wd=0.0)
_VIZWIZVQA = Recipe(epochs=10, lr=1e-5, wd=0.0)
_AI2D = Recipe(epochs=10, lr=1e-5, wd=1e-6)
_STVQA = Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.1)
_INFOVQA = Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.4)
_OCRVQA = Recipe(epochs=3, lr=3e-6, batch_size=128)
_TALLYQA = Recipe(epochs=2, lr=1e-5)
_RSVQA_LR = Recipe(epochs=3, lr=3e-6, label_smoothing=0.2)
_RSVQA_HR = Recipe(epochs=1, lr=1e-5)
_SCIENCE_QA = Recipe(epochs=20, lr=1e-5, batch_size=128, freeze_vit=True)
_NLVR2 = Recipe(epochs=3, lr=1e-5, wd=1e-6)

TRANSFERS: dict[str, Transfer] = {t.name: t for t in (
    # ------------------------------------------------------------------ captions
    # PaliGemma 1 scores: the PaliGemma paper (Table 1; big_vision's README where the paper has no
    # 896 / no second decimal); PaliGemma 2 (3B, 10B, 28B): the PaliGemma 2 paper's Table 13
    # (scores) and Table 14 (learning rates), as the VQA section says (these rows' numbers were
    # checked again against the same full text). Captions are scored with CIDEr (x 100) on the
    # split of each row's docstring.
    Transfer("cococap", prompt="caption en", text_len=32, metric="cider",
             recipes=_same(_COCOCAP, 224, 448),
             # COCOcap (minival) of Table 14: 28B ties at 6e-7 and 3e-6; the lower is taken.
             pg2_recipes=_pg2_lrs(_COCOCAP, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 6e-7}, 224, 448),
             scores={"pg1_3b": {224: 141.9, 448: 144.6}, "pg2_3b": {224: 141.3, 448: 143.4},
                     "pg2_10b": {224: 143.7, 448: 145.0}, "pg2_28b": {224: 144.0, 448: 145.2}},
             decode={"name": "beam", "beam_size": 2},
             other_scores={"nocaps": _NOCAPS_SCORES}),
    # nocaps: the cococap transfer evaluated on nocaps val (big_vision's cococap config does it).
    Transfer("nocaps", prompt="caption en", text_len=32, metric="cider",
             recipes=_same(_COCOCAP, 224, 448),
             pg2_recipes=_pg2_lrs(_COCOCAP, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 6e-7}, 224, 448),
             scores=_NOCAPS_SCORES, decode={"name": "beam", "beam_size": 2}),
    # COCO-35L: 35 languages, prompt "caption <lang>" ({language}: the example's own). Scores: the
    # mean CIDEr over the 34 non-English dev languages (the papers' "avg34"; big_vision's README
    # lists 115.8 / 118.0 for PaliGemma 1 in its avg-34 column, the paper 113.7 / 115.8). 5
    # "epochs" of one language: 5 x 566_435 examples of the mixture of the 35 train splits.
    Transfer("coco35l", prompt="caption {language}", text_len=32, metric="cider_avg34",
             recipes=_same(_COCO35L, 224, 448),
             pg2_recipes=_pg2_lrs(_COCO35L, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 3e-7}, 224, 448),
             scores={"pg1_3b": {224: 113.7, 448: 115.8}, "pg2_3b": {224: 113.9, 448: 115.8},
                     "pg2_10b": {224: 115.8, 448: 117.2}, "pg2_28b": {224: 116.5, 448: 117.2}},
             other_scores={
                 "coco35l_en": {"pg1_3b": {224: 139.2, 448: 141.2},
                                "pg2_3b": {224: 138.4, 448: 140.4},
                                "pg2_10b": {224: 140.8, 448: 142.4},
                                "pg2_28b": {224: 142.4, 448: 142.3}},
                 "xm3600_en": _XM3600_EN, "xm3600_avg35": _XM3600_AVG35}),
    # XM3600: the coco35l transfer evaluated on XM3600's 36 languages; scores: mean CIDEr over
    # the 35 non-English ones ("avg35").
    Transfer("xm3600", prompt="caption {language}", text_len=32, metric="cider_avg35",
             recipes=_same(_COCO35L, 224, 448),
             pg2_recipes=_pg2_lrs(_COCO35L, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 3e-7}, 224, 448),
             scores=_XM3600_AVG35, other_scores={"xm3600_en": _XM3600_EN}),
    Transfer("textcaps", prompt="caption en", text_len=32, metric="cider",
             recipes=_same(_TEXTCAPS, 224, 448),
             # TextCaps (minival) of Table 14: 10B ties at 1e-6 and 3e-6; the lower is taken.
             pg2_recipes=_pg2_lrs(_TEXTCAPS, {"pg2_3b": 1e-6, "pg2_10b": 1e-6,
                                              "pg2_28b": 3e-7}, 224, 448),
             scores={"pg1_3b": {224: 127.5, 448: 153.9}, "pg2_3b": {224: 127.5, 448: 152.1},
                     "pg2_10b": {224: 137.9, 448: 157.7}, "pg2_28b": {224: 139.9, 448: 153.6}},
             decode={"name": "beam", "beam_size": 3}),
    # SciCap's best learning rate is PaliGemma's 3e-5 for every PaliGemma 2 size (Table 14).
    Transfer("scicap", prompt="caption en", text_len=96, metric="cider",
             pg2_note="PG1 3B's (the best at every size)",
             recipes=_same(Recipe(epochs=80, lr=3e-5, label_smoothing=0.1, llm_dropout=0.1),
                           224, 448),
             scores={"pg1_3b": {224: 162.3, 448: 181.5}, "pg2_3b": {224: 165.1, 448: 183.3},
                     "pg2_10b": {224: 159.5, 448: 177.2}, "pg2_28b": {224: 156.9, 448: 172.7}},
             # BLEU-4 on test, as big_vision's README reports beside CIDEr.
             other_scores={"scicap_bleu4": {"pg1_3b": {224: 0.192, 448: 0.211}}}),
    Transfer("screen2words", prompt="caption en", text_len=24, metric="cider",
             recipes=_same(_SCREEN2WORDS, 224, 448),
             pg2_recipes=_pg2_lrs(_SCREEN2WORDS, {"pg2_3b": 6e-6, "pg2_10b": 1e-6,
                                                  "pg2_28b": 1e-6}, 224, 448),
             scores={"pg1_3b": {224: 117.6, 448: 119.6}, "pg2_3b": {224: 113.3, 448: 114.0},
                     "pg2_10b": {224: 117.8, 448: 119.1}, "pg2_28b": {224: 122.8, 448: 123.4}}),
    Transfer("widgetcap", prompt="caption en", text_len=32, metric="cider",
             recipes=_same(_WIDGETCAP, 224, 448),
             pg2_recipes=_pg2_lrs(_WIDGETCAP, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                               "pg2_28b": 6e-7}, 224, 448),
             scores={"pg1_3b": {224: 136.1, 448: 148.4}, "pg2_3b": {224: 138.1, 448: 151.4},
                     "pg2_10b": {224: 139.8, 448: 151.9}, "pg2_28b": {224: 138.8, 448: 148.9}}),
    # ------------------------------------------------------------------ VQA
    # PaliGemma 1 scores: big_vision's PaliGemma README (test servers where the benchmark has one).
    # PaliGemma 2 (3B, 10B, 28B), here and in the counting-and-others rows: the PaliGemma 2
    # paper (arXiv 2412.03555v1). Scores: its Table 13 (mean of 5 fine-tuning runs, 224 and 448
    # px) on the split Table 13 names, a validation split where the row's comment says so (the
    # PaliGemma 1 score beside it is then the test server's). Recipes (pg2_recipes, _pg2_lrs):
    # the 224 px recipe at 224 and 448 with the learning rate of Table 14's sweep that is best,
    # for that size, on the Table 14 line of the row's PaliGemma 2 score (its validation split;
    # ties: the lower rate); at 896 (not in the paper) PaliGemma 1 3B's 896 recipe. Read from a
    # stored full-text copy of the paper (library file id 61027942732); its 224 px columns equal
    # those copied in github.com/deep-diver/ai-paper-reviewer content/paper-reviews/2412.03555/
    # index.md (commit 136f6d2), its 448 px AI2D, OKVQA, CountBenchQA and VQAv2 scores the
    # PaliGemma 2 columns of the Gemma 3 report's Table 12 (arXiv 2503.19786).
    # DocVQA: PaliGemma 2 on val (Table 13 "DocVQA (val)"); lrs from Table 14's DocVQA (val).
    Transfer("docvqa", prompt="{question}", text_len=32, metric="anls",
             recipes=_same(_DOCVQA, 224, 448, 896),
             pg2_recipes=_pg2_lrs(_DOCVQA, {"pg2_3b": 6e-6, "pg2_10b": 3e-6,
                                            "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 43.7, 448: 78.0, 896: 84.8},
                     "pg2_3b": {224: 39.9, 448: 73.6}, "pg2_10b": {224: 43.9, 448: 76.6},
                     "pg2_28b": {224: 44.9, 448: 76.1}},
             to_lower=True),
    # PaliGemma 1: the mean of human and augmented (big_vision's README); PaliGemma 2: augmented
    # (Table 13 "ChartQA (aug)"; lrs from Table 14's ChartQA (aug) (minival)). Each test set
    # apart in other_scores (PaliGemma 1: the PaliGemma paper's Table 1, as Table 15 of the
    # PaliGemma 2 paper repeats it).
    Transfer("chartqa", prompt="{question}", text_len=48, metric="relaxed_accuracy",
             recipes=_same(_CHARTQA, 224, 448),
             pg2_recipes=_pg2_lrs(_CHARTQA, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                             "pg2_28b": 3e-7}, 224, 448),
             scores={"pg1_3b": {224: 57.1, 448: 71.4}, "pg2_3b": {224: 74.4, 448: 89.2},
                     "pg2_10b": {224: 74.2, 448: 90.1}, "pg2_28b": {224: 68.9, 448: 85.1}},
             other_scores={
                 "chartqa_augmented_test/relaxed_accuracy": {"pg1_3b": {224: 74.2, 448: 88.5}},
                 "chartqa_human_test/relaxed_accuracy": {
                     "pg1_3b": {224: 40.0, 448: 54.2}, "pg2_3b": {224: 42.0, 448: 54.0},
                     "pg2_10b": {224: 48.4, 448: 66.4}, "pg2_28b": {224: 46.8, 448: 61.3}}},
             to_lower=True),
    # VQAv2: PaliGemma 2 on minival (Table 13 "VQAv2 (minival)"; PaliGemma 1: test-std); Table
    # 14's VQAv2 (minival): 28B ties at 6e-7 and 1e-6.
    Transfer("vqav2", prompt="answer en {question_text}", text_len=32, metric="vqav2",
             recipes={224: _VQAV2, 448: dataclasses.replace(_VQAV2, wd=0.0)},
             pg2_recipes=_pg2_lrs(_VQAV2, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                           "pg2_28b": 6e-7}, 224, 448),
             scores={"pg1_3b": {224: 83.19, 448: 85.64}, "pg2_3b": {224: 83.0, 448: 84.8},
                     "pg2_10b": {224: 84.3, 448: 85.8}, "pg2_28b": {224: 84.5, 448: 85.8}}),
    # TextVQA: PaliGemma 2 on val (Table 13 "TextVQA (val)"; PaliGemma 1: test-std).
    Transfer("textvqa", prompt="answer en {question}", text_len=32, metric="vqav2",
             recipes={224: _TEXTVQA, 448: Recipe(epochs=10, lr=3e-6, wd=3e-7),
                      896: Recipe(epochs=10, lr=3e-6)},
             pg2_recipes=_pg2_lrs(_TEXTVQA, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 1e-6}, 224, 448),
             scores={"pg1_3b": {224: 55.47, 448: 73.15, 896: 76.48},
                     "pg2_3b": {224: 59.6, 448: 75.2}, "pg2_10b": {224: 64.0, 448: 76.6},
                     "pg2_28b": {224: 64.7, 448: 76.2}}),
    # OKVQA: val for both (lrs from Table 14's OKVQA (minival)).
    Transfer("okvqa", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             recipes=_same(_OKVQA, 224, 448),
             pg2_recipes=_pg2_lrs(_OKVQA, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                           "pg2_28b": 1e-6}, 224, 448),
             scores={"pg1_3b": {224: 63.54, 448: 63.15}, "pg2_3b": {224: 64.2, 448: 64.1},
                     "pg2_10b": {224: 68.0, 448: 68.6}, "pg2_28b": {224: 71.2, 448: 70.6}}),
    # A-OKVQA: PaliGemma 2 on val (Table 13 "AOKVQA-DA (val)", "AOKVQA-MC (val)"; PaliGemma 1:
    # the test server).
    Transfer("aokvqa_da", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             recipes=_same(_AOKVQA_DA, 224, 448),
             pg2_recipes=_pg2_lrs(_AOKVQA_DA, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                               "pg2_28b": 6e-7}, 224, 448),
             scores={"pg1_3b": {224: 61.85, 448: 63.22}, "pg2_3b": {224: 64.2, 448: 67.9},
                     "pg2_10b": {224: 68.9, 448: 70.8}, "pg2_28b": {224: 70.2, 448: 71.2}}),
    # Two spaces after "answer en", as big_vision's f"{PREFIX} {{question}}" writes it; {ansstr}
    # is the choices joined by " \t ".
    Transfer("aokvqa_mc", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             metric="acc", recipes=_same(_AOKVQA_MC, 224, 448),
             pg2_recipes=_pg2_lrs(_AOKVQA_MC, {"pg2_3b": 3e-6, "pg2_10b": 3e-7,
                                               "pg2_28b": 1e-6}, 224, 448),
             scores={"pg1_3b": {224: 76.37, 448: 76.90}, "pg2_3b": {224: 79.7, 448: 82.5},
                     "pg2_10b": {224: 83.7, 448: 85.9}, "pg2_28b": {224: 84.7, 448: 87.0}}),
    # GQA: testdev_balanced for both; lrs from Table 14's GQA (minival) (3B ties at 3e-6 and
    # 6e-6). PaliGemma 2 at 448 trains with the 224 recipe, so its vision tower is not frozen.
    Transfer("gqa", prompt="answer en {question}", text_len=32, metric="exact",
             recipes={224: _GQA, 448: dataclasses.replace(_GQA, freeze_vit=True)},
             pg2_recipes=_pg2_lrs(_GQA, {"pg2_3b": 3e-6, "pg2_10b": 1e-6,
                                         "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 65.61, 448: 67.03}, "pg2_3b": {224: 66.2, 448: 68.1},
                     "pg2_10b": {224: 67.2, 448: 68.3}, "pg2_28b": {224: 67.3, 448: 68.3}},
             # xGQA zero-shot after the GQA transfer. The mean over its 8 languages (bn, de, en,
             # id, ko, pt, ru, zh, as big_vision's README), keyed as tools.average_metrics prints
             # it for the gqa config's xgqa_test_zs_* evals; and the papers' "avg7", the mean
             # over the 7 besides English (PaliGemma 1: the PaliGemma paper's Table 1, as the
             # PaliGemma 2 paper's Table 15 repeats it; PaliGemma 2: its Table 13).
             other_scores={"xgqa_test_zs_avg/exact": {"pg1_3b": {224: 58.37, 448: 59.07}},
                           "xgqa_avg7": {"pg1_3b": {224: 57.3, 448: 57.9},
                                         "pg2_3b": {224: 58.6, 448: 60.4},
                                         "pg2_10b": {224: 61.4, 448: 62.6},
                                         "pg2_28b": {224: 61.1, 448: 62.1}}}),
    # VizWiz VQA: PaliGemma 2 on val (Table 13 "VizWizVQA (val)"; PaliGemma 1: test-std).
    Transfer("vizwizvqa", prompt="answer en {question}", text_len=48, metric="vqa_accuracy",
             recipes=_same(_VIZWIZVQA, 224, 448),
             pg2_recipes=_pg2_lrs(_VIZWIZVQA, {"pg2_3b": 1e-5, "pg2_10b": 3e-6,
                                               "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 73.7, 448: 75.52}, "pg2_3b": {224: 76.4, 448: 77.5},
                     "pg2_10b": {224: 78.1, 448: 78.6}, "pg2_28b": {224: 78.7, 448: 78.9}}),
    # AI2D: test for both; lrs from Table 14's AI2D (minival).
    Transfer("ai2d", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             metric="exact", recipes=_same(_AI2D, 224, 448),
             pg2_recipes=_pg2_lrs(_AI2D, {"pg2_3b": 6e-6, "pg2_10b": 1e-6,
                                          "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 72.12, 448: 73.28}, "pg2_3b": {224: 74.7, 448: 76.0},
                     "pg2_10b": {224: 83.1, 448: 84.4}, "pg2_28b": {224: 83.2, 448: 84.6}}),
    # ST-VQA: PaliGemma 2 on val (Table 13 "ST-VQA (val)"; PaliGemma 1: the test server).
    Transfer("stvqa", prompt="answer en {question}", text_len=48, metric="anls",
             recipes={224: _STVQA,
                      448: dataclasses.replace(_STVQA, batch_size=128),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.1)},
             pg2_recipes=_pg2_lrs(_STVQA, {"pg2_3b": 6e-6, "pg2_10b": 3e-6,
                                           "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 63.29, 448: 81.82, 896: 84.40},
                     "pg2_3b": {224: 61.9, 448: 80.5}, "pg2_10b": {224: 64.3, 448: 82.0},
                     "pg2_28b": {224: 65.1, 448: 81.8}}, to_lower=True),
    # InfographicVQA: PaliGemma 2 on val (Table 13 "InfoVQA (val)"; PaliGemma 1: the test
    # server).
    Transfer("infovqa", prompt="answer en {question}", text_len=48, metric="anls",
             recipes={224: _INFOVQA,
                      448: dataclasses.replace(_INFOVQA, batch_size=128),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.4)},
             pg2_recipes=_pg2_lrs(_INFOVQA, {"pg2_3b": 3e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 3e-7}, 224, 448),
             scores={"pg1_3b": {224: 28.46, 448: 40.47, 896: 47.75},
                     "pg2_3b": {224: 25.2, 448: 37.5}, "pg2_10b": {224: 33.6, 448: 47.8},
                     "pg2_28b": {224: 36.4, 448: 46.7}}, to_lower=True),
    # OCR-VQA: test for both; lrs from Table 14's OCR-VQA (minival) (3B ties at 1e-6 and 3e-6,
    # 28B at 3e-7 and 6e-7).
    Transfer("ocrvqa", prompt="answer en {question}", text_len=32, metric="exact",
             recipes={224: _OCRVQA, 448: _OCRVQA,
                      896: Recipe(epochs=3, lr=1e-5, batch_size=128)},
             pg2_recipes=_pg2_lrs(_OCRVQA, {"pg2_3b": 1e-6, "pg2_10b": 3e-7,
                                            "pg2_28b": 3e-7}, 224, 448),
             scores={"pg1_3b": {224: 73.24, 448: 75.60, 896: 75.90},
                     "pg2_3b": {224: 73.4, 448: 75.7}, "pg2_10b": {224: 74.7, 448: 76.3},
                     "pg2_28b": {224: 75.3, 448: 76.6}}, to_lower=True),
    # ------------------------------------------------------------------ counting and others
    # PaliGemma 1 scores: big_vision's PaliGemma README (pt-224 / pt-448); PaliGemma 2: the
    # PaliGemma 2 paper's Tables 13 and 14, as the VQA rows say.
    # TallyQA: test for both; lrs from Table 14's TallyQA (simple) (its complex line picks 1e-5,
    # 3e-6, 3e-6). CountBenchQA: PaliGemma 1 from the PaliGemma paper's Table 1 (as Table 15 of
    # the PaliGemma 2 paper repeats it).
    Transfer("tallyqa", prompt="answer en {question}", text_len=32, metric="acc/simple",
             suffix="{answer}",
             recipes={224: _TALLYQA, 448: dataclasses.replace(_TALLYQA, wd=1e-6),
                      896: Recipe(epochs=2, lr=7e-6, wd=7e-7)},
             pg2_recipes=_pg2_lrs(_TALLYQA, {"pg2_3b": 6e-6, "pg2_10b": 6e-7,
                                             "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 81.72, 448: 84.86}, "pg2_3b": {224: 81.8, 448: 85.3},
                     "pg2_10b": {224: 83.2, 448: 86.2}, "pg2_28b": {224: 83.4, 448: 85.7}},
             other_scores={"tallyqa_test/acc/complex": {"pg1_3b": {224: 69.56, 448: 72.27},
                                                        "pg2_3b": {224: 70.3, 448: 73.6},
                                                        "pg2_10b": {224: 73.4, 448: 76.7},
                                                        "pg2_28b": {224: 74.2, 448: 76.8}},
                           "countbenchqa/acc": {"pg1_3b": {224: 81.9, 448: 83.1},
                                                "pg2_3b": {224: 81.0, 448: 82.0},
                                                "pg2_10b": {224: 84.0, 448: 85.3},
                                                "pg2_28b": {224: 86.4, 448: 87.4}}}),
    # RSVQA-LR: test for both; lrs from Table 14's RSVQA-lr (minival) (28B ties at 6e-6 and 1e-5).
    Transfer("rsvqa_lr", prompt="answer en {question}", text_len=32, metric="acc_avg",
             recipes=_same(_RSVQA_LR, 224, 448),
             pg2_recipes=_pg2_lrs(_RSVQA_LR, {"pg2_3b": 3e-6, "pg2_10b": 1e-5,
                                              "pg2_28b": 6e-6}, 224, 448),
             scores={"pg1_3b": {224: 92.65, 448: 93.11}, "pg2_3b": {224: 93.0, 448: 92.7},
                     "pg2_10b": {224: 92.8, 448: 93.1}, "pg2_28b": {224: 93.5, 448: 93.7}},
             to_lower=True),
    # RSVQA-HR: test and test_2 for both; lrs from Table 14's RSVQA-hr (minival).
    Transfer("rsvqa_hr", prompt="answer en {question}", text_len=32, metric="acc_avg",
             recipes=_same(_RSVQA_HR, 224, 448),
             pg2_recipes=_pg2_lrs(_RSVQA_HR, {"pg2_3b": 1e-5, "pg2_10b": 6e-6,
                                              "pg2_28b": 6e-7}, 224, 448),
             scores={"pg1_3b": {224: 92.61, 448: 92.79}, "pg2_3b": {224: 92.7, 448: 92.8},
                     "pg2_10b": {224: 92.6, 448: 92.8}, "pg2_28b": {224: 92.7, 448: 92.8}},
             to_lower=True,
             other_scores={"rsvqa_hr_test_2/acc_avg": {"pg1_3b": {224: 90.58, 448: 90.54},
                                                       "pg2_3b": {224: 90.9, 448: 90.7},
                                                       "pg2_10b": {224: 90.8, 448: 90.7},
                                                       "pg2_28b": {224: 90.9, 448: 90.8}}}),
    # ScienceQA: test for both; lrs from Table 14's ScienceQA (minival) (10B ties at 1e-6 and
    # 3e-6); the vision tower stays frozen (the 224 recipe's).
    Transfer("science_qa",
             prompt="Question: {question}\nContext: {hint}\nOptions: {indexed_choices}\nAnswer:",
             suffix="The answer is {indexed_answer}.", text_len=512, metric="acc",
             recipes=_same(_SCIENCE_QA, 224, 448),
             pg2_recipes=_pg2_lrs(_SCIENCE_QA, {"pg2_3b": 6e-6, "pg2_10b": 1e-6,
                                                "pg2_28b": 1e-6}, 224, 448),
             scores={"pg1_3b": {224: 95.39, 448: 95.93}, "pg2_3b": {224: 96.1, 448: 96.2},
                     "pg2_10b": {224: 98.2, 448: 98.5}, "pg2_28b": {224: 98.2, 448: 98.6}}),
    # Evaluation only, of a VQAv2 transfer (big_vision trains 0 steps): no recipe. The PaliGemma 2
    # paper reports no POPE.
    Transfer("pope", prompt="{question}", text_len=48, metric="acc", recipes={},
             scores={"pg1_3b": {224: 87.80, 448: 88.23}},
             other_scores={"pope_popular/acc": {"pg1_3b": {224: 85.87, 448: 86.77}},
                           "pope_adversarial/acc": {"pg1_3b": {224: 84.27, 448: 85.90}}}),
    # NLVR2: test for both; lrs from Table 14's NLVR2 (minival) (10B ties at 1e-6 and 3e-6, 28B
    # at 3e-6 and 6e-6). PaliGemma 2 at 448 trains with the 224 recipe (3 epochs).
    Transfer("nlvr2", prompt="answer en {sentence}", text_len=64, metric="acc",
             recipes={224: _NLVR2, 448: Recipe(epochs=10, lr=3e-6, wd=3e-7)},
             pg2_recipes=_pg2_lrs(_NLVR2, {"pg2_3b": 6e-6, "pg2_10b": 1e-6,
                                           "pg2_28b": 3e-6}, 224, 448),
             scores={"pg1_3b": {224: 90.02, 448: 88.93}, "pg2_3b": {224: 91.4, 448: 91.6},
                     "pg2_10b": {224: 93.9, 448: 93.7}, "pg2_28b": {224: 94.2, 448: 94.1}},
             # MaRVL: the mean accuracy over its 5 test languages (Table 13 "MARVL (avg5)").
             other_scores={"marvl_mean/acc": {"pg1_3b": {224: 80.57, 448: 76.78},
                                              "pg2_3b": {224: 83.5, 448: 82.7},
                                              "pg2_10b": {224: 89.5, 448: 89.1},
                                              "pg2_28b": {224: 90.6, 448: 89.7}}}),
    # ------------------------------------------------------------------ referring expressions
    # big_vision trains on refcocox_combined and scores the validation splits of RefCOCO (scores),
    # RefCOCO+ and RefCOCOg (other_scores) by mIoU (x 100). The prefix is the bare expression.
    # PaliGemma 2: its 224 px recipe at 224 and 448 with Table 14's RefCOCO (val) learning rates.
    Transfer("refcoco_seg", prompt="{expression}", text_len=48, metric="miou",
             recipes=_REFCOCO, pg2_recipes=_pg2_lrs(_REFCOCO[224], _REFCOCO_PG2_LRS, 224, 448),
             scores={"pg1_3b": {224: 73.4, 448: 75.6, 896: 76.9},
                     "pg2_3b": {224: 73.4, 448: 76.3}, "pg2_10b": {224: 75.9, 448: 78.2},
                     "pg2_28b": {224: 75.0, 448: 77.3}},
             other_scores={
                 "refcocoplus_val": {"pg1_3b": {224: 68.3, 448: 69.8, 896: 72.2},
                                     "pg2_3b": {224: 68.6, 448: 72.1},
                                     "pg2_10b": {224: 72.0, 448: 74.4},
                                     "pg2_28b": {224: 70.3, 448: 72.8}},
                 "refcocog_val": {"pg1_3b": {224: 67.7, 448: 70.1, 896: 72.2},
                                  "pg2_3b": {224: 68.3, 448: 72.3},
                                  "pg2_10b": {224: 71.4, 448: 74.4},
                                  "pg2_28b": {224: 70.5, 448: 73.0}}}),
    # Referring-expression detection: no published PaliGemma transfer (big_vision has no config):
    # PaliGemma's detection prompt ("detect {thing}", answer "<loc>x4 {thing}") on the same data
    # with refcoco_seg's recipe; scored by box accuracy at IoU 0.5. No published scores.
    Transfer("refcoco_det", prompt="detect {expression}", text_len=48, metric="acc_iou50",
             recipes=_REFCOCO, pg2_recipes=_pg2_lrs(_REFCOCO[224], _REFCOCO_PG2_LRS, 224, 448),
             scores={}),
)}
