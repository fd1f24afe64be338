"""The auto mesh on accelerators: FSDP over all devices, shrunk to the largest size that every
parameter can shard over (the auto data axis taking the rest), on libtpu's compile-only v5e
devices (no compile: only the mesh and the parameter shardings are built)."""
import importlib.util
import logging

import jax
import jax.numpy as jnp
import pytest

from big_paligemma import config as config_lib
from big_paligemma import sharding
from big_paligemma.models import build
from trainers import train as train_lib


def _devices(topology: str):
  if importlib.util.find_spec("libtpu") is None:
    reason = "libtpu cannot be imported (pip install -r requirements-tpu.txt): no v5e devices."
    print(reason)
    pytest.skip(reason)
  from tools import plan  # pylint: disable=import-outside-toplevel
  return plan.topology(topology).devices


def test_auto_fsdp_shrinks_to_what_every_parameter_divides_by(caplog):
  devices = _devices("v5e:4x4")
  s = jax.ShapeDtypeStruct
  rules = [(".*", "fsdp")]
  divisible = sharding.params_shard_over({"w": s((48, 40), jnp.float32)}, rules)  # 48 = 16 x 3
  mesh = sharding.make_mesh(sharding.AUTO_MESH, devices, divisible)
  assert dict(mesh.shape) == {"data": 1, "fsdp": 16, "tensor": 1}
  eights = sharding.params_shard_over({"a": s((24, 40), jnp.float32),  # 8 x 3, 8 x 5
                                       "b": s((32,), jnp.float32)}, rules)
  with caplog.at_level(logging.WARNING):
    mesh = sharding.make_mesh(sharding.AUTO_MESH, devices, eights)
  assert dict(mesh.shape) == {"data": 2, "fsdp": 8, "tensor": 1}
  assert "fsdp 8 x data 2 instead of fsdp 16" in caplog.text
  # A mesh the config fixes is kept: the sharding error then names the parameter and the fix.
  fixed = sharding.make_mesh([("data", 1), ("fsdp", -1), ("tensor", 1)], devices, eights)
  assert dict(fixed.shape)["fsdp"] == 16
  with pytest.raises(ValueError, match=r"a: no free dim of shape \(24, 40\) is divisible by the "
                     r"fsdp axis size 16"):
    sharding.infer_param_shardings({"a": s((24, 40), jnp.float32)}, rules, fixed)


def test_paligemma2_28b_at_896_shards_over_a_v5e_256():
  """SigLIP's weights (width 1152 = 128 x 9, 16 heads of 72) have no dimension divisible by 256:
  the trainer's mesh on a v5e-256 is fsdp 128 x data 2, and every parameter shards."""
  devices = _devices("v5e:16x16")
  config = config_lib.load_config("configs/transfer/docvqa.py:res=896,model=pg2_28b", [])
  mesh = train_lib.build_mesh(config, devices)
  assert dict(mesh.shape) == {"data": 2, "fsdp": 128, "tensor": 1}
  model_cfg = build.model_config(config, "tpu")
  shardings = build.param_shardings(model_cfg, config.sharding_rules, mesh)
  specs = {p: s.spec for p, s in sharding.tree_lib.flatten(shardings).items()}
  assert "fsdp" in specs["img/Transformer/encoderblock/MlpBlock_0/Dense_0/kernel"]
  assert "fsdp" in specs["llm/layers/mlp/gating_einsum"]
  # On 64 chips everything divides: all of them are FSDP.
  mesh = train_lib.build_mesh(config, devices[:64])
  assert dict(mesh.shape) == {"data": 1, "fsdp": 64, "tensor": 1}


def test_auto_tensor_takes_what_the_batch_does_not_split_over(caplog):
  """PaliGemma 2 28B InfoVQA at 896 has the published batch 32: on a v5e-64 the auto mesh is fsdp
  32 x tensor 2 (measured: 14.5 GiB a chip with tools.plan, BENCHMARKS.md), the heads and MLP
  width of the LLM split over the tensor pairs; batch 256 on the same chips stays all-FSDP."""
  devices = _devices("v5e:8x8")
  assert sharding.tensor_for_batch(64, 32) == 2 and sharding.tensor_for_batch(64, 256) == 1
  assert sharding.tensor_for_batch(256, 32) == 8 and sharding.tensor_for_batch(64, 48) == 4
  config = config_lib.load_config("configs/transfer/infovqa.py:res=896,model=pg2_28b", [])
  assert config.input.batch_size == 32
  with caplog.at_level(logging.WARNING):
    mesh = train_lib.build_mesh(config, devices)
  assert dict(mesh.shape) == {"data": 1, "fsdp": 32, "tensor": 2}
  assert "fsdp 32 x tensor 2: the batch of 32 does not split over 64 devices" in caplog.text
  sharding.check_batch_size(mesh, 32, "batch")
  model_cfg = build.model_config(config, "tpu")
  specs = {p: s.spec for p, s in sharding.tree_lib.flatten(
      build.param_shardings(model_cfg, config.sharding_rules, mesh)).items()}
  assert "tensor" in specs["llm/layers/mlp/gating_einsum"]
  assert "fsdp" in specs["llm/layers/mlp/gating_einsum"]
  # grad_accum splits the batch first: micro-batches of 8 need tensor 8 on 64 chips.
  config.grad_accum = 4
  assert dict(train_lib.build_mesh(config, devices).shape)["tensor"] == 8
  config.grad_accum, config.input.batch_size = 1, 256
  assert dict(train_lib.build_mesh(config, devices).shape) == {"data": 1, "fsdp": 64,
                                                               "tensor": 1}
  # On CPU the auto mesh is data-parallel whatever the batch.
  cpu = sharding.make_mesh(sharding.AUTO_MESH, jax.devices("cpu")[:1], batch_size=3)
  assert dict(cpu.shape) == {"data": 1, "fsdp": 1, "tensor": 1}
