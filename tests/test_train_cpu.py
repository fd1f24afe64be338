"""train_cpu (the XLA:CPU training layouts) computes what the model's plain einsums define, values
and gradients: every weight product of the decoder, and the loss and every parameter's gradient of
tiny PaliGemma and Gemma 3 models; the trainer takes it on a CPU mesh only."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import sharding, train_cpu
from big_paligemma.models import build, gemma, gemma3, paligemma, siglip
from tests.test_decode_cpu import _WEIGHT_EQNS
from trainers import step as step_lib

EINSUM = train_cpu.CpuTrainEinsum()


def _close(got, want, tol=1e-5):
  np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                             rtol=tol, atol=tol)


@pytest.mark.parametrize("x_shape,w_shape,eqn", _WEIGHT_EQNS)
def test_cpu_train_einsum_equals_the_einsum_values_and_grads(x_shape, w_shape, eqn):
  kx, kw, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (2, 40) + x_shape)
  w = jax.random.normal(kw, w_shape)
  out_shape = jax.eval_shape(lambda a, b: jnp.einsum(eqn, a, b), x, w).shape
  g = jax.random.normal(kg, out_shape)

  def loss(fn):
    return jax.jit(jax.value_and_grad(lambda a, b: jnp.vdot(fn(eqn, a, b), g), argnums=(0, 1)))

  (want, want_grads), (got, got_grads) = loss(jnp.einsum)(x, w), loss(EINSUM)(x, w)
  assert jax.eval_shape(lambda a, b: EINSUM(eqn, a, b), x, w).shape == out_shape
  _close(got, want, 1e-4)
  for a, b in zip(got_grads, want_grads):
    assert a.shape == b.shape
    _close(a, b, 1e-4)


def test_cpu_train_einsum_keeps_attention_and_preferred_type():
  """The attention products are the plain einsum; preferred_element_type is passed on."""
  q, k = jnp.ones((2, 5, 2, 2, 8), jnp.bfloat16), jnp.ones((2, 7, 2, 8), jnp.bfloat16)
  got = EINSUM("BTKGH,BSKH->BKGTS", q, k, preferred_element_type=jnp.float32)
  assert got.dtype == jnp.float32 and got.shape == (2, 2, 2, 5, 7)
  x, w = jnp.ones((2, 3, 32), jnp.bfloat16), jnp.ones((4, 32, 8), jnp.bfloat16)
  assert EINSUM("BTD,NDH->BTNH", x, w, preferred_element_type=jnp.float32).dtype == jnp.float32


def _tiny_paligemma():
  cfg = paligemma.PaliGemmaConfig(
      img=siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=4,
                              image_size=8),
      llm=gemma.GemmaConfig.tiny(2, scan_unroll=2))
  batch = {"image": jax.random.uniform(jax.random.key(3), (2, 8, 8, 3), minval=-1.0),
           "text": jax.random.randint(jax.random.key(4), (2, 6), 0, 128),
           "mask_ar": jnp.array([[0, 0, 0, 1, 1, 1]] * 2),
           "mask_input": jnp.ones((2, 6), jnp.int32)}
  return cfg, batch


def _tiny_gemma3():
  cfg = gemma3.Gemma3Config(llm=gemma.GemmaConfig.tiny(3), img=None)
  batch = {"text": jax.random.randint(jax.random.key(4), (2, 6), 0, 100),
           "mask_input": jnp.ones((2, 6), jnp.int32)}
  return cfg, batch


@pytest.mark.parametrize("make", [_tiny_paligemma, _tiny_gemma3])
def test_loss_and_grads_of_a_tiny_model_equal_the_plain_einsums(make):
  cfg, batch = make()
  plain = build.make_model(cfg)
  params = plain.init(jax.random.key(0), batch)["params"]

  def loss(model):
    def fn(p):
      logits, _ = model.apply({"params": p}, batch)
      return jnp.mean(jax.nn.log_softmax(logits)[..., 0] * jnp.arange(logits.shape[-2]))
    return jax.jit(jax.value_and_grad(fn))(params)

  want, want_grads = loss(plain)
  got, got_grads = loss(plain.clone(einsum=EINSUM))
  _close(got, want)
  flat_want = dict(jax.tree_util.tree_flatten_with_path(want_grads)[0])
  flat_got = jax.tree_util.tree_flatten_with_path(got_grads)[0]
  assert len(flat_got) == len(flat_want)
  for path, g in flat_got:
    assert g.shape == flat_want[path].shape, jax.tree_util.keystr(path)
    _close(g, flat_want[path])


def test_the_trainer_takes_it_on_a_cpu_mesh():
  model = build.make_model(_tiny_paligemma()[0])
  mesh = sharding.make_mesh([("data", -1), ("fsdp", 1), ("tensor", 1)])
  assert isinstance(step_lib.model_for_mesh(model, mesh).einsum, train_cpu.CpuTrainEinsum)
  assert model.einsum is jnp.einsum  # the model itself stays plain (evaluators, decode)
