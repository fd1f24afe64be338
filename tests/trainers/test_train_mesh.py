"""5 steps on meshes data=8, data=2 x fsdp=4, data=2 x fsdp=2 x tensor=2 of the 8 simulated CPU
devices give the losses of the 1-device run (a mesh of one device) within 1e-5."""
import jax
import numpy as np
import pytest

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from big_paligemma import config as config_lib
from tests.trainers.test_train_smoke import write_run
from trainers import train

MESHES = {
    "data8": [("data", 8), ("fsdp", 1), ("tensor", 1)],
    "data2_fsdp4": [("data", 2), ("fsdp", 4), ("tensor", 1)],
    "data2_fsdp2_tensor2": [("data", 2), ("fsdp", 2), ("tensor", 2)],
}


def _losses(config, mesh, workdir, steps=5) -> list[float]:
  model_cfg = build.model_config(config)
  data = train.build_data(config, mesh)
  plan = train.make_plan(config, data.epoch_examples)
  tx, lr_fn = train.optim.make_optimizer(train.optimizer_config(config, plan),
                                         build.abstract_params(model_cfg))
  state, shardings = train.build_state(config, model_cfg, tx, mesh,
                                       ckpt_lib.Checkpointer(str(workdir)), data)
  # The trainer's step: on these CPU meshes with train_cpu's layouts (step.model_for_mesh).
  jitted = train.build_train_step(config, build.make_model(model_cfg), tx, lr_fn, shardings, mesh)
  losses = []
  for _ in range(steps):
    state, metrics = jitted(state, data.next())
    losses.append(float(metrics["loss"]))
  if mesh.size > 1:  # the params really are split as the rules say
    q = state.params["llm"]["layers"]["attn"]["q_einsum"]["w"]
    assert len(q.sharding.device_set) == mesh.size
  return losses


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("mesh")
  config = config_lib.load_config(write_run(root) + ",steps=5")
  one = sharding_lib.make_mesh([("data", 1), ("fsdp", 1), ("tensor", 1)], jax.devices()[:1])
  return config, root, _losses(config, one, root / "one")


@pytest.mark.parametrize("name", list(MESHES))
def test_mesh_losses_equal_one_device(setup, name):
  config, root, want = setup
  mesh = sharding_lib.make_mesh(MESHES[name])
  got = _losses(config, mesh, root / name)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
  assert abs(want[-1] - want[0]) > 1e-3  # the run moved
