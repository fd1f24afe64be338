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
  """One published training recipe. Everything else is the transfer default
  (configs/common.transfer_optim: adam b2 0.999, clip 1.0, cosine, 5% warm-up)."""
  epochs: float
  lr: float
  wd: float = 0.0
  batch_size: int = 256
  label_smoothing: float = 0.0
  llm_dropout: float = 0.0
  freeze_vit: bool = False  # big_vision's sweep_best trains the decoder only (e.g. GQA at 448).


@dataclasses.dataclass(frozen=True)
class Transfer:
  """A published transfer.

  name: its config, configs/transfer/<name>.py. prompt: the prefix template (pp strfmt) exactly
  as big_vision writes it ("{question}" is the bare question). text_len: the pp's text length
  (also the decode length unless `decode` says otherwise). metric: the evaluator metric the
  scores are in. recipes: res -> Recipe (PaliGemma 1 3B and, unless pg2_recipes has the entry,
  PaliGemma 2). pg2_recipes: (model, res) -> Recipe where PaliGemma 2 differs. scores: model ->
  {res: published score}. decode: the eval sampler (e.g. {"name": "beam", "beam_size": 2}; empty:
  greedy). to_lower: the evaluator lower-cases predictions and answers (big_vision's to_lower).
  other_scores: published scores of the transfer's other evaluations, {eval: {model: {res:
  score}}} (e.g. xGQA, the zero-shot eval of the GQA transfer).
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
  other_scores: Mapping[str, Mapping[str, Mapping[int, float]]] = dataclasses.field(
      default_factory=dict)

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


TRANSFERS: dict[str, Transfer] = {t.name: t for t in (
    # ------------------------------------------------------------------ captions
    Transfer("cococap", prompt="caption en", text_len=32, metric="cider",
             recipes=_same(Recipe(epochs=5, lr=1e-5, wd=1e-6), 224, 448),
             scores={"pg1_3b": {224: 141.9, 448: 144.6}, "pg2_3b": {224: 141.3, 448: 143.4}},
             decode={"name": "beam", "beam_size": 2}),
    # ------------------------------------------------------------------ VQA
    Transfer("docvqa", prompt="{question}", text_len=32, metric="anls",
             recipes=_same(Recipe(epochs=10, lr=1e-5, wd=1e-6), 224, 448, 896),
             scores={"pg1_3b": {224: 43.7, 448: 78.0, 896: 84.8},
                     "pg2_3b": {224: 39.9, 448: 73.6}},
             to_lower=True),
    Transfer("chartqa", prompt="{question}", text_len=48, metric="relaxed_acc",
             recipes=_same(Recipe(epochs=30, lr=1e-5, wd=1e-6, label_smoothing=0.2,
                                  llm_dropout=0.1), 224, 448),
             # PaliGemma 1: the mean of human and augmented; PaliGemma 2: augmented (human
             # 42.0 / 54.0 in the model card).
             scores={"pg1_3b": {224: 57.1, 448: 71.4}, "pg2_3b": {224: 74.4, 448: 89.2}},
             to_lower=True),
    # VQA family. PaliGemma 1 scores: big_vision's PaliGemma README (test servers where the
    # benchmark has one); PaliGemma 2 3B: its model card (A-OKVQA on val). PaliGemma 2 reuses
    # PaliGemma's recipes (per-size learning rates of the PaliGemma 2 paper not found).
    Transfer("vqav2", prompt="answer en {question_text}", text_len=32, metric="vqav2",
             recipes={224: Recipe(epochs=10, lr=1e-5, wd=1e-6),
                      448: Recipe(epochs=10, lr=1e-5, wd=0.0)},
             scores={"pg1_3b": {224: 83.19, 448: 85.64}}),
    Transfer("textvqa", prompt="answer en {question}", text_len=32, metric="vqav2",
             recipes={224: Recipe(epochs=5, lr=3e-6), 448: Recipe(epochs=10, lr=3e-6, wd=3e-7),
                      896: Recipe(epochs=10, lr=3e-6)},
             scores={"pg1_3b": {224: 55.47, 448: 73.15, 896: 76.48}}),
    Transfer("okvqa", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             recipes=_same(Recipe(epochs=10, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 63.54, 448: 63.15}}),
    Transfer("aokvqa_da", prompt="answer en {question}", text_len=32, metric="vqa_accuracy",
             recipes=_same(Recipe(epochs=10, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 61.85, 448: 63.22}, "pg2_3b": {224: 64.2, 448: 67.9}}),
    # Two spaces after "answer en", as big_vision's f"{PREFIX} {{question}}" writes it; {ansstr}
    # is the choices joined by " \t ".
    Transfer("aokvqa_mc", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             metric="acc", recipes=_same(Recipe(epochs=15, lr=5e-6, batch_size=128), 224, 448),
             scores={"pg1_3b": {224: 76.37, 448: 76.90}, "pg2_3b": {224: 79.7, 448: 82.5}}),
    Transfer("gqa", prompt="answer en {question}", text_len=32, metric="exact",
             recipes={224: Recipe(epochs=1, lr=1e-5, wd=0.0),
                      448: Recipe(epochs=1, lr=1e-5, wd=0.0, freeze_vit=True)},
             scores={"pg1_3b": {224: 65.61, 448: 67.03}, "pg2_3b": {224: 66.2, 448: 68.1}},
             # The mean accuracy over xGQA's 8 languages, zero-shot after the GQA transfer.
             other_scores={"xgqa": {"pg1_3b": {224: 58.37, 448: 59.07}}}),
    Transfer("vizwizvqa", prompt="answer en {question}", text_len=48, metric="vqa_accuracy",
             recipes=_same(Recipe(epochs=10, lr=1e-5, wd=0.0), 224, 448),
             scores={"pg1_3b": {224: 73.7, 448: 75.52}}),
    Transfer("ai2d", prompt="answer en  {question} choose from: {ansstr}", text_len=128,
             metric="exact", recipes=_same(Recipe(epochs=10, lr=1e-5, wd=1e-6), 224, 448),
             scores={"pg1_3b": {224: 72.12, 448: 73.28}, "pg2_3b": {224: 74.7, 448: 76.0}}),
    Transfer("stvqa", prompt="answer en {question}", text_len=48, metric="anls",
             recipes={224: Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.1),
                      448: Recipe(epochs=3, lr=1e-5, wd=1e-6, batch_size=128,
                                  label_smoothing=0.1),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.1)},
             scores={"pg1_3b": {224: 63.29, 448: 81.82, 896: 84.40}}, to_lower=True),
    Transfer("infovqa", prompt="answer en {question}", text_len=48, metric="anls",
             recipes={224: Recipe(epochs=3, lr=1e-5, wd=1e-6, label_smoothing=0.4),
                      448: Recipe(epochs=3, lr=1e-5, wd=1e-6, batch_size=128,
                                  label_smoothing=0.4),
                      896: Recipe(epochs=3, lr=3e-6, wd=3e-7, batch_size=32,
                                  label_smoothing=0.4)},
             scores={"pg1_3b": {224: 28.46, 448: 40.47, 896: 47.75},
                     "pg2_3b": {224: 25.2, 448: 37.5}}, to_lower=True),
    Transfer("ocrvqa", prompt="answer en {question}", text_len=32, metric="exact",
             recipes={224: Recipe(epochs=3, lr=3e-6, batch_size=128),
                      448: Recipe(epochs=3, lr=3e-6, batch_size=128),
                      896: Recipe(epochs=3, lr=1e-5, batch_size=128)},
             scores={"pg1_3b": {224: 73.24, 448: 75.60, 896: 75.90}}, to_lower=True),
    # ------------------------------------------------------------------ counting and others
    # ------------------------------------------------------------------ referring expressions
    Transfer("refcoco_seg", prompt="{expression}", text_len=48, metric="miou",
             recipes={224: Recipe(epochs=100, lr=3e-5, label_smoothing=0.3, llm_dropout=0.1),
                      448: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3),
                      896: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3, batch_size=64)},
             scores={"pg1_3b": {224: 73.4, 448: 75.6, 896: 76.9}}),
)}
