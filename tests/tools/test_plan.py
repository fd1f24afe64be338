"""tools/plan on libtpu's compile-only v5e:2x2 (4 chips): the demo model's train step and decode,
memory growing with the batch, an over-large batch reported as DOES NOT FIT, the HLO counts."""
import importlib.util

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from big_paligemma import config as config_lib
from tools import plan

CONFIG = "configs/transfer/docvqa.py:demo"

pytestmark = pytest.mark.usefixtures("trainer_precision")


def _topology():
  if importlib.util.find_spec("libtpu") is None:
    reason = ("libtpu cannot be imported (pip install -r requirements-tpu.txt): the TPU compile "
              "of tools/plan is not tested here.")
    print(reason)
    pytest.skip(reason)
  return plan.topology("v5e:2x2")


@pytest.fixture(scope="module")
def topo():
  return _topology()


@pytest.fixture(scope="module")
def default(topo):
  """The demo config's train step as shipped (the backend's defaults for a TPU)."""
  return plan.plan_train(_config(), topo)


def _config(arg: str = ""):
  return config_lib.load_config(CONFIG + arg, [])


def test_train_step_compiles_and_fits(topo, default):
  config, report = _config(), default
  assert report.fits and not report.error, plan.format_report(report)
  assert report.batch_size == config.input.batch_size and len(topo.devices) == 4
  assert 0 < report.params and 0 < report.opt_state  # adam: mu and nu, like the params
  assert report.opt_state == pytest.approx(2 * report.params, rel=0.01)
  assert report.params + report.opt_state + report.batch <= report.total <= topo.chip.hbm_bytes
  assert report.step_s > 0 and 0 < report.mfu <= 1
  text = plan.format_report(report)
  assert "FITS" in text and "DOES NOT FIT" not in text and "remat overhead" in text
  # The backend's default on a TPU rematerialises; without remat the compiled matmuls are about
  # the model's (which counts matmuls only; on this fsdp mesh the compiler adds ~15% to the tiny
  # model, e.g. around its sharded vocabulary, where the unrolled data-parallel step is at 0.99x).
  plan.set_remat(config, "none")
  plain = plan.plan_train(config, topo)
  assert 0.9 < plain.compiled_flops / plain.model_flops < 1.25
  assert report.compiled_flops > 1.2 * plain.compiled_flops
  assert report.model_flops == plain.model_flops


def test_larger_batch_needs_more_temporaries_and_too_large_does_not_fit(topo, default):
  # 4x the demo's batch of 16: 4.66 against 3.95 MiB of temporaries per chip (libtpu's compile
  # time grows with the batch: 15 s at 64, 36 s at 256).
  config, small = _config(), default
  large = plan.plan_train(config, topo, 4 * small.batch_size)
  assert small.fits and large.fits
  assert large.temporaries > small.temporaries and large.batch == 4 * small.batch
  # On the data-parallel mesh without remat the compiler rejects it within seconds (9 s here).
  config.mesh = [("data", -1), ("fsdp", 1), ("tensor", 1)]
  plan.set_remat(config, "none")
  huge = plan.plan_train(config, topo, 1 << 18)
  assert not huge.fits and "DOES NOT FIT" in plan.format_report(huge)
  assert huge.total > topo.chip.hbm_bytes  # the compiler's figure, parsed from its message


def test_decode_of_the_evaluators_compiles(topo):
  config = _config()
  reports = plan.plan_decode(config, topo)
  decoding = [n for n, ev in config.evals.items() if ev.get("max_decode_len")]
  assert [r.what.split()[1] for r in reports] == decoding and decoding
  for r in reports:
    assert r.fits and r.compiled_flops > 0 and r.params > 0, plan.format_report(r)


def test_default_mesh_on_tpu_is_fsdp(topo, default):
  report = default  # the configs' "auto" mesh: fsdp over the 4 chips
  config = _config()
  config.mesh = [("data", -1), ("fsdp", 1), ("tensor", 1)]
  replicated = plan.plan_train(config, topo)
  assert report.params == pytest.approx(replicated.params / 4, rel=0.05)
  assert report.collectives.get("all-gather", 0) > 0 == replicated.collectives.get("all-gather", 0)


