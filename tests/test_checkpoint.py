"""Tests for big_paligemma.checkpoint: exact round trip, resharding, refusal, atomicity."""
import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from big_paligemma import checkpoint
from big_paligemma import optim
from big_paligemma import sharding
from big_paligemma import tree as tree_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_state(seed=0):
  """A small train state after two adam steps, with a frozen parameter and a bf16 leaf."""
  rng = np.random.default_rng(seed)
  params = tree_lib.unflatten({
      "img/head/kernel": jnp.asarray(rng.normal(size=(16, 4)), jnp.float32),
      "img/pos_embedding": jnp.asarray(rng.normal(size=(1, 4, 4)), jnp.bfloat16),
      "llm/layers/mlp/linear": jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
      "llm/final_norm/scale": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
  })
  tx, _ = optim.make_optimizer(dict(optax_name="adam", lr=0.1, frozen=["img/pos_embedding"]),
                               params)
  opt_state = tx.init(params)
  for _ in range(2):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), x.dtype), params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
  return {"params": params, "opt_state": opt_state, "step": jnp.int32(2),
          "rng": jax.random.key_data(jax.random.key(seed))}


def abstract(state, sharding_fn=None):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
      x.shape, x.dtype, sharding=sharding_fn(x) if sharding_fn else x.sharding), state)


def assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for (path, x), y in zip(tree_lib.flatten(a).items(), jax.tree.leaves(b)):
    assert x.dtype == y.dtype, path
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=path)


def test_round_trip_is_exact(tmp_path):
  state = train_state()
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  iterator_state = np.frombuffer(b'{"epoch": 3, "offset": 17}', np.uint8)
  ckpt.save(2, state, extra={"data_iterator": iterator_state}, metadata={"config": "x", "n": 1})
  ckpt.wait_until_finished()
  assert ckpt.latest_step() == 2
  restored, extra, metadata = ckpt.restore(abstract(state))
  assert_trees_equal(restored, state)
  assert extra["data_iterator"].dtype == np.uint8
  assert extra["data_iterator"].tobytes() == b'{"epoch": 3, "offset": 17}'
  assert metadata == {"config": "x", "n": 1}
  key = jax.random.wrap_key_data(restored["rng"])
  np.testing.assert_array_equal(jax.random.normal(key, (3,)),
                                jax.random.normal(jax.random.key(0), (3,)))
  ckpt.close()


def test_relative_workdir_is_accepted(tmp_path, monkeypatch):
  """`--workdir workdir/run` is relative; orbax alone refuses relative paths."""
  monkeypatch.chdir(tmp_path)
  state = train_state()
  ckpt = checkpoint.Checkpointer("workdir/run/ckpt", async_save=False)
  ckpt.save(1, state)
  ckpt.close()
  assert os.path.isdir(tmp_path / "workdir" / "run" / "ckpt" / "1")
  restored, _, _ = checkpoint.Checkpointer("workdir/run/ckpt").restore(abstract(state))
  assert_trees_equal(restored, state)


def test_async_save_survives_deleting_the_arrays(tmp_path):
  # The trainer donates the state to the next step right after `save` returns.
  state = {"x": jax.random.normal(jax.random.key(3), (256, 256))}
  want = np.asarray(state["x"])
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=True)
  ckpt.save(7, state)
  state["x"].delete()
  ckpt.wait_until_finished()
  restored, extra, metadata = ckpt.restore({"x": jax.ShapeDtypeStruct((256, 256), jnp.float32)})
  np.testing.assert_array_equal(restored["x"], want)
  assert extra == {} and metadata == {}


def test_restore_onto_an_eight_device_mesh(tmp_path):
  state = jax.device_put(train_state(), jax.devices()[0])
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  ckpt.save(2, state)
  mesh = sharding.make_mesh([("data", 2), ("fsdp", 4)])
  spec = lambda x: NamedSharding(mesh, P("fsdp") if x.ndim and x.shape[0] % 4 == 0 else P())
  restored, _, _ = ckpt.restore(abstract(state, spec))
  kernel = restored["params"]["img"]["head"]["kernel"]
  assert kernel.sharding == NamedSharding(mesh, P("fsdp"))
  assert len(kernel.addressable_shards) == 8 and kernel.addressable_shards[0].data.shape == (4, 4)
  assert_trees_equal(restored, state)


