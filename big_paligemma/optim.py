"""The optax chain from config: schedule, clipping, decay, freezing and learning-rate multipliers.

Config keys (an ml_collections ConfigDict or a dict; any other key is an error):
  optax_name      adam | adamw | adafactor | sgd | lion (the direction; the lr is applied here).
  optax           kwargs of that direction, e.g. dict(b1=0.9, b2=0.999, eps=1e-8) for adam/adamw,
                  dict(momentum=0.9, nesterov=False) for sgd, optax.adafactor's kwargs for
                  adafactor.
  lr              base learning rate.
  schedule        dict(decay_type=cosine|linear|rsqrt|constant, warmup_steps, total_steps,
                  end_ratio=0.0 (cosine/linear: lr fraction reached at total_steps),
                  timescale=10_000 (rsqrt)). Steps are optimizer steps; the trainer converts
                  durations (epochs, examples) to steps before calling `make_optimizer`.
  wd              decoupled weight decay. As in big_vision, the decay is multiplied by the
                  schedule's relative value r(t) in [0, 1] but NOT by the base lr:
                  p <- p - r(t) * (lr * lr_mult * direction + wd * wd_mult * p).
                  (So big_vision's published pairs such as lr=1e-5, wd=1e-6 mean the same here.)
  wd_mults        [(regex, mult)], first match wins, unmatched paths are not decayed. The default
                  `DEFAULT_WD_MULTS` is big_vision's (`.*/kernel`): the SigLIP and projector
                  matrices only. Gemma's weights (`attn/*_einsum/w`, `mlp/gating_einsum`,
                  `mlp/linear`, `llm/embedder/input_embedding`) are not decayed, as in big_vision's
                  PaliGemma transfers, whose published wd values assume it. `EVERY_MATRIX` also
                  decays the decoder's matrices (not the tied embedding: decaying it would shrink
                  the rows of tokens that a fine-tuning set never uses, e.g. most `<locNNNN>`).
                  Norms, biases and `pos_embedding` are never in either.
  lr_mults        [(regex, mult)], first match wins, unmatched paths get 1.0.
  grad_clip_norm  clip the global gradient norm (over the trainable parameters) to this value.
  frozen          [regex]: matching parameters get zero updates and carry no optimizer state.
Every regex is matched against slash paths with `re.fullmatch`; a regex that matches no
parameter is an error naming it.

Also here, for the trainer: `softmax_xent` and `accumulate_gradients`.
"""
import inspect
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from big_paligemma import tree as tree_lib

DEFAULT_WD_MULTS = ((r".*/kernel", 1.0),)  # big_vision's default
EVERY_MATRIX = ((r".*/(kernel|w|gating_einsum|linear)", 1.0),)

_KEYS = ("optax_name", "optax", "lr", "schedule", "wd", "wd_mults", "lr_mults", "grad_clip_norm",
         "frozen")
_SCHEDULE_KEYS = ("decay_type", "warmup_steps", "total_steps", "end_ratio", "timescale")


def _sgd(momentum=None, nesterov=False):
  return optax.trace(decay=momentum, nesterov=nesterov) if momentum else optax.identity()


def _adafactor(**kw):
  # optax.adafactor without a learning rate ends in scale(-1); undo it: the sign is flipped once,
  # at the end of our chain.
  return optax.chain(optax.adafactor(learning_rate=None, **kw), optax.scale(-1.0))


_DIRECTIONS = {
    "adam": optax.scale_by_adam,
    "adamw": optax.scale_by_adam,  # `wd` provides the decoupled decay.
    "adafactor": _adafactor,
    "sgd": _sgd,
    "lion": optax.scale_by_lion,
}
_DIRECTION_KWARGS = {
    "adam": ("b1", "b2", "eps", "eps_root", "mu_dtype", "nesterov"),
    "adamw": ("b1", "b2", "eps", "eps_root", "mu_dtype", "nesterov"),
    "adafactor": tuple(p for p in inspect.signature(optax.adafactor).parameters
                       if p not in ("learning_rate", "weight_decay_rate", "weight_decay_mask")),
    "sgd": ("momentum", "nesterov"),
    "lion": ("b1", "b2", "mu_dtype"),
}


def _as_dict(config: Any) -> dict[str, Any]:
  return dict(config.to_dict() if hasattr(config, "to_dict") else config)


def _check_keys(given, allowed, what: str) -> None:
  unknown = sorted(set(given) - set(allowed))
  if unknown:
    raise ValueError(f"Unknown {what} key(s) {unknown}; allowed: {sorted(allowed)}.")


