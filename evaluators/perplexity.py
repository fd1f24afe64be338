"""Perplexity evaluator (type "perplexity"): mean token NLL of the targets under the model.

The pp is a training-style one (text with the suffix, mask_loss on suffix + EOS), read as the
train step reads it (`build.teacher_forcing`): the model sees text[:, :-1], its logits[:, t]
predict text[:, t+1], and the loss of token t+1 counts where mask_loss[:, t+1] is 1. Reports
nll, perplexity and num_tokens over the set.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma import registry
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from evaluators import common
from evaluators.metrics import perplexity as perplexity_lib


@functools.partial(jax.jit, static_argnums=(0, 3))
def token_losses(model, params, batch: dict, mesh=None) -> dict:
  """{"losses" [B,T-1] NLL of text[:, 1:], "mask" [B,T-1] = mask_loss[:, 1:]}. mesh: the one the
  batch is sharded over: the forward pass keeps its activations on the mesh's batch axes there, as
  the train step does (and the TPU flash attention runs per shard)."""
  inputs, target, mask = build.teacher_forcing(batch)
  with sharding_lib.activation_mesh(mesh):
    logits, _ = model.apply({"params": params}, inputs)  # [B,T-1,V] for a text of T
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  losses = -jnp.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
  return {"losses": losses, "mask": mask.astype(jnp.int32)}


@registry.register("evaluator.perplexity")
class PerplexityEvaluator(common.Evaluator):
  """No decoding: scores the references given as the pp's suffix."""

  DEFAULTS = {}

  def evaluate(self, params) -> dict[str, float]:

    def fn(batch, unused_i):
      if "mask_loss" not in batch:
        raise KeyError(f"evals.{self.name}: perplexity needs 'mask_loss' in the batch; use a "
                       "training-style pp (masked_concat with mask_loss) and keep it.")
      return token_losses(self.model, params, batch, self.mesh)

    records = common.run_batches(self.iterator(), fn, sharding=self.sharding, desc=self.name)
    return perplexity_lib.perplexity(np.stack([r["losses"] for r in records]),
                                     np.stack([r["mask"] for r in records]))