def test_refuses_a_different_tree_or_shape(tmp_path):
  state = train_state()
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  ckpt.save(2, state)
  target = abstract(state)
  target["params"]["img"]["head"]["kernel"] = jax.ShapeDtypeStruct((16, 5), jnp.float32)
  target["params"]["llm"]["new"] = jax.ShapeDtypeStruct((3,), jnp.float32)
  del target["rng"]
  with pytest.raises(ValueError) as err:
    ckpt.restore(target)
  msg = str(err.value)
  assert "params/img/head/kernel: saved (16, 4), expected (16, 5)" in msg
  assert "params/llm/new: saved absent, expected (3,)" in msg
  assert "rng: saved (2,), expected absent" in msg


def test_typed_keys_are_refused_with_the_fix(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  with pytest.raises(ValueError, match=r"'rng' is a typed PRNG key.*key_data"):
    ckpt.save(1, {"rng": jax.random.key(0)})


def test_retention_keeps_last_and_periodic_steps(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path), keep_last=2, keep_steps_every=2, async_save=False)
  for step in range(1, 6):
    ckpt.save(step, {"x": jnp.full((2,), step)})
  assert ckpt.all_steps() == [2, 4, 5]
  restored, _, _ = ckpt.restore({"x": jax.ShapeDtypeStruct((2,), jnp.int32)}, step=4)
  np.testing.assert_array_equal(restored["x"], [4, 4])


def test_partial_tmp_dir_is_ignored_and_cleaned(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  ckpt.save(1, {"x": jnp.ones((2,))})
  ckpt.close()
  partial = tmp_path / "2.orbax-checkpoint-tmp"
  (partial / "state").mkdir(parents=True)
  (partial / "state" / "garbage").write_bytes(b"\0" * 100)
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  assert ckpt.latest_step() == 1
  restored, _, _ = ckpt.restore({"x": jax.ShapeDtypeStruct((2,), jnp.float32)})
  np.testing.assert_array_equal(restored["x"], [1, 1])
  ckpt.save(2, {"x": jnp.zeros((2,))})  # waits for the clean-up of the partial directory
  assert ckpt.all_steps() == [1, 2] and not partial.exists()


KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import jax
    from orbax.checkpoint._src.path import atomicity
    from big_paligemma import checkpoint

    ckpt = checkpoint.Checkpointer(sys.argv[1])
    ckpt.save(1, {"x": jax.random.normal(jax.random.key(1), (1024, 1024))})
    ckpt.wait_until_finished()

    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def die_before_rename(self):  # every file of step 2 is written; its rename is next.
      if self._final_path.name == "2":
        os.kill(os.getpid(), signal.SIGKILL)
      await finalize(self)

    atomicity.AtomicRenameTemporaryPath.finalize = die_before_rename
    ckpt.save(2, {"x": jax.random.normal(jax.random.key(2), (1024, 1024))})
    ckpt.wait_until_finished()
""")


@pytest.mark.slow
def test_save_killed_midway_leaves_previous_step(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(tmp_path)], env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  partial = [p for p in tmp_path.iterdir() if p.name.startswith("2.")]
  assert len(partial) == 1 and "tmp" in partial[0].name  # killed after writing, before renaming
  assert sum(f.stat().st_size for f in partial[0].rglob("*") if f.is_file()) > 1_000_000
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  assert ckpt.latest_step() == 1 and ckpt.all_steps() == [1]
  restored, _, _ = ckpt.restore({"x": jax.ShapeDtypeStruct((1024, 1024), jnp.float32)})
  np.testing.assert_array_equal(restored["x"], jax.random.normal(jax.random.key(1), (1024, 1024)))
  ckpt.save(2, {"x": jnp.zeros((1024, 1024))})  # the run goes on from step 1
  ckpt.wait_until_finished()
  assert ckpt.all_steps() == [1, 2] and not partial[0].exists()
