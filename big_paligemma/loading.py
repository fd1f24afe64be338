"""Params and models from a path: our runs, HF transformers directories, big_vision .npz files.

The one place that decides what a weights path is (`model_init`, `evaluators.run --ckpt`,
`tools.predict --ckpt`, `tools.convert --src`):
  a big_vision .npz file          PaliGemma params (interop/big_vision.py)
  an HF directory (config.json)   any architecture of interop/hf.py, with its own config
  one of our runs                 its workdir (with ckpt/), a checkpoint dir or a LoRA run's
                                  workdir/merged: the `params` of the saved train state only
"""
import json
from typing import Any, Callable

from big_paligemma import checkpoint
from big_paligemma import fs
from big_paligemma import sharding as sharding_lib
from big_paligemma import tree as tree_lib
from big_paligemma.interop import big_vision
from big_paligemma.interop import hf
from big_paligemma.interop import hf_io
from big_paligemma.models import build
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma

# What an HF config.json must name for each kind of model the trainer fine-tunes.
HF_ARCHITECTURE = {paligemma.PaliGemmaConfig: "PaliGemmaForConditionalGeneration",
                   gemma3.Gemma3Config: "Gemma3ForConditionalGeneration"}


def kind(path: str) -> str:
  """"npz", "hf" or "run": what `path` holds (see the module docstring)."""
  if path.endswith(".npz"):
    return "npz"
  if fs.exists(fs.join(path, "config.json")):
    return "hf"
  return "run"


def restore_run_params(path: str, model_cfg, shardings: Any = None, step: int | None = None):
  """The params of one of our runs (its workdir, checkpoint dir or a LoRA run's workdir/merged)
  at `step` (default: the latest), checked against `model_cfg`; a LoRA run's state (frozen base
  beside adapters) is refused."""
  abstract = sharding_lib.with_shardings(build.abstract_params(model_cfg), shardings)
  return checkpoint.restore_params(path, abstract, step)


def load_params(path: str, model_cfg: build.ModelConfig, shardings: Any) -> Any:
  """Params of `model_cfg`'s model from `path` (see the module docstring), placed on `shardings`.

  Shapes must match `model_cfg`; .npz and HF position embeddings are resampled to the model's
  image size. An HF directory must hold the same kind of model (HF_ARCHITECTURE) and, for Gemma 3,
  the same tokens_per_image and image_token_id; .npz files hold PaliGemma only.
  """
  source = kind(path)
  if source == "npz":
    if not isinstance(model_cfg, paligemma.PaliGemmaConfig):
      raise ValueError(f"model_init={path!r}: big_vision .npz files hold PaliGemma models but "
                       f"config.model is a {type(model_cfg).__name__}; give an HF "
                       f"{HF_ARCHITECTURE[type(model_cfg)]} directory or one of our runs.")
    # In the model's param dtypes, checked leaf by leaf against model_cfg (errors list the paths).
    params = big_vision.load_npz(path, model_cfg, sharding=shardings)
  elif source == "hf":
    _check_hf_architecture(path, model_cfg)
    # At the model's image size: a 224 checkpoint fine-tunes at 448 with a resampled posemb.
    _, hf_cfg, params = hf.load_hf(path, sharding=shardings, dtype=model_cfg.llm.param_dtype,
                                   image_size=model_cfg.img.image_size)
    _check_same_layout(hf_cfg, model_cfg, path)
  elif fs.isdir(path):
    params = restore_run_params(path, model_cfg, shardings)
  else:
    raise FileNotFoundError(f"model_init={path!r} is neither an HF directory (with config.json), "
                            "a big_vision .npz file nor a run's checkpoint directory "
                            "(workdir/ckpt).")
  _check_same_shapes(params, build.abstract_params(model_cfg), path)
  return params


def load_model(path: str, config=None, step: int | None = None,
               shardings_for: Callable[[Any], Any] | None = None):
  """(Flax module, params) from an HF directory (its own config.json) or from one of our runs
  with `config` (a run config: its `model` entry builds the model). shardings_for: model config
  -> the params' shardings (e.g. FSDP over the devices, so a model larger than one chip loads);
  None: the first device."""
  if kind(path) == "hf":
    hf_cfg = hf_io.read_config(path)
    model_cfg = hf.architecture(hf_cfg).config_fn(hf_cfg, None)
    shardings = shardings_for(model_cfg) if shardings_for else None
    _, model_cfg, params = hf.load_hf(path, sharding=shardings)
    return build.make_model(model_cfg), params
  if config is None:
    raise ValueError(f"{path} is not an HF directory: pass --config to build its model.")
  model_cfg = build.model_config(config)
  shardings = shardings_for(model_cfg) if shardings_for else None
  return build.make_model(model_cfg), restore_run_params(path, model_cfg, shardings, step=step)


def _check_hf_architecture(path: str, model_cfg) -> None:
  archs = json.loads(fs.read_text(fs.join(path, "config.json"))).get("architectures") or []
  want = HF_ARCHITECTURE[type(model_cfg)]
  if want not in archs:
    raise ValueError(f"model_init={path!r} holds {archs} but config.model is a "
                     f"{type(model_cfg).__name__}, which loads from {want}; pick a matching "
                     "config.model preset or checkpoint.")


def _check_same_layout(hf_cfg, model_cfg, path: str) -> None:
  """Gemma 3 fields that no param shape shows must agree too."""
  for field in ("tokens_per_image", "image_token_id"):
    got, want = getattr(hf_cfg, field, None), getattr(model_cfg, field, None)
    if got != want:
      raise ValueError(f"model_init={path!r} has {field}={got} but config.model has {want}; set "
                       f"config.model.overrides.{field}={got} (and the pp's) to fine-tune it.")


def _check_same_shapes(params, expected, path: str) -> None:
  got = {p: tuple(x.shape) for p, x in tree_lib.flatten(params).items()}
  want = {p: tuple(x.shape) for p, x in tree_lib.flatten(expected).items()}
  rows = [f"{p}: checkpoint {got.get(p, 'absent')}, model {want.get(p, 'absent')}"
          for p in sorted(set(got) | set(want)) if got.get(p) != want.get(p)]
  if rows:
    raise ValueError(f"model_init={path!r} does not fit config.model:\n  " + "\n  ".join(rows))
