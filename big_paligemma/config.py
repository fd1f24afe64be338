"""The run config: loading (`FILE.py[:arg]` + `--config.x=y` overrides), schema, validation,
`get_config` argument parsing and durations. The trainer, the evaluators runner and every tool load
configs with `load_config`; configs/ use `parse_arg` and `ConfigError`.

Top-level keys (`validate` checks every one, nested ones too):
  model          {preset: NAME | None, overrides: {field: value, llm: {...}, img: {...}},
                  img: SigLIPConfig fields | None, llm: GemmaConfig fields | None,
                  mm: None | {tokens_per_image: int (a square), image_token_id: int,
                              mm_norm_eps: float (optional)}}
                 (a preset, or explicit img + llm for tiny models: PaliGemma, or Gemma 3
                 multimodal when `mm` is given; the dataclasses check the img/llm fields)
  model_init     our checkpoint dir (a run's workdir/ckpt or a step dir), an HF dir, a big_vision
                 .npz file, or None
  tokenizer      path of a SentencePiece .model
  input          {data: input_pipeline data config, pp: spec, batch_size, skip_bad_examples,
                  num_parallel} (`shuffle_buffer` is gone: REMOVED)
  seed           int
  total_steps | total_epochs | total_examples   exactly one is set (the others None)
  log_every      duration;   grad_accum: micro-batches per step (1 = none)
  optim          make_optimizer's keys, except that `schedule` takes `warmup` (a duration)
                 instead of warmup_steps/total_steps (the trainer fills those in)
  loss           {label_smoothing: float, normalisation: per_example | per_token}
  mesh           [(axis, size)];  sharding_rules: [(regex, tactic)]
  ckpt           {every: duration, keep_last: int >= 1, keep_every: duration | None,
                  async_save: bool}
  lora           None | {rules: [(regex, rank) or regex] (default: lora.DEFAULT_RULES, decoder
                  query + value), rank: int (for bare regexes and the default rules; default 4),
                  alpha: float (required)}: train adapters on frozen params (see trainers/state.py)
  evals          {name: {type: ..., every: duration, ...}} (type: a registered `evaluator.<type>`,
                  see evaluators/; the evaluator checks its own keys)
  peak_flops     None | the device's peak FLOP/s, for the MFU estimate (None: a known-device table)

Durations: an int (steps) or "N steps", "N examples", "N epochs" (N may be fractional for
examples/epochs), "P%" of the total steps. `parse_duration` turns one into steps.
"""
import ast
import importlib.util
import math
import os
import re
from typing import Any, Sequence

import ml_collections

from big_paligemma import registry

ConfigDict = ml_collections.ConfigDict
ANY = object()  # a value of any kind (checked by its owner)
DURATION = "duration"
_NUM = (int, float)
_SEQ = (list, tuple)


def choice(*values):
  return ("choice", values)


SCHEMA: dict[str, Any] = {
    "model": {"preset": (str, type(None)), "overrides": dict, "img": (dict, type(None)),
              "llm": (dict, type(None)), "mm": (dict, type(None))},
    "model_init": (str, type(None)),
    "tokenizer": str,
    "input": {"data": dict, "pp": str, "batch_size": int, "skip_bad_examples": bool,
              "num_parallel": int},
    "seed": int,
    "total_steps": (int, type(None)),
    "total_epochs": (int, float, type(None)),
    "total_examples": (int, type(None)),
    "log_every": DURATION,
    "grad_accum": int,
    "optim": {"optax_name": choice("adam", "adamw", "adafactor", "sgd", "lion"), "optax": dict,
              "lr": _NUM, "wd": _NUM, "wd_mults": _SEQ, "lr_mults": _SEQ,
              "grad_clip_norm": (int, float, type(None)), "frozen": _SEQ,
              "schedule": {"decay_type": choice("cosine", "linear", "rsqrt", "constant"),
                           "warmup": DURATION, "end_ratio": _NUM, "timescale": _NUM}},
    "loss": {"label_smoothing": _NUM, "normalisation": choice("per_example", "per_token")},
    "mesh": _SEQ,
    "sharding_rules": _SEQ,
    "ckpt": {"every": DURATION, "keep_last": int, "keep_every": (DURATION, type(None)),
             "async_save": bool},
    "lora": (dict, type(None)),
    "evals": dict,
    "eval_at_start": bool,
    "peak_flops": (int, float, type(None)),
}
# Gemma 3's soft-token layout beside explicit img/llm fields (gemma3.Gemma3Config's own fields).
MM_SCHEMA = {"tokens_per_image": int, "image_token_id": int, "mm_norm_eps": _NUM}
MM_REQUIRED = ("tokens_per_image", "image_token_id")
LORA_SCHEMA = {"rules": (list, tuple, type(None)), "rank": (int, type(None)), "alpha": _NUM}
# Keys that are gone, with what to do instead (an old config that sets one gets this message).
REMOVED = {"input.shuffle_buffer": (
    "the input pipeline shuffles each epoch whole (grain's index shuffle), so there is no buffer "
    "to size; delete the line (the order of examples is set by config.seed).")}
