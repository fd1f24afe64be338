"""The published PaliGemma transfers: prompts, recipes and scores, one row per transfer config.

The one table that the transfer configs read their published settings from and that
tests/configs pins them to. Sources, per row: big_vision's
`big_vision/configs/proj/paligemma/transfers/<name>.py` (prompt and text length from its
training_data / add_eval pp; the recipe of each resolution from its `sweep_best`, with its
`get_config` defaults for what sweep_best leaves out), the PaliGemma paper / big_vision README
(PaliGemma 1 3B scores) and the PaliGemma 2 paper / model card (PaliGemma 2 scores; its transfers
reuse PaliGemma's recipes except where `pg2_recipes` says otherwise).

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


# PaliGemma 2's recipe where this table has no per-size one: big_vision ships no PaliGemma 2
# transfer configs, and the PaliGemma 2 paper's per-task learning rates (its Table 14 sweep) were
# read for the caption and RefCOCO rows only; the others' have not been checked against it, so
# every PaliGemma 2 size trains with PaliGemma 1 3B's published recipe.
_PG2_NONE_FOUND = "PG1 3B's (no per-size one read)"


def _same(recipe: Recipe, *resolutions: int) -> dict[int, Recipe]:
  return {res: recipe for res in resolutions}


def _pg2_lrs(recipe: Recipe, lrs: Mapping[str, float], *resolutions: int) -> dict:
  """PaliGemma 2's recipes from the PaliGemma 2 paper (arXiv 2412.03555): `recipe` (PaliGemma's
  224 px one: its transfers at 448 px reuse the 224 px settings) with each size's learning rate,
  the best on the task's validation split of its Table 14 sweep (3e-7 .. 3e-5, at 224 px)."""
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

