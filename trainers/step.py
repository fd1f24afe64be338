"""The train step: a pure `train_step(state, batch) -> (state, metrics)`, jitted once.

Loss: the model reads text[:, :-1] (a training text holds one token more than the model reads,
as big_vision's: `build.teacher_forcing`); cross-entropy of text[:, t+1] under logits[:, t], on
the tokens with mask_loss 1 (suffix + eos), with label smoothing and per-example (or per-token)
normalisation (`optim.softmax_xent`).
Dropout keys: the run's key folded with the step, split per example, so a resumed run draws the
same ones. `grad_accum` > 1 scans over that many micro-batches (`optim.accumulate_gradients`).
LoRA (state.lora set): the loss sees apply_lora(base params, adapters) and the gradient and the
optimizer update only the adapters; the base params pass through unchanged (grad_norm and
param_norm are then those of the adapters).
"""
import math
from typing import Any, Callable

import jax
import optax
from jax.sharding import NamedSharding, PartitionSpec

from big_paligemma import optim
from big_paligemma import sharding as sharding_lib
from big_paligemma import train_cpu
from big_paligemma.models import build
from big_paligemma.models import lora as lora_lib
from trainers import state as state_lib

class TraceCounter:
  """Counts how often the step function is traced (= compiled); it should stay at 1."""

  def __init__(self):
    self.count = 0


def model_for_mesh(model, mesh):
  """The model a train step on `mesh` trains: on CPU devices with its decoder's weight products in
  `train_cpu`'s XLA:CPU layouts, else `model` itself (accelerators train the plain einsums). The one
  place that decides the training layouts by backend; the parameters are the same either way."""
  if mesh.devices.flat[0].platform != "cpu":
    return model
  return model.clone(einsum=train_cpu.CpuTrainEinsum())


def make_loss_fn(model, loss_cfg) -> Callable:
  """(params, batch with "_rng" [B,2] key data) -> mean loss over the batch's examples."""
  label_smoothing = float(loss_cfg.get("label_smoothing", 0.0))
  normalisation = loss_cfg.get("normalisation", "per_example")

  def loss_fn(params, batch):
    rng = jax.random.wrap_key_data(batch["_rng"][0])
    inputs, targets, mask_loss = build.teacher_forcing(batch)
    logits, _ = model.apply({"params": params}, inputs, train=True, rngs={"dropout": rng})
    return optim.softmax_xent(logits, targets, mask_loss, label_smoothing, normalisation)

  return loss_fn


def make_train_step(model, tx: optax.GradientTransformation, lr_fn: Callable, loss_cfg,
                    grad_accum: int = 1, counter: TraceCounter | None = None,
                    lora_alpha: float | None = None) -> Callable:
  """The pure step function (not jitted; see `jit_train_step`). lora_alpha: LoRA's scale, needed
  when the state holds adapters."""
  loss_fn = make_loss_fn(model, loss_cfg)
  grad_fn = jax.value_and_grad(loss_fn)
  lora_grad_fn = jax.value_and_grad(
      lambda adapters, batch, base: loss_fn(lora_lib.apply_lora(base, adapters, lora_alpha), batch))

  def loss_and_grads(state, batch):
    if state.lora is None:
      return optim.accumulate_gradients(grad_fn, state.params, batch, grad_accum)
    if lora_alpha is None:
      raise ValueError("the train state holds LoRA adapters: pass lora_alpha to make_train_step.")
    return optim.accumulate_gradients(lambda a, b: lora_grad_fn(a, b, state.params), state.lora,
                                      batch, grad_accum)

  def train_step(state: state_lib.TrainState, batch: dict[str, jax.Array]):
    if counter is not None:
      counter.count += 1
    b = batch["text"].shape[0]
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    batch = build.device_inputs(batch)
    batch["_rng"] = jax.random.key_data(jax.random.split(key, b))  # [B,2]
    loss, grads = loss_and_grads(state, batch)
    trained = state_lib.trainable(state)
    updates, opt_state = tx.update(grads, state.opt_state, trained)
    trained = optax.apply_updates(trained, updates)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
               "param_norm": optax.global_norm(trained), "lr": lr_fn(state.step)}
    new_state = state.replace(step=state.step + 1, opt_state=opt_state,
                              **{"params" if state.lora is None else "lora": trained})
    return new_state, metrics

  return train_step


def jit_train_step(step_fn: Callable, shardings: state_lib.TrainState, batch_sharding,
                   mesh) -> Callable:
  """jax.jit with explicit in/out shardings; the state argument is donated."""
  replicated = NamedSharding(mesh, PartitionSpec())

  def constrained(state, batch):  # the models' activations kept on the batch axes
    with sharding_lib.activation_mesh(mesh):
      return step_fn(state, batch)

  return jax.jit(constrained, in_shardings=(shardings, batch_sharding),
                 out_shardings=(shardings, replicated), donate_argnums=(0,))


def check_finite(step: int, metrics: dict[str, Any], saved: int | None = None) -> None:
  """Raises FloatingPointError naming the step and the first NaN/Inf metric, and what a re-run
  resumes from: checkpoint step `saved`, or (None) nothing yet."""
  for name, value in metrics.items():
    value = float(value)
    if not math.isfinite(value):
      resume = (f"The last checkpoint, step {saved}, is kept: a re-run resumes from it."
                if saved is not None else
                "No checkpoint was saved yet: a re-run starts again from step 0.")
      raise FloatingPointError(
          f"step {step}: metric {name!r} is {value}; stopping. {resume} Lower the lr, raise "
          "warm-up or check the data before re-running.")