def test_hlo_stats_count_loop_bodies_by_their_trip_count(topo):
  layers, batch, width = 5, 32, 64
  mesh = jax.make_mesh((4,), ("fsdp",), devices=topo.devices,
                       axis_types=(jax.sharding.AxisType.Auto,))

  def loss(w, x):
    y, _ = jax.lax.scan(lambda c, wl: (jnp.tanh(c @ wl), None), x, w)
    return y.sum()

  w = jax.ShapeDtypeStruct((layers, width, width), jnp.bfloat16,
                           sharding=NamedSharding(mesh, PartitionSpec(None, None, "fsdp")))
  x = jax.ShapeDtypeStruct((batch, width), jnp.bfloat16,
                           sharding=NamedSharding(mesh, PartitionSpec("fsdp")))
  stats = plan.hlo_stats(jax.jit(jax.grad(loss)).lower(w, x).compile().as_text())
  per_layer = 2 * (batch // 4) * width * width  # one device's rows
  assert stats.matmul_flops == 3 * layers * per_layer  # forward, and dx + dw backward
  # Each layer's weight is gathered (forward and backward) and its gradient summed over fsdp.
  assert stats.collectives["all-gather"] >= 2 * layers * width * width * 2
  assert stats.traffic > 0


def test_errors_name_the_fix(monkeypatch):
  with pytest.raises(plan.PlanError, match="v5e:4x4"):
    plan.topology("v5e-16")
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == "libtpu" else real(name, *a))
  with pytest.raises(plan.PlanError, match="requirements-tpu.txt"):
    plan.topology("v5e:2x2")


def test_batch_shape_from_the_pp_spec():
  config = _config()
  shape = plan.batch_shape(config.input.pp, "config.input.pp")
  assert (shape.res, shape.num_images) == (64, 0)
  assert set(shape.fields) == {"image", "text", "mask_ar", "mask_loss", "mask_input"}
  with pytest.raises(plan.PlanError, match="tolen"):
    plan.batch_shape("decode|resize(64)", "x")


@pytest.mark.slow
def test_search_finds_the_largest_batch_under_a_limit(topo):
  """One real compile (batch 4: the next, 8, is over the limit); the doubling and the bisection
  are test_search_doubles_then_bisects's."""
  best = plan.search_batch(_config(), topo, "nothing_saveable", limit=4)
  assert best is not None and best.batch_size == 4 and best.fits and best.temporaries > 0


def test_search_doubles_then_bisects(monkeypatch):
  """search_batch over a stand-in compile that fits up to `largest` rows: doubling from one row
  per device, then bisection in steps of the device count; the remat policy set on the config
  that every compile gets; None when one row per device does not fit."""
  calls = []

  def fake_plan_train(config, topo, batch_size):
    target = config.model.overrides if config.model.get("preset") else config.model
    calls.append((batch_size, target.llm["remat_policy"], target.img["remat_policy"]))
    return plan.Report("train step", topo.name, batch_size, topo.chip, batch_size <= largest)

  monkeypatch.setattr(plan, "plan_train", fake_plan_train)
  topo = plan.Topology("fake", (object(),) * 4, plan.CHIPS["v5e"])
  largest = 20
  best = plan.search_batch(_config(), topo, "nothing_saveable")
  assert best.batch_size == 20 and best.fits
  assert [c[0] for c in calls] == [4, 8, 16, 32, 24, 20]
  assert {c[1:] for c in calls} == {("nothing_saveable", "nothing_saveable")}
  calls.clear()
  assert plan.search_batch(_config(), topo, "none", limit=8).batch_size == 8  # 16: over limit
  assert [c[0] for c in calls] == [4, 8] and calls[0][1:] == ("none", "none")
  largest = 3
  assert plan.search_batch(_config(), topo, "none") is None