_DURATION_RE = re.compile(r"\s*([0-9.eE+-]+)\s*(steps?|examples?|epochs?|%)\s*")


class ConfigError(ValueError):
  """A config key that is unknown, missing or of the wrong kind (the message names it)."""


# ----------------------------------------------------------------------------- get_config(arg)

def parse_value(text: str) -> Any:
  """A literal (int, float, bool, None, list, ...) if `text` is one, else the string itself."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def parse_arg(arg: str | None, **defaults) -> ConfigDict:
  """big_vision-style `get_config` argument: "res=448,final_split=True,demo" -> ConfigDict.

  A bare word is True. Keys of `defaults` set the allowed keys and their kinds: an unknown key or
  a value of another kind is an error naming the allowed ones.
  """
  out = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, eq, text = item.partition("=")
    key = key.strip()
    value = parse_value(text.strip()) if eq else True
    if key not in defaults:
      raise ConfigError(f"Unknown config argument {key!r}; allowed: {sorted(defaults)}.")
    want = defaults[key]
    if want is not None and not _same_kind(value, want):
      raise ConfigError(f"Config argument {key}={value!r} should be a {type(want).__name__} "
                        f"(like the default {want!r}).")
    out[key] = value
  return ConfigDict(out)


def _same_kind(value, default) -> bool:
  if isinstance(default, bool) or isinstance(value, bool):
    return isinstance(value, bool) and isinstance(default, bool)
  if isinstance(default, float):
    return isinstance(value, _NUM)
  return isinstance(value, type(default))


# ----------------------------------------------------------------------------- validation

def _plain(value):
  return value.to_dict() if isinstance(value, ConfigDict) else value


def _describe(spec) -> str:
  if spec is DURATION:
    return 'a duration (int steps, "N steps|examples|epochs", "P%")'
  if isinstance(spec, tuple) and spec and spec[0] == "choice":
    return f"one of {list(spec[1])}"
  if isinstance(spec, dict):
    return f"a dict with keys {sorted(spec)}"
  kinds = spec if isinstance(spec, tuple) else (spec,)
  return " or ".join("None" if k is type(None) else
                     (_describe(k) if k is DURATION else k.__name__) for k in kinds)


def check_duration(value, key: str) -> None:
  """Raises ConfigError unless `value` is a duration."""
  if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
    return
  if isinstance(value, str) and _DURATION_RE.fullmatch(value):
    return
  raise ConfigError(f"config.{key}={value!r} is not {_describe(DURATION)}.")


def _check_value(key: str, value, spec) -> None:
  value = _plain(value)
  if spec is ANY:
    return
  if spec is DURATION:
    return check_duration(value, key)
  if isinstance(spec, dict):
    if not isinstance(value, dict):
      raise ConfigError(f"config.{key} should be {_describe(spec)}, got {value!r}.")
    return _check_dict(key, value, spec)
  if isinstance(spec, tuple) and spec and spec[0] == "choice":
    if value not in spec[1]:
      raise ConfigError(f"config.{key}={value!r}; allowed: {list(spec[1])}.")
    return
  kinds = spec if isinstance(spec, tuple) else (spec,)
  if DURATION in kinds and value is not None:
    return check_duration(value, key)
  plain_kinds = tuple(k for k in kinds if k is not DURATION)
  bad_bool = isinstance(value, bool) and bool not in plain_kinds
  if bad_bool or not isinstance(value, plain_kinds):
    raise ConfigError(f"config.{key}={value!r} has the wrong kind; allowed: {_describe(spec)}.")


def _check_removed(dotted: str) -> None:
  if dotted in REMOVED:
    raise ConfigError(f"config.{dotted} was removed: {REMOVED[dotted]}")


def _check_dict(prefix: str, value: dict, schema: dict) -> None:
  for key in value:
    _check_removed(f"{prefix}.{key}" if prefix else key)
  unknown = sorted(set(value) - set(schema))
  if unknown:
    where = f"config.{prefix}" if prefix else "config"
    raise ConfigError(f"Unknown key(s) {unknown} in {where}; allowed: {sorted(schema)}.")
  for key, item in value.items():
    _check_value(f"{prefix}.{key}" if prefix else key, item, schema[key])


def validate(config: ConfigDict) -> ConfigDict:
  """Checks every key of `config` (see the module docstring); returns it. Raises ConfigError."""
  _check_dict("", _plain(config), SCHEMA)
  for key in ("tokenizer", "input", "optim", "loss"):
    if key not in config:
      raise ConfigError(f"config.{key} is required.")
  totals = [k for k in ("total_steps", "total_epochs", "total_examples")
            if config.get(k) is not None]
  if len(totals) != 1:
    raise ConfigError(f"Set exactly one of config.total_steps / total_epochs / total_examples; "
                      f"set: {totals}.")
  _check_model(_plain(config.get("model", {})))
  if config.get("lora"):
    _check_lora(_plain(config.lora))
  for name, ev in _plain(config.get("evals", {})).items():
    _check_eval(name, ev)
  if config.get("grad_accum", 1) < 1:
    raise ConfigError(f"config.grad_accum={config.grad_accum} must be >= 1.")
  keep_last = config.get("ckpt", {}).get("keep_last", 1)
  if keep_last < 1:
    raise ConfigError(f"config.ckpt.keep_last={keep_last} must be >= 1 (the newest checkpoint, "
                      "the run's final weights, is always kept).")
  return config


def _check_model(model: dict) -> None:
  explicit = {k for k in ("img", "llm", "mm") if model.get(k)}
  if bool(model.get("preset")) == bool(explicit) or (explicit and not {"img", "llm"} <= explicit):
    raise ConfigError("config.model needs either `preset` (a name) or both `img` and `llm` "
                      "(field dicts, plus `mm` for Gemma 3), not both or neither; got "
                      f"{sorted(k for k, v in model.items() if v)}.")
  if model.get("mm"):
    _check_mm(model["mm"])


def _check_mm(mm: dict) -> None:
  _check_dict("model.mm", mm, MM_SCHEMA)
  for key in MM_REQUIRED:
    if key not in mm:
      raise ConfigError(f"config.model.mm.{key} is required (Gemma 3's soft-token layout; "
                        f"required: {list(MM_REQUIRED)}).")
  n = mm["tokens_per_image"]
  if n < 1 or math.isqrt(n) ** 2 != n:
    raise ConfigError(f"config.model.mm.tokens_per_image={n}: must be a positive square (the "
                      "pooled grid, e.g. 256 = 16x16 or 16 = 4x4).")
  if mm["image_token_id"] < 0:
    raise ConfigError(f"config.model.mm.image_token_id={mm['image_token_id']}: must be >= 0.")


def _check_lora(lora: dict) -> None:
  _check_dict("lora", lora, LORA_SCHEMA)
  if "alpha" not in lora or not lora["alpha"] > 0:
    raise ConfigError(f"config.lora.alpha={lora.get('alpha')!r}: a number > 0 is required.")
  for rule in lora.get("rules") or ():
    if not (isinstance(rule, str) or (isinstance(rule, _SEQ) and len(rule) == 2
                                      and isinstance(rule[0], str) and isinstance(rule[1], int))):
      raise ConfigError(f"config.lora.rules entry {rule!r}: use a regex or (regex, rank int).")


def eval_types() -> list[str]:
  """The evaluator types: those registered as `evaluator.<type>` (importing `evaluators`
  registers them all)."""
  types = registry.names("evaluator")
  if not types:
    raise ConfigError("config.evals cannot be checked: no evaluator is registered; `import "
                      "evaluators` before loading a config that has evals.")
  return types


def _check_eval(name: str, ev) -> None:
  if not isinstance(ev, dict) or ev.get("type") not in eval_types():
    got = ev.get("type") if isinstance(ev, dict) else ev
    raise ConfigError(f"config.evals.{name}.type={got!r}; allowed: {eval_types()}.")
  if "every" in ev:
    check_duration(ev["every"], f"evals.{name}.every")


# ----------------------------------------------------------------------------- overrides

def apply_override(config: ConfigDict, dotted: str, text: str) -> None:
  """Sets config.<dotted> = parse_value(text), then re-validates. A key the schema does not know
  is an error naming the allowed keys at its level (free dicts such as model.overrides or evals
  take any key; their owners check them)."""
  *parents, leaf = dotted.split(".")
  node, schema = config, SCHEMA
  for i, key in enumerate(parents):
    _check_known(dotted, parents[:i], key, schema)
    schema = schema[key] if isinstance(schema, dict) else ANY
    if not isinstance(node.get(key), ConfigDict):
      raise ConfigError(f"--config.{dotted}: config.{'.'.join(parents[:i + 1])} is "
                        f"{node.get(key)!r}, not a dict; set the whole value instead.")
    node = node[key]
  _check_known(dotted, parents, leaf, schema)
  missing = leaf not in node
  previous = None if missing else node[leaf]
  with node.ignore_type():
    node[leaf] = parse_value(text)
  try:
    validate(config)
  except ConfigError:
    with node.ignore_type():  # leave the config as it was
      if missing:
        del node[leaf]
      else:
        node[leaf] = previous
    raise


def _check_known(dotted: str, parents: list[str], key: str, schema) -> None:
  _check_removed(".".join([*parents, key]))
  if isinstance(schema, dict) and key not in schema:
    where = "config." + ".".join(parents) if parents else "config"
    raise ConfigError(f"--config.{dotted}: unknown key {key!r} in {where}; allowed: "
                      f"{sorted(schema)}.")


# ----------------------------------------------------------------------------- durations

def parse_duration(value, *, total_steps: int | None, batch_size: int,
                   epoch_examples: int | None, key: str = "duration") -> int:
  """A duration -> a number of optimizer steps (an int >= 0; fractions round up).

  total_steps is needed for "P%", epoch_examples (the training set's size) for "N epochs".
  """
  check_duration(value, key)
  if isinstance(value, int):
    return value
  number, unit = _DURATION_RE.fullmatch(value).groups()
  n = float(number)
  if unit.startswith("step"):
    steps = n
  elif unit.startswith("example"):
    steps = n / batch_size
  elif unit == "%":
    if total_steps is None:
      raise ConfigError(f"config.{key}={value!r}: a percentage needs the total steps.")
    steps = n / 100 * total_steps
  else:
    if not epoch_examples:
      raise ConfigError(f"config.{key}={value!r}: epochs need the training set size.")
    steps = n * epoch_examples / batch_size
  return int(math.ceil(steps - 1e-9))


def total_steps(config: ConfigDict, epoch_examples: int | None) -> int:
  """The run's length in steps from whichever of total_steps / _epochs / _examples is set."""
  batch = config.input.batch_size
  if config.get("total_steps") is not None:
    return int(config.total_steps)
  if config.get("total_examples") is not None:
    return parse_duration(f"{config.total_examples} examples", total_steps=None,
                          batch_size=batch, epoch_examples=None, key="total_examples")
  return parse_duration(f"{config.total_epochs} epochs", total_steps=None, batch_size=batch,
                        epoch_examples=epoch_examples, key="total_epochs")


# ----------------------------------------------------------------------------- loading

def split_spec(spec: str) -> tuple[str, str | None]:
  """`path/to/config.py[:arg]` -> (path, arg or None); the argument may itself hold ':'."""
  path, sep, arg = spec.partition(".py:")
  return (path + ".py", arg or None) if sep else (spec, None)


def parse_overrides(args: Sequence[str]) -> list[tuple[str, str]]:
  """`--config.optim.lr=1e-4` command-line items -> [(dotted key, value text)], in order."""
  overrides = []
  for item in args:
    if not item.startswith("--config.") or "=" not in item:
      raise ConfigError(f"unrecognised argument {item!r}; overrides look like "
                        "--config.optim.lr=1e-4")
    key, _, value = item[len("--config."):].partition("=")
    overrides.append((key, value))
  return overrides


def load_config(spec: str, overrides: Sequence[tuple[str, str]] = ()) -> ConfigDict:
  """`FILE.py[:arg]` -> the file's get_config(arg), validated, then each override applied (and
  validated). A config with evals needs the evaluators registered (`import evaluators`)."""
  path, arg = split_spec(spec)
  module_spec = importlib.util.spec_from_file_location("_run_config", path)
  if module_spec is None or not os.path.isfile(path):  # Python code: a local file, not a URL
    raise FileNotFoundError(f"--config file {path!r} does not exist (spec {spec!r}).")
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"--config file {path!r} defines no get_config(arg).")
  config = validate(module.get_config(arg))
  for key, value in overrides:
    apply_override(config, key, value)
  return config
