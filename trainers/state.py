"""The train state: its fields, shardings, LoRA adapters and step-0 creation.

The model itself (config.model -> module, abstract params, random init) is built by
big_paligemma/models/build.py and `model_init` params are read by big_paligemma/loading.py.

TrainState holds plain arrays only (the rng as key data), so a checkpoint saves it as it is:
  step [] int32, params (slash-path tree, see models/paligemma.py), opt_state (optax), rng [2] uint32,
  lora: None, or with config.lora the adapters (models/lora.py layout, paths ending in /a and /b).
With LoRA, `params` is the frozen base (no optimizer state) and the optimizer trains `lora`;
`trainable(state)` is what the optimizer sees and `eval_params(state, alpha)` the merged weights.
"""
import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
from jax.sharding import NamedSharding, PartitionSpec

from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from big_paligemma.models import lora as lora_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32: optimizer steps taken.
  params: Any
  opt_state: Any
  rng: jax.Array  # [2] uint32: key data of the run's base key (per-step keys are folded in).
  lora: Any = None  # LoRA adapters (trained; `params` frozen), or None (full fine-tuning).


@dataclasses.dataclass(frozen=True)
class LoraSettings:
  """config.lora parsed: [(regex, rank)] over the base param paths and the scale alpha."""
  rules: tuple[tuple[str, int], ...]
  alpha: float


def lora_settings(config: ml_collections.ConfigDict) -> LoraSettings | None:
  """config.lora -> LoraSettings, or None without LoRA.

  config.lora = {rules: [(regex, rank) or regex], rank: int (for bare regexes; default 4),
  alpha: float}; rules default to lora.DEFAULT_RULES (decoder query and value)."""
  if not config.get("lora"):
    return None
  cfg = config.lora.to_dict() if hasattr(config.lora, "to_dict") else dict(config.lora)
  rank = cfg.get("rank")
  default_rules = [(r, rank or n) for r, n in lora_lib.DEFAULT_RULES]
  rules = tuple((r, rank or 4) if isinstance(r, str) else tuple(r)
                for r in (cfg.get("rules") or default_rules))
  return LoraSettings(rules=rules, alpha=float(cfg["alpha"]))


def trainable(state: TrainState) -> Any:
  """What the optimizer updates: the adapters with LoRA, else the params."""
  return state.params if state.lora is None else state.lora


def eval_params(state: TrainState, alpha: float | None) -> Any:
  """Plain model params: the params, or base merged with the adapters (LoRA)."""
  return state.params if state.lora is None else lora_lib.merge(state.params, state.lora, alpha)


def state_shardings(abstract_state: TrainState, p_shardings: Any, mesh) -> TrainState:
  """Shardings of every state leaf: params by the rules, LoRA adapters replicated (small),
  optimizer state like what it optimizes."""
  replicated = NamedSharding(mesh, PartitionSpec())
  lora = jax.tree.map(lambda _: replicated, abstract_state.lora)
  train, train_shardings = ((abstract_state.params, p_shardings) if lora is None
                            else (abstract_state.lora, lora))
  opt = sharding_lib.shardings_like_params(abstract_state.opt_state, train, train_shardings, mesh)
  return TrainState(step=replicated, params=p_shardings, opt_state=opt, rng=replicated, lora=lora)


def init_lora(params: Any, lora: LoraSettings, seed: int) -> Any:
  """Fresh adapters for `params` (B = 0, so the model is unchanged), replicated like params[0]."""
  rng = jax.random.fold_in(jax.random.key(seed), 2)
  return jax.jit(lora_lib.init_lora, static_argnums=(1, 2))(params, lora.rules, lora.alpha, rng)


def abstract_lora(model_cfg, lora: LoraSettings | None) -> Any:
  if lora is None:
    return None
  return jax.eval_shape(lambda p: init_lora(p, lora, 0), build.abstract_params(model_cfg))


def abstract_trainable(model_cfg, lora: LoraSettings | None) -> Any:
  """The shapes of what the optimizer updates (for make_optimizer)."""
  return build.abstract_params(model_cfg) if lora is None else abstract_lora(model_cfg, lora)


def abstract_state(model_cfg, tx, seed: int, lora: LoraSettings | None = None) -> TrainState:
  """The state's shapes and dtypes (nothing allocated)."""
  params = build.abstract_params(model_cfg)
  adapters = abstract_lora(model_cfg, lora)
  return TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=params,
                    opt_state=jax.eval_shape(tx.init, params if lora is None else adapters),
                    rng=jax.eval_shape(lambda: jax.random.key_data(jax.random.key(seed))),
                    lora=adapters)


def create_state(params: Any, tx, seed: int, shardings: TrainState,
                 lora: LoraSettings | None = None) -> TrainState:
  """Step 0 with `params` (already placed), fresh adapters (LoRA), a fresh optimizer state and
  the run's rng."""
  adapters = None
  if lora is not None:
    adapters = jax.device_put(init_lora(params, lora, seed), shardings.lora)
  opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(
      params if lora is None else adapters)
  rng = jax.random.key_data(jax.random.fold_in(jax.random.key(seed), 1))
  return TrainState(step=jax.device_put(jnp.zeros((), jnp.int32), shardings.step), params=params,
                    opt_state=opt_state, rng=jax.device_put(rng, shardings.rng), lora=adapters)
