"""Tests for big_paligemma.sharding on the 8 simulated CPU devices (and two 4-device processes).

Run as a script (`python tests/test_sharding.py PORT PROCESS_ID`) this file is one process of the
two-process test.
"""
import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from big_paligemma import optim
from big_paligemma import sharding
from tests import xla_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = [(".*/kernel", ("fsdp", ("tensor", 1))), (".*/linear", (("tensor", 0), "fsdp")),
         (".*", "replicate")]
SPEC_3D = [("data", 2), ("fsdp", 2), ("tensor", 2)]


def toy_params():
  rng = np.random.default_rng(0)
  return {"img": {"Dense_0": {"kernel": rng.normal(size=(16, 32)).astype(np.float32) * 0.3,
                              "bias": np.zeros(32, np.float32)}},
          "llm": {"mlp": {"linear": rng.normal(size=(32, 8)).astype(np.float32) * 0.3},
                  "final_norm": {"scale": np.zeros(8, np.float32)}}}


def toy_batches(steps=5, batch=16):
  rng = np.random.default_rng(1)
  return [{"x": rng.normal(size=(batch, 16)).astype(np.float32),
           "y": rng.integers(0, 8, size=(batch, 1)).astype(np.int32)} for _ in range(steps)]


def train_losses(mesh_spec, devices=None):
  """Five adam steps of a toy MLP on `mesh_spec`, jitted with explicit shardings and donation."""
  mesh = sharding.make_mesh(mesh_spec, devices)
  cfg = dict(optax_name="adam", lr=0.05, wd=1e-3, grad_clip_norm=1.0,
             schedule=dict(decay_type="cosine", warmup_steps=2, total_steps=6))
  host = toy_params()
  tx, _ = optim.make_optimizer(cfg, host)

  def loss_fn(params, batch):
    dense = params["img"]["Dense_0"]
    h = jax.nn.gelu(batch["x"] @ dense["kernel"] + dense["bias"])
    h = sharding.with_logical_constraint(h, (sharding.BATCH, sharding.MLP), mesh)
    logits = (h @ params["llm"]["mlp"]["linear"]) * (1 + params["llm"]["final_norm"]["scale"])
    return optim.softmax_xent(logits[:, None], batch["y"], jnp.ones_like(batch["y"]))

  def train_step(state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(state["params"], batch)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, loss

  param_sh = sharding.infer_param_shardings(host, RULES, mesh)
  abstract_opt = jax.eval_shape(tx.init, host)
  opt_sh = sharding.shardings_like_params(abstract_opt, host, param_sh, mesh)
  replicated = NamedSharding(mesh, P())
  state_sh = {"params": param_sh, "opt_state": opt_sh, "step": replicated}
  params = jax.tree.map(sharding.global_array, host, param_sh)
  state = {"params": params, "opt_state": jax.jit(tx.init, out_shardings=opt_sh)(params),
           "step": sharding.global_array(np.int32(0), replicated)}
  step_fn = jax.jit(train_step, in_shardings=(state_sh, sharding.batch_sharding(mesh)),
                    out_shardings=(state_sh, replicated), donate_argnums=0)
  losses = []
  for batch in toy_batches():
    batch = jax.tree.map(lambda x: sharding.global_array(x, sharding.batch_sharding(mesh)), batch)
    state, loss = step_fn(state, batch)
    losses.append(float(loss))
  assert int(state["step"]) == 5
  return losses, state


def test_make_mesh_sizes_and_errors():
  mesh = sharding.make_mesh([("data", -1), ("fsdp", 2), ("tensor", 1)])
  assert dict(mesh.shape) == {"data": 4, "fsdp": 2, "tensor": 1}
  assert dict(sharding.make_mesh().shape) == {"data": 8, "fsdp": 1, "tensor": 1}
  with pytest.raises(ValueError, match=r"multiply to 6, but there are 8 devices"):
    sharding.make_mesh([("data", 3), ("fsdp", 2)])
  with pytest.raises(ValueError, match=r"multiply to 3, which does not divide the 8"):
    sharding.make_mesh([("data", -1), ("fsdp", 3)])
  with pytest.raises(ValueError, match="at most one -1"):
    sharding.make_mesh([("data", -1), ("fsdp", -1)])


def test_batch_size_must_split_over_the_data_parallel_axes():
  mesh = sharding.make_mesh([("data", 2), ("fsdp", 2), ("tensor", 2)])
  sharding.check_batch_size(mesh, 12, "config.input.batch_size")  # 4 ways: tensor not counted
  with pytest.raises(ValueError, match=r"config.input.batch_size=6 does not split over the mesh's "
                     r"data-parallel axes \(data=2 x fsdp=2 = 4 ways\); use a multiple of 4"):
    sharding.check_batch_size(mesh, 6, "config.input.batch_size")


def test_an_eval_batch_smaller_than_the_mesh_gets_a_tensor_axis():
  """An eval batch of 4 on an fsdp-8 mesh runs on fsdp 4 x tensor 2 over the same devices (each
  tensor pair adjacent); arrays moved onto it keep their values and their shards where they were
  (fsdp 8 -> fsdp 4 x tensor 2); a batch that splits keeps the mesh; without fsdp and tensor axes to
  trade, a batch that does not split raises."""
  mesh = sharding.make_mesh([("data", 1), ("fsdp", -1), ("tensor", 1)])
  assert sharding.mesh_for_batch(mesh, 16, "evals.x.batch_size") is mesh
  small = sharding.mesh_for_batch(mesh, 4, "evals.x.batch_size")
  assert dict(small.shape) == {"data": 1, "fsdp": 4, "tensor": 2}
  assert list(small.devices.flat) == list(mesh.devices.flat)
  sharding.check_batch_size(small, 4, "evals.x.batch_size")
  odd = sharding.mesh_for_batch(mesh, 3, "evals.x.batch_size")  # 3 rows on every device
  assert dict(odd.shape) == {"data": 1, "fsdp": 1, "tensor": 8}
  data_only = sharding.make_mesh([("data", -1)])
  with pytest.raises(ValueError, match=r"batch_size=4 does not split .*\(data=8 = 8 ways\)"):
    sharding.mesh_for_batch(data_only, 4, "evals.x.batch_size")

  w = np.arange(8 * 6, dtype=np.float32).reshape(8, 6)
  tree = {"w": jax.device_put(w, NamedSharding(mesh, P("fsdp", None))),
          "odd": jax.device_put(w[:6], NamedSharding(mesh, P(None, None))), "n": 3}
  moved = sharding.onto_mesh(tree, small)
  # The fsdp dimension goes over fsdp x tensor: each device keeps the row it had.
  assert moved["w"].sharding == NamedSharding(small, P(("fsdp", "tensor"), None))
  before = {s.device: s.index for s in tree["w"].addressable_shards}
  assert {s.device: s.index for s in moved["w"].addressable_shards} == before
  np.testing.assert_array_equal(np.asarray(moved["w"]), w)
  assert moved["odd"].sharding.mesh == small and moved["n"] == 3
  # A spec whose new axis sizes do not divide the dimension is replicated on that dimension.
  spec_t = {"t": jax.ShapeDtypeStruct((6, 3), jnp.float32,
                                      sharding=NamedSharding(mesh, P(None, "tensor")))}
  assert sharding.onto_mesh(spec_t, small)["t"].sharding.spec == P(None, None)
  assert sharding.onto_mesh(tree, mesh)["w"] is tree["w"]


def gemma_like():
  s = jax.ShapeDtypeStruct
  return {"llm": {"embedder": {"input_embedding": s((300, 64), jnp.float32)},
                  "layers": {"attn": {"q_einsum": {"w": s((2, 4, 64, 16), jnp.float32)}},
                             "mlp": {"gating_einsum": s((2, 2, 64, 128), jnp.float32),
                                     "linear": s((2, 128, 64), jnp.float32)},
                             "pre_attention_norm": {"scale": s((2, 64), jnp.float32)}}},
          "img": {"pos_embedding": s((1, 12, 36), jnp.float32)}}


def test_infer_param_shardings_specs():
  mesh = sharding.make_mesh([("data", 1), ("fsdp", 4), ("tensor", 2)])
  rules = [(".*/input_embedding", (("tensor", 0), "fsdp")),
           (".*/q_einsum/w", (("tensor", -3), "fsdp")),
           (".*/gating_einsum", (("tensor", -1), "fsdp")),
           (".*/mlp/linear", (("tensor", -2), "fsdp")),
           (".*/scale", "fsdp"),
           (".*", "replicate")]
  shardings = sharding.infer_param_shardings(gemma_like(), rules, mesh)
  got = {p: s.spec for p, s in sharding.tree_lib.flatten(shardings).items()}
  assert got == {
      "llm/embedder/input_embedding": P("tensor", "fsdp"),
      "llm/layers/attn/q_einsum/w": P(None, "tensor", "fsdp", None),
      "llm/layers/mlp/gating_einsum": P(None, None, "fsdp", "tensor"),
      "llm/layers/mlp/linear": P(None, "tensor", "fsdp"),
      "llm/layers/pre_attention_norm/scale": P(None, "fsdp"),
      "img/pos_embedding": P(None, None, None),
  }


def test_sharding_mismatches_listed_at_once():
  mesh = sharding.make_mesh([("data", 1), ("fsdp", 8), ("tensor", 1)])
  rules = [(".*/q_einsum/w", (("fsdp", 1),)), (".*/pos_embedding", "fsdp"), (".*", "replicate")]
  with pytest.raises(ValueError) as err:
    sharding.infer_param_shardings(gemma_like(), rules, mesh)
  msg = str(err.value)
  assert ("llm/layers/attn/q_einsum/w: dim 1 of shape (2, 4, 64, 16) has size 4, not divisible by "
          "mesh axis 'fsdp' of size 8") in msg
  assert ("img/pos_embedding: no free dim of shape (1, 12, 36) is divisible by the fsdp axis "
          "size 8") in msg
  specs = sharding.infer_param_shardings(gemma_like(), rules[1:], mesh, strict=False)
  assert specs["img"]["pos_embedding"].spec == P(None, None, None)  # replicated with a warning


def test_rules_must_cover_and_match():
  mesh = sharding.make_mesh()
  with pytest.raises(ValueError, match=r"llm/embedder/input_embedding: matches no sharding rule"):
    sharding.infer_param_shardings(gemma_like(), [(".*/w", "replicate"), ("img/.*", "fsdp"),
                                                  ("llm/layers/.*", "fsdp")], mesh)
  with pytest.raises(ValueError, match=r"\['.\*/kernal'\] match no parameter"):
    sharding.infer_param_shardings(gemma_like(), [(".*/kernal", "fsdp"), (".*", "fsdp")], mesh)


def test_opt_state_follows_param_shardings():
  mesh = sharding.make_mesh(SPEC_3D)
  host = toy_params()
  tx, _ = optim.make_optimizer(dict(optax_name="adam", lr=0.1, frozen=["llm/final_norm/.*"]), host)
  param_sh = sharding.infer_param_shardings(host, RULES, mesh)
  opt_sh = sharding.tree_lib.flatten(
      sharding.shardings_like_params(jax.eval_shape(tx.init, host), host, param_sh, mesh))
  kernel_spec = P("fsdp", "tensor")
  assert param_sh["img"]["Dense_0"]["kernel"].spec == kernel_spec
  mu = [p for p in opt_sh if p.endswith("mu/img/Dense_0/kernel")]
  nu = [p for p in opt_sh if p.endswith("nu/img/Dense_0/kernel")]
  assert len(mu) == len(nu) == 1 and opt_sh[mu[0]].spec == opt_sh[nu[0]].spec == kernel_spec
  assert all(s.spec == P() for p, s in opt_sh.items() if p.endswith("count"))


def test_logical_constraint_inside_jit():
  mesh = sharding.make_mesh(SPEC_3D)
  x = jnp.zeros((8, 6, 4))
  logical = (sharding.BATCH, sharding.LENGTH, sharding.HEADS)
  y = jax.jit(lambda v: sharding.with_logical_constraint(v * 2, logical, mesh))(x)
  assert y.sharding.spec == P(("data", "fsdp"), None, "tensor")
  with jax.set_mesh(mesh):
    z = jax.jit(lambda v: sharding.with_logical_constraint(v * 2, logical))(x)
  assert z.sharding.is_equivalent_to(NamedSharding(mesh, P(("data", "fsdp"), None, "tensor")), 3)
  assert sharding.batch_sharding(mesh).spec == P(("data", "fsdp"))
  assert sharding.with_logical_constraint(x, logical) is x  # no mesh given or set: unchanged
  with pytest.raises(ValueError, match="unknown logical axis 'heads_'"):
    sharding.with_logical_constraint(x, ("batch", None, "heads_"), mesh)


def test_initialize_distributed_single_process_and_errors(monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    monkeypatch.delenv(name, raising=False)
  assert sharding.initialize_distributed() is False
  assert sharding.initialize_distributed("localhost:1234", num_processes=1, process_id=0) is False
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1234")
  with pytest.raises(ValueError, match="needs num_processes and process_id"):
    sharding.initialize_distributed()


@pytest.fixture(scope="module")
def one_device_losses():
  return train_losses([("data", 1), ("fsdp", 1), ("tensor", 1)], jax.devices()[:1])[0]


@pytest.mark.parametrize("mesh_spec", [[("data", 8)], [("data", 2), ("fsdp", 4)], SPEC_3D])
def test_train_steps_match_one_device(mesh_spec, one_device_losses):
  spec = dict(mesh_spec)
  full = [(n, spec.get(n, 1)) for n in ("data", "fsdp", "tensor")]
  losses, state = train_losses(full)
  assert len(set(one_device_losses)) == 5  # the toy model really trains
  np.testing.assert_allclose(losses, one_device_losses, rtol=1e-5, atol=1e-5)
  kernel = state["params"]["img"]["Dense_0"]["kernel"]  # [16, 32], sharded over fsdp and tensor.
  assert kernel.addressable_shards[0].data.size == 16 * 32 // spec.get("fsdp", 1) // spec.get(
      "tensor", 1)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process():
  port = _free_port()
  env = dict(os.environ, XLA_FLAGS=xla_env.xla_flags(4), PYTHONPATH=REPO,
             JAX_PLATFORMS="cpu")
  procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), str(port), str(i)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = []
  for proc in procs:
    try:
      out, err = proc.communicate(timeout=300)
    finally:
      proc.kill()
    assert proc.returncode == 0, err[-3000:]
    outs.append(json.loads(out.strip().splitlines()[-1]))
  want = train_losses(SPEC_3D)[0]
  for out in outs:
    assert out["process_count"] == 2 and out["device_count"] == 8 and out["local"] == 4
    np.testing.assert_allclose(out["losses"], want, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
  jax.config.update("jax_default_matmul_precision", "highest")
  assert sharding.initialize_distributed(f"localhost:{sys.argv[1]}", 2, int(sys.argv[2]))
  result = {"losses": train_losses(SPEC_3D)[0], "process_count": jax.process_count(),
            "device_count": jax.device_count(), "local": jax.local_device_count()}
  print(json.dumps(result))