def make_schedule(lr: float, schedule: Any) -> tuple[Callable, Callable]:
  """Returns (relative schedule r(step) in [0, 1], lr schedule lr * r(step)).

  r(t) = min(1, t / warmup_steps) * decay(progress), with
  progress = clip((t - warmup) / (total - warmup), 0, 1) and decay: cosine
  `e + (1 - e) * (1 + cos(pi * progress)) / 2`, linear `1 - (1 - e) * progress`, rsqrt
  `1 / sqrt(1 + max(t - warmup, 0) / timescale)`, constant 1 (e = end_ratio). Step 0 of a warm-up
  has lr 0, as in big_vision.
  """
  s = _as_dict(schedule or {})
  _check_keys(s, _SCHEDULE_KEYS, "config.schedule")
  decay = s.get("decay_type", "constant")
  decays = ("cosine", "linear", "rsqrt", "constant")
  if decay not in decays:
    raise ValueError(f"config.schedule.decay_type={decay!r}; allowed: {list(decays)}.")
  warmup = int(s.get("warmup_steps", 0))
  total = s.get("total_steps")
  if decay in ("cosine", "linear") and (total is None or int(total) <= warmup):
    raise ValueError(f"config.schedule.total_steps={total!r} must be > warmup_steps={warmup} for "
                     f"decay_type={decay!r}.")
  end, timescale = float(s.get("end_ratio", 0.0)), float(s.get("timescale", 10_000))

  def relative(step):
    t = jnp.asarray(step, jnp.float32)
    warm = jnp.minimum(1.0, t / warmup) if warmup else 1.0
    if decay == "constant":
      return warm * jnp.ones_like(t)
    if decay == "rsqrt":
      return warm / jnp.sqrt(1.0 + jnp.maximum(t - warmup, 0.0) / timescale)
    progress = jnp.clip((t - warmup) / (int(total) - warmup), 0.0, 1.0)
    if decay == "cosine":
      return warm * (end + (1.0 - end) * 0.5 * (1.0 + jnp.cos(math.pi * progress)))
    return warm * (1.0 - (1.0 - end) * progress)

  return relative, lambda step: lr * relative(step)


class ScaleAndDecayState(NamedTuple):
  count: jax.Array  # [] int32: the number of updates applied so far (= the optimizer step).


def scale_and_decay(relative: Callable, lr_tree: Any, wd_tree: Any) -> optax.GradientTransformation:
  """u <- -r(t) * (lr_tree * u + wd_tree * params): per-leaf learning rate and decoupled decay."""

  def init(params):
    del params
    return ScaleAndDecayState(count=jnp.zeros([], jnp.int32))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("scale_and_decay needs params (tx.update(grads, state, params)).")
    r = relative(state.count)

    def one(u, lr, wd, p):
      u = lr * u + (wd * p if wd else 0.0)
      return (-r * u).astype(u.dtype)

    updates = jax.tree.map(one, updates, lr_tree, wd_tree, params)
    return updates, ScaleAndDecayState(count=optax.safe_int32_increment(state.count))

  return optax.GradientTransformation(init, update)


def _direction(config: dict[str, Any]) -> optax.GradientTransformation:
  name = config.get("optax_name")
  if name not in _DIRECTIONS:
    raise ValueError(f"config.optax_name={name!r}; allowed: {sorted(_DIRECTIONS)}.")
  kwargs = _as_dict(config.get("optax", {}))
  _check_keys(kwargs, _DIRECTION_KWARGS[name], f"config.optax (for optax_name={name!r})")
  return _DIRECTIONS[name](**kwargs)


