"""The perplexity evaluator's forward pass on the eval mesh: under `activation_mesh` (as the train
step) its token losses are those of the plain forward, with the einsum attention and with the
TPU flash kernels (Pallas' interpreter here), which then run per shard."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import sharding
from big_paligemma.models import build, gemma, paligemma, siglip
from evaluators import perplexity


def _config(attn_impl):
  return paligemma.PaliGemmaConfig(
      img=siglip.SigLIPConfig(width=32, depth=1, mlp_dim=64, num_heads=2, patch_size=4,
                              image_size=16, attn_impl=attn_impl),
      llm=gemma.GemmaConfig.tiny(2, attn_impl=attn_impl))


@pytest.mark.parametrize("attn_impl", ["einsum", "flash"])
def test_token_losses_on_the_mesh_are_the_plain_forwards(attn_impl):
  b, t = 8, 20
  rng = np.random.default_rng(0)
  cfg = _config("einsum")
  batch = {"image": jnp.asarray(rng.normal(size=(b, 16, 16, 3)), jnp.float32),
           "text": jnp.asarray(rng.integers(0, cfg.llm.vocab_size, (b, t)), jnp.int32),
           "mask_ar": jnp.asarray(np.arange(t)[None] >= rng.integers(5, 15, (b, 1)), jnp.int32),
           "mask_input": jnp.asarray(np.arange(t)[None] < rng.integers(15, 21, (b, 1))),
           "mask_loss": jnp.ones((b, t), jnp.int32)}
  params = build.make_model(cfg).init(jax.random.key(0), batch)["params"]
  want = perplexity.token_losses(build.make_model(cfg), params, batch)
  mesh = sharding.make_mesh((("data", 4), ("fsdp", 2), ("tensor", 1)))
  sharded = jax.device_put(batch, sharding.batch_sharding(mesh))
  model = build.make_model(_config(attn_impl))
  got = perplexity.token_losses(model, params, sharded, mesh)
  if attn_impl == "flash":  # the kernels run per shard, the batch split
    lowered = perplexity.token_losses.lower(model, params, sharded, mesh).as_text()
    assert lowered.count("sdy.manual_computation") >= 2  # SigLIP's and Gemma's attention
    assert 'in_shardings=[<@mesh, [{"data", "fsdp"}, {}, {}, {}]>' in lowered
  assert got["losses"].sharding.is_equivalent_to(sharding.batch_sharding(mesh), 2)
  np.testing.assert_allclose(np.asarray(got["losses"]), np.asarray(want["losses"]),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(got["mask"]), np.asarray(want["mask"]))
