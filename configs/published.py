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
    # ------------------------------------------------------------------ counting and others
    # ------------------------------------------------------------------ referring expressions
    Transfer("refcoco_seg", prompt="{expression}", text_len=48, metric="miou",
             recipes={224: Recipe(epochs=100, lr=3e-5, label_smoothing=0.3, llm_dropout=0.1),
                      448: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3),
                      896: Recipe(epochs=100, lr=1e-5, label_smoothing=0.3, batch_size=64)},
             scores={"pg1_3b": {224: 73.4, 448: 75.6, 896: 76.9}}),
)}