def make_optimizer(config: Any, params: Any) -> tuple[optax.GradientTransformation, Callable]:
  """Returns (tx, lr schedule fn: step -> lr) for `params` (a nested dict; only paths are used).

  Frozen leaves (config.frozen) go through `optax.set_to_zero` inside `optax.multi_transform`, so
  their updates are zero and the optimizer state holds nothing for them.
  """
  config = _as_dict(config)
  _check_keys(config, _KEYS, "optimizer config")
  if "lr" not in config:
    raise ValueError("config.lr is required (the base learning rate).")
  relative, schedule_fn = make_schedule(float(config["lr"]), config.get("schedule"))
  frozen = tree_lib.matches_any(params, config.get("frozen") or (), "config.frozen")
  lr_mults = tree_lib.rule_values(params, config.get("lr_mults") or (), 1.0, "config.lr_mults")
  wd = float(config.get("wd") or 0.0)
  # Given wd_mults are always checked for typos; the default only applies when wd is set.
  if "wd_mults" in config:
    wd_mults = tree_lib.rule_values(params, config["wd_mults"], 0.0, "config.wd_mults")
  else:
    wd_mults = tree_lib.rule_values(
        params, DEFAULT_WD_MULTS if wd else (), 0.0,
        f"config.wd_mults (not set: wd={wd} decays big_vision's default, the `.../kernel` "
        "matrices of the vision tower; for a model without them set config.wd_mults, e.g. "
        f"{list(EVERY_MATRIX)} = optim.EVERY_MATRIX)")
  # multi_transform hands the trainable branch trees with optax.MaskedNode at frozen leaves.
  masked = lambda scale, mults: jax.tree.map(
      lambda m, f: optax.MaskedNode() if f else scale * m, mults, frozen)
  chain = []
  if config.get("grad_clip_norm"):
    chain.append(optax.clip_by_global_norm(float(config["grad_clip_norm"])))
  chain.append(_direction(config))
  chain.append(scale_and_decay(relative, masked(float(config["lr"]), lr_mults),
                               masked(wd, wd_mults)))
  labels = jax.tree.map(lambda f: "frozen" if f else "trainable", frozen)
  tx = optax.multi_transform(
      {"trainable": optax.chain(*chain), "frozen": optax.set_to_zero()}, labels)
  return tx, schedule_fn


def softmax_xent(logits: jax.Array, targets: jax.Array, mask_loss: jax.Array,
                 label_smoothing: float = 0.0, normalisation: str = "per_example") -> jax.Array:
  """Mean token cross-entropy. logits [B,T,V] (any float dtype), targets [B,T] int, mask_loss [B,T].

  The target distribution is big_vision's: 1 - ls on the label, ls / (V - 1) on every other
  token (optax's `smooth_labels`: 1 - ls + ls / V on the label, ls / V elsewhere). `per_example`
  (big_vision): the mean over each example's loss tokens, then the mean over the B examples (an
  example without loss tokens counts as 0). `per_token`: the sum over all loss tokens / their
  count.
  """
  if normalisation not in ("per_example", "per_token"):
    raise ValueError(f"normalisation={normalisation!r}; allowed: 'per_example', 'per_token'.")
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # [B,T,V]
  vocab = logits.shape[-1]
  off = label_smoothing / (vocab - 1)
  soft = jax.nn.one_hot(targets, vocab) * (1.0 - label_smoothing - off) + off
  token_loss = -jnp.sum(soft * logp, axis=-1)  # [B,T]
  mask = mask_loss.astype(jnp.float32)
  if normalisation == "per_token":
    return jnp.sum(token_loss * mask) / jnp.maximum(jnp.sum(mask), 1.0)
  per_example = jnp.sum(token_loss * mask, -1) / jnp.maximum(jnp.sum(mask, -1), 1.0)  # [B]
  return jnp.mean(per_example)


def accumulate_gradients(loss_and_grad_fn: Callable, params: Any, batch: Any,
                         num_micro: int) -> tuple[jax.Array, Any]:
  """Mean (loss, grads) of `loss_and_grad_fn(params, micro_batch)` over `num_micro` micro-batches.

  Whatever pytree `loss_and_grad_fn` returns is averaged, so `jax.value_and_grad(f, has_aux=True)`
  works too (float aux values are averaged).

  Every leaf of `batch` is split on its leading axis B into `num_micro` consecutive slices of
  B / num_micro and scanned with `lax.scan` (one micro-batch in memory at a time). This equals the
  full-batch value when the loss is a mean over examples (e.g. per_example normalisation).
  """
  if num_micro == 1:
    return loss_and_grad_fn(params, batch)
  for path, leaf in tree_lib.flatten(batch).items():
    if leaf.shape[0] % num_micro:
      raise ValueError(f"batch leaf {path!r} has leading size {leaf.shape[0]}, not divisible by "
                       f"num_micro={num_micro}; pick a num_micro that divides the batch size.")
  micro = jax.tree.map(lambda x: x.reshape(num_micro, x.shape[0] // num_micro, *x.shape[1:]), batch)

  def step(carry, micro_batch):
    loss, grads = loss_and_grad_fn(params, micro_batch)
    return jax.tree.map(jnp.add, carry, (loss, grads)), None

  shapes = jax.eval_shape(loss_and_grad_fn, params, jax.tree.map(lambda x: x[0], micro))
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  total, _ = jax.lax.scan(step, zeros, micro)
  return jax.tree.map(lambda x: x / num_micro, total)