TRANSFERS: dict[str, Transfer] = {t.name: t for t in (
    # ------------------------------------------------------------------ captions
    # PaliGemma 1 scores: the PaliGemma paper (Table 1; big_vision's README where the paper has no
    # 896 / no second decimal); PaliGemma 2 (3B, 10B, 28B): the PaliGemma 2 paper's Table 13.
    # Captions are scored with CIDEr (x 100) on the split of each row's docstring.
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
    Transfer("docvqa", prompt="{question}", text_len=32, metric="anls",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=10, lr=1e-5, wd=1e-6), 224, 448, 896),
             scores={"pg1_3b": {224: 43.7, 448: 78.0, 896: 84.8},
                     "pg2_3b": {224: 39.9, 448: 73.6}},
             to_lower=True),
    Transfer("chartqa", prompt="{question}", text_len=48, metric="relaxed_accuracy",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=30, lr=1e-5, wd=1e-6, label_smoothing=0.2,
                                  llm_dropout=0.1), 224, 448),
             # PaliGemma 1: the mean of human and augmented; PaliGemma 2: augmented (human
             # 42.0 / 54.0 in the model card).
             scores={"pg1_3b": {224: 57.1, 448: 71.4}, "pg2_3b": {224: 74.4, 448: 89.2}},
             to_lower=True),
    # VQA family. PaliGemma 1 scores: big_vision's PaliGemma README (test servers where the
    # benchmark has one); PaliGemma 2 3B: its model card (A-OKVQA on val). PaliGemma 2 reuses
    # PaliGemma's recipes (pg2_note: _PG2_NONE_FOUND).
    Transfer("vqav2", prompt="answer en {question_text}", text_len=32, metric="vqav2",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=10, lr=1e-5, wd=1e-6),
                      448: Recipe(epochs=10, lr=1e-5, wd=0.0)},
             scores={"pg1_3b": {224: 83.19, 448: 85.64}}),
    Transfer("textvqa", prompt="answer en {question}", text_len=32, metric="vqav2",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=5, lr=3e-6), 448: Recipe(epochs=10, lr=3e-6, wd=3e-7),
                      896: Recipe(epochs=10, lr=3e-6)},
             scores={"pg1_3b": {224: 55.47, 448: 73.15, 896: 76.48}}),
    Transfer("okvqa", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=10, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 63.54, 448: 63.15}}),
    Transfer("aokvqa_da", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=10, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 61.85, 448: 63.22}, "pg2_3b": {224: 64.2, 448: 67.9}}),
    # Two spaces after "answer en", as big_vision's f"{PREFIX} {{question}}" writes it; {ansstr}
    # is the choices joined by " \t ".
    Transfer("aokvqa_mc", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             pg2_note=_PG2_NONE_FOUND,
             metric="acc", recipes=_same(Recipe(epochs=15, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 76.37, 448: 76.90}, "pg2_3b": {224: 79.7, 448: 82.5}}),
    Transfer("gqa", prompt="answer en {question}", text_len=32, metric="exact",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=1, lr=1e-5, wd=0.0),
                      448: Recipe(epochs=1, lr=1e-5, wd=0.0, freeze_vit=True)},
             scores={"pg1_3b": {224: 65.61, 448: 67.03}, "pg2_3b": {224: 66.2, 448: 68.1}},
             # The mean accuracy over xGQA's 8 languages (bn, de, en, id, ko, pt, ru, zh, as
             # big_vision's README), zero-shot after the GQA transfer; the key is what
             # tools.average_metrics prints for the gqa config's xgqa_test_zs_* evals.
             other_scores={"xgqa_test_zs_avg/exact": {"pg1_3b": {224: 58.37, 448: 59.07}}}),
    Transfer("vizwizvqa", prompt="answer en {question}", text_len=48, metric="vqa_accuracy",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=10, lr=1e-5, wd=0.0), 224, 448),
             scores={"pg1_3b": {224: 73.7, 448: 75.52}}),
    Transfer("ai2d", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             pg2_note=_PG2_NONE_FOUND,
             metric="exact", recipes=_same(Recipe(epochs=10, lr=1e-5, wd=1e-6), 224, 448),
             scores={"pg1_3b": {224: 72.12, 448: 73.28}, "pg2_3b": {224: 74.7, 448: 76.0}}),
    Transfer("stvqa", prompt="answer en {question}", text_len=48, metric="anls",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.1),
                      448: Recipe(epochs=3, lr=1e-5, wd=1e-6, batch_size=128,
                                  label_smoothing=0.1),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.1)},
             scores={"pg1_3b": {224: 63.29, 448: 81.82, 896: 84.40}}, to_lower=True),
    Transfer("infovqa", prompt="answer en {question}", text_len=48, metric="anls",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.4),
                      448: Recipe(epochs=3, lr=1e-5, wd=1e-6, batch_size=128,
                                  label_smoothing=0.4),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.4)},
             scores={"pg1_3b": {224: 28.46, 448: 40.47, 896: 47.75},
                     "pg2_3b": {224: 25.2, 448: 37.5}}, to_lower=True),
    Transfer("ocrvqa", prompt="answer en {question}", text_len=32, metric="exact",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=3, lr=3e-6, batch_size=128),
                      448: Recipe(epochs=3, lr=3e-6, batch_size=128),
                      896: Recipe(epochs=3, lr=1e-5, batch_size=128)},
             scores={"pg1_3b": {224: 73.24, 448: 75.60, 896: 75.90}}, to_lower=True),
    # ------------------------------------------------------------------ counting and others
    # PaliGemma 1 scores: big_vision's PaliGemma README (pt-224 / pt-448); PaliGemma 2 3B: the
    # PaliGemma 2 model card. PaliGemma 2 reuses PaliGemma's recipes (pg2_note: _PG2_NONE_FOUND).
    Transfer("tallyqa", prompt="answer en {question}", text_len=32, metric="acc/simple",
             pg2_note=_PG2_NONE_FOUND,
             suffix="{answer}",
             recipes={224: Recipe(epochs=2, lr=1e-5), 448: Recipe(epochs=2, lr=1e-5, wd=1e-6),
                      896: Recipe(epochs=2, lr=7e-6, wd=7e-7)},
             scores={"pg1_3b": {224: 81.72, 448: 84.86}},
             other_scores={"tallyqa_test/acc/complex": {"pg1_3b": {224: 69.56, 448: 72.27}},
                           "countbenchqa/acc": {"pg2_3b": {224: 81.0, 448: 82.0}}}),
    Transfer("rsvqa_lr", prompt="answer en {question}", text_len=32, metric="acc_avg",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=3, lr=3e-6, label_smoothing=0.2), 224, 448),
             scores={"pg1_3b": {224: 92.65, 448: 93.11}}, to_lower=True),
    Transfer("rsvqa_hr", prompt="answer en {question}", text_len=32, metric="acc_avg",
             pg2_note=_PG2_NONE_FOUND,
             recipes=_same(Recipe(epochs=1, lr=1e-5), 224, 448),
             scores={"pg1_3b": {224: 92.61, 448: 92.79}}, to_lower=True,
             other_scores={"rsvqa_hr_test_2/acc_avg": {"pg1_3b": {224: 90.58, 448: 90.54}}}),
    Transfer("science_qa",
             pg2_note=_PG2_NONE_FOUND,
             prompt="Question: {question}\nContext: {hint}\nOptions: {indexed_choices}\nAnswer:",
             suffix="The answer is {indexed_answer}.", text_len=512, metric="acc",
             recipes=_same(Recipe(epochs=20, lr=1e-5, batch_size=128, freeze_vit=True), 224, 448),
             scores={"pg1_3b": {224: 95.39, 448: 95.93}}),
    # Evaluation only, of a VQAv2 transfer (big_vision trains 0 steps): no recipe.
    Transfer("pope", prompt="{question}", text_len=48, metric="acc", recipes={},
             scores={"pg1_3b": {224: 87.80, 448: 88.23}},
             other_scores={"pope_popular/acc": {"pg1_3b": {224: 85.87, 448: 86.77}},
                           "pope_adversarial/acc": {"pg1_3b": {224: 84.27, 448: 85.90}}}),
    Transfer("nlvr2", prompt="answer en {sentence}", text_len=64, metric="acc",
             pg2_note=_PG2_NONE_FOUND,
             recipes={224: Recipe(epochs=3, lr=1e-5, wd=1e-6),
                      448: Recipe(epochs=10, lr=3e-6, wd=3e-7)},
             scores={"pg1_3b": {224: 90.02, 448: 88.93}},
             # MaRVL: the mean accuracy over its 5 test languages.
             other_scores={"marvl_mean/acc": {"pg1_3b": {224: 80.57, 448: 76.78},
                                              "pg2_3b": {224: 83.5, 448: 82.7}}}),
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
