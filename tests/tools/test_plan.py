"""tools/plan on libtpu's compile-only v5e:2x2 (4 chips): the demo model's train step and decode,
memory growing with the batch, an over-large batch reported as DOES NOT FIT, the HLO counts."""
import dataclasses
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
    # The train state stays in HBM while the trainer evaluates: adam's mu and nu, counted.
    assert r.opt_state == pytest.approx(2 * r.params, rel=0.01) and r.mesh == "fsdp 4"
    assert r.params + r.opt_state <= r.total and "train state kept" in plan.format_report(r)
  # An eval batch smaller than the slice (64 rows on a 128-chip fsdp mesh, here 2 on 4): decoded
  # on fsdp 2 x tensor 2 over the same chips, the params moved there (a copy: counted as kept).
  name = decoding[0]
  config.evals[name].batch_size = 2
  small = plan.plan_decode(config, topo)[0]
  assert small.fits and small.mesh == "fsdp 2 x tensor 2", plan.format_report(small)
  assert small.opt_state == pytest.approx(reports[0].opt_state + reports[0].params, rel=0.01)
  assert small.params == pytest.approx(reports[0].params, rel=0.01)  # sharded as in training


def test_a_decode_already_compiled_is_shared_and_only_the_train_state_differs(topo):
  """tools.plan_table's rows with the same decode program (here: another optimizer, sgd, no
  state beside the params but its step count) share its compile; each counts its own train state kept."""
  adam, sgd = _config(), _config()
  sgd.optim.optax_name, sgd.optim.optax = "sgd", {}
  first = plan.plan_decode(adam, topo)[0]
  second = plan.plan_decode(sgd, topo)[0]
  assert second.compile_s == 0.0 and not second.hlo
  assert second.temporaries == first.temporaries and second.collectives == first.collectives
  assert second.opt_state < 1024 < first.opt_state  # sgd: a step count
  assert second.total == pytest.approx(first.total - first.opt_state)
  # Another program (a longer decode) is compiled.
  adam.evals[first.what.split()[1]].max_decode_len *= 2
  assert plan.plan_decode(adam, topo)[0].compile_s > 0


def test_beam_search_reorders_beams_where_they_are(topo):
  """Beam search reorders each example's beams within the example (a gather batched over the
  examples): indexed by flat row numbers, the compiler gathered the whole KV cache onto every chip
  at every step (here 33.2 MiB of all-gathers against greedy's 0.9; PaliGemma 2 3B's COCO
  captions at 448 on v5e-16: 442 GiB a batch, 15.77 GiB a chip, 4.74 now)."""
  config = _config()
  name = next(n for n, ev in config.evals.items() if ev.get("max_decode_len"))
  config.evals[name].batch_size = 16
  greedy = plan.plan_decode(config, topo)[0]
  config.evals[name].sampler = {"name": "beam", "beam_size": 2}
  beam = plan.plan_decode(config, topo)[0]
  assert beam.fits and greedy.fits, plan.format_report(beam)
  assert 0 < beam.collectives["all-gather"] < 2 * greedy.collectives["all-gather"], (
      plan.format_report(beam), plan.format_report(greedy))


def test_decode_keeps_the_prompts_pass_on_the_batch_axes(topo):
  """With the evaluator's mesh, the prompt's pass constrains its activations and the KV cache it
  fills to the batch axes (as the trainer's step): left to itself, the compiler held PaliGemma 2
  3B's whole-batch prefill at 896 on every chip (65.96 GiB a chip on a v5e-64; 5.12 with it).
  The logits of the rows decoded are split over the vocabulary (`sharding.split_vocab`): left
  to the batch axes, every chip gathered the whole embedding (PaliGemma 2 10B: 1.72 GiB, twice)."""
  from big_paligemma import decode, sharding  # pylint: disable=import-outside-toplevel
  from big_paligemma.models import build  # pylint: disable=import-outside-toplevel
  from trainers import train as train_lib  # pylint: disable=import-outside-toplevel
  config = _config()
  mesh = train_lib.build_mesh(config, topo.devices)
  model_cfg = build.model_config(config, "tpu")
  params = sharding.with_shardings(build.abstract_params(model_cfg), build.param_shardings(
      model_cfg, config.sharding_rules, mesh))
  ev = next(ev for ev in config.evals.values() if ev.get("max_decode_len"))
  batch = plan.abstract_batch(plan.batch_shape(ev.pp, "pp"), 16, sharding.batch_sharding(mesh))
  llm = model_cfg.llm
  slots = plan.batch_shape(ev.pp, "pp").text_len + (model_cfg.img.image_size //
                                                     model_cfg.img.patch_size) ** 2 + 8
  cache = f"tensor<16x{llm.num_kv_heads}x{slots}x{llm.head_dim}x"

  def lowered(mesh_arg):
    fn = jax.jit(lambda p, b: decode.generate(build.make_model(model_cfg), p, b, max_decode_len=8,
                                              platform="tpu", mesh=mesh_arg).tokens)
    return fn.lower(params, batch).as_text()

  def constraints(text):
    return [line for line in text.splitlines() if "sharding_constraint" in line]

  assert constraints(lowered(None)) == []
  text = lowered(mesh)
  # Three loops: the image tower's layers, the prompt's pass over the decoder's layers (scanned,
  # one layer's gathered weights at a time: unrolled, the compiler held ~20 layers' at once,
  # Gemma 3 12B at 896 on a v5e-64 13.30 -> 4.26 GiB a chip) and the token loop.
  assert text.count("stablehlo.while") == 3
  found = constraints(text)
  on_batch = [line for line in found if '[{"data", "fsdp"}' in line]
  assert sum(cache in line for line in on_batch) == 2 * llm.num_layers, found
  # The logits of the few rows decoded (the prompt's last position, then each new token): the
  # rows replicated and the vocabulary split over the batch axes (no chip gathers the table).
  split = f'[{{}}, {{}}, {{"data", "fsdp"}}]> : tensor<16x1x{llm.vocab_size}xf32>'
  vocab = [line for line in found if split in line]
  whole = f'[{{}}, {{}}, {{}}]> : tensor<16x1x{llm.width}x'
  replicated = [line for line in found if whole in line]
  assert len(vocab) == len(replicated) == 2, found  # prefill and the token loop
  assert len(on_batch) + len(vocab) + len(replicated) == len(found)


def test_default_mesh_on_tpu_is_fsdp(topo, default):
  report = default  # the configs' "auto" mesh: fsdp over the 4 chips
  assert report.mesh == "fsdp 4" and "mesh fsdp 4" in plan.format_report(report)
  config = _config()
  config.mesh = [("data", -1), ("fsdp", 1), ("tensor", 1)]
  replicated = plan.plan_train(config, topo)
  assert replicated.mesh == "data 4"
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


def test_search_sets_the_remat_policy_and_stops_at_the_limit(monkeypatch):
  """search_batch over a stand-in compile (plan_train) that fits up to `largest` rows: the remat
  policy on both towers of every compile, nothing compiled above `limit`, None where one row per
  device does not fit."""
  calls = []

  def fake_plan_train(config, topo, batch_size, keep=False):
    target = config.model.overrides if config.model.get("preset") else config.model
    calls.append((batch_size, target.llm["remat_policy"], target.img["remat_policy"]))
    return plan.Report("train step", topo.name, batch_size, topo.chip, batch_size <= largest,
                       total=topo.chip.hbm_bytes * batch_size / (largest + 0.5))

  monkeypatch.setattr(plan, "plan_train", fake_plan_train)
  topo = plan.Topology("fake", (object(),) * 4, plan.CHIPS["v5e"])
  largest = 20
  best = plan.search_batch(_config(), topo, "nothing_saveable")
  assert best.batch_size == 20 and best.fits and 24 in [c[0] for c in calls]
  assert {c[1:] for c in calls} == {("nothing_saveable", "nothing_saveable")}
  calls.clear()
  assert plan.search_batch(_config(), topo, "none", limit=8).batch_size == 8
  assert max(c[0] for c in calls) == 8 and calls[0][1:] == ("none", "none")
  largest = 3
  assert plan.search_batch(_config(), topo, "none") is None


def test_hlo_traffic_of_a_loop_updating_one_row_at_a_time(topo):
  """A loop that writes one row of a buffer per iteration moves its rows, not the buffer once per
  iteration (a windowed matmul's accumulator, a scan's stacked outputs)."""
  rows, width = 64, 1024
  mesh = jax.make_mesh((4,), ("fsdp",), devices=topo.devices,
                       axis_types=(jax.sharding.AxisType.Auto,))
  spec = NamedSharding(mesh, PartitionSpec())

  def fill(buf, src):
    return jax.lax.fori_loop(0, rows // 2, lambda i, b: b.at[2 * i].set(jnp.tanh(src[i])), buf)

  buf = jax.ShapeDtypeStruct((rows, width), jnp.float32, sharding=spec)
  src = jax.ShapeDtypeStruct((rows // 2, width), jnp.float32, sharding=spec)
  stats = plan.hlo_stats(jax.jit(fill, donate_argnums=0).lower(buf, src).compile().as_text())
  row = width * 4
  # Each iteration reads a source row and writes a buffer row (x2 for a copy in between at
  # most), where counting whole buffers would be rows/2 x 256 KiB.
  assert 2 * (rows // 2) * row <= stats.traffic <= 4 * rows * row + 2 * rows * row


HLO_ASYNC_AND_SLICED = """\
HloModule m, entry_computation_layout={()->f32[]}

%sliced (param_0: s32[], param_1: bf16[8,4096]) -> f32[2,4096] {
  %param_1 = bf16[8,4096]{1,0} parameter(1)
  %constant.1 = bf16[] constant(0)
  %pad.1 = bf16[8,8192]{1,0} pad(%param_1, %constant.1), padding=0_0x0_4096
  %param_0 = s32[] parameter(0)
  %dynamic-slice.1 = bf16[2,4096]{1,0} dynamic-slice(%pad.1, %param_0, %param_0), dynamic_slice_sizes={2,4096}
  ROOT %convert.1 = f32[2,4096]{1,0} convert(%dynamic-slice.1)
}

%outer (p0: s32[], p1: bf16[8,4096], p2: f32[2,4096]) -> f32[2,4096] {
  %p0 = s32[] parameter(0)
  %p1 = bf16[8,4096]{1,0} parameter(1)
  %inner = f32[2,4096]{1,0} fusion(%p0, %p1), kind=kLoop, calls=%sliced
  %p2 = f32[2,4096]{1,0} parameter(2)
  ROOT %add.1 = f32[2,4096]{1,0} add(%inner, %p2)
}

%carry (q0: bf16[1024,1024], q1: bf16[64,1024], q2: f32[2,4096]) -> (f32[2,4096], bf16[1024,1024], bf16[1024,1024]) {
  %q0 = bf16[1024,1024]{1,0} parameter(0)
  %q1 = bf16[64,1024]{1,0} parameter(1)
  %all-gather.1 = bf16[1024,1024]{1,0} all-gather(%q1), channel_id=1, replica_groups={}, dimensions={0}
  %q2 = f32[2,4096]{1,0} parameter(2)
  %exp.1 = f32[2,4096]{1,0} exponential(%q2)
  ROOT %tuple.1 = (f32[2,4096]{1,0}, bf16[1024,1024]{1,0}, bf16[1024,1024]{1,0}) tuple(%exp.1, %q0, %all-gather.1)
}

%ex (e0: f32[2,4096]) -> f32[2,4096] {
  %e0 = f32[2,4096]{1,0:T(8,128)S(1)} parameter(0)
  ROOT %exp.2 = f32[2,4096]{1,0:T(8,128)} exponential(%e0)
}

ENTRY %main () -> f32[] {
  %i = s32[] constant(1)
  %big = bf16[8,4096]{1,0} constant({...})
  %acc = f32[2,4096]{1,0} constant({...})
  %f1 = f32[2,4096]{1,0} fusion(%i, %big, %acc), kind=kLoop, calls=%outer
  %table = bf16[1024,1024]{1,0} constant({...})
  %shard = bf16[64,1024]{1,0} constant({...})
  %f2 = (f32[2,4096]{1,0}, bf16[1024,1024]{1,0}, bf16[1024,1024]{1,0}) fusion(%table, %shard, %f1), kind=kOutput, calls=%carry
  %alloc = bf16[1024,1024]{1,0} custom-call(), custom_call_target="AllocateBuffer"
  %prefetch = (f32[2,4096]{1,0:T(8,128)}, f32[2,4096]{1,0:T(8,128)S(1)}, u32[]{:S(2)}) copy-start(%acc)
  %vmem = f32[2,4096]{1,0:T(8,128)S(1)} copy-done(%prefetch)
  %f3 = f32[2,4096]{1,0:T(8,128)} fusion(%vmem), kind=kLoop, calls=%ex
  ROOT %r = f32[] constant(0)
}
"""


def test_hlo_traffic_reads_what_fusions_use():
  """By hand: %f1 reads a 2x4096 bf16 slice of `big` (through a nested fusion's pad and slice),
  `acc` whole (f32) and writes its f32 result; %f2 passes `table` through to its result and
  all-gathers `shard` (counted as a collective, not as HBM traffic): it reads and writes the
  f32 2x4096 only; the buffer allocation moves nothing; the prefetch of `acc` into VMEM (memory
  space S(1)) reads it from HBM once, and %f3, reading it there, writes its result only."""
  stats = plan.hlo_stats(HLO_ASYNC_AND_SLICED)
  f32_2x4096, bf16_2x4096 = 2 * 4096 * 4, 2 * 4096 * 2
  f1 = 4 + bf16_2x4096 + f32_2x4096 + f32_2x4096  # the s32 index too
  f2 = f32_2x4096 + f32_2x4096
  prefetch, f3 = f32_2x4096, f32_2x4096
  assert stats.traffic == f1 + f2 + prefetch + f3
  assert stats.collectives == {"all-gather": 1024 * 1024 * 2}


HLO_STEP_TWO_LOOP = """\
HloModule m, entry_computation_layout={()->f32[8,8]}

%cond (c: (u32[], f32[8,8], f32[8,8])) -> pred[] {
  %c = (u32[], f32[8,8]{1,0}, f32[8,8]{1,0}) parameter(0)
  %i = u32[] get-tuple-element(%c), index=0
  %limit = u32[] constant(8)
  ROOT %lt = pred[] compare(%i, %limit), direction=LT
}

%body (b: (u32[], f32[8,8], f32[8,8])) -> (u32[], f32[8,8], f32[8,8]) {
  %b = (u32[], f32[8,8]{1,0}, f32[8,8]{1,0}) parameter(0)
  %j = u32[] get-tuple-element(%b), index=0
  %two = u32[] constant(2)
  %next = u32[] add(%j, %two)
  %x = f32[8,8]{1,0} get-tuple-element(%b), index=1
  %w = f32[8,8]{1,0} get-tuple-element(%b), index=2
  %y = f32[8,8]{1,0} dot(%x, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT %t = (u32[], f32[8,8]{1,0}, f32[8,8]{1,0}) tuple(%next, %y, %w)
}

ENTRY %main () -> f32[8,8] {
  %start = u32[] constant(2)
  %x0 = f32[8,8]{1,0} constant({...})
  %w0 = f32[8,8]{1,0} constant({...})
  %init = (u32[], f32[8,8]{1,0}, f32[8,8]{1,0}) tuple(%start, %x0, %w0)
  %loop = (u32[], f32[8,8]{1,0}, f32[8,8]{1,0}) while(%init), condition=%cond, body=%body
  ROOT %out = f32[8,8]{1,0} get-tuple-element(%loop), index=1
}
"""


def test_hlo_loop_trip_count_from_its_counter():
  """i = 2; while (i < 8) i += 2: three iterations of an 8x8x8 matmul (the limit alone, 8, would
  count libtpu's step-2 windowed-matmul loops twice over)."""
  stats = plan.hlo_stats(HLO_STEP_TWO_LOOP)
  assert stats.matmul_flops == 3 * 2 * 8 * 8 * 8


def _stand_in(per_example: float, base: float, calls: list, wobble=lambda b: 0.0):
  """A compile whose total is base + per_example x batch (+ wobble), against the chip's limit."""
  def compile_fn(config, topo, batch_size, keep=False):
    calls.append(batch_size)
    total = base + per_example * batch_size + wobble(batch_size)
    return plan.Report("train step", topo.name, batch_size, topo.chip,
                       total <= topo.chip.hbm_bytes, total=total, executable=object())
  return compile_fn


@pytest.mark.parametrize("per_example,base,wobble", [
    (100.0, 1000.0, lambda b: 0.0),             # exactly linear: the line's guess is the answer
    (100.0, 1000.0, lambda b: 7.0 * b * b / 64),  # grows faster than the line: bracket narrows
    (300.0, 9000.0, lambda b: -50.0 * b if b > 20 else 0.0),  # cheaper past 20: steps up
])
def test_largest_batch_finds_the_largest_that_fits(per_example, base, wobble):
  chip = plan.Chip("stand-in", 1e12, 20000.0, None, None)
  topo = plan.Topology("fake", (object(),) * 4, chip)
  calls = []
  best = plan.largest_batch(_config(), topo, _stand_in(per_example, base, calls, wobble))
  total = lambda b: base + per_example * b + wobble(b)  # noqa: E731
  truth = max(b for b in range(4, 4000, 4) if total(b) <= chip.hbm_bytes)
  assert best.batch_size == truth and best.fits and best.executable is not None
  assert truth + 4 in calls and len(calls) <= 8, calls  # pinned: the next size was compiled
  assert calls[:2] == [32, 64]


def test_largest_batch_errors():
  topo = plan.Topology("fake", (object(),) * 2, plan.Chip("no-memory", None, None, None, None))
  with pytest.raises(plan.PlanError, match="no memory limit"):
    plan.largest_batch(_config(), topo)
  small = dataclasses.replace(topo, chip=plan.Chip("small", None, 100.0, None, None))
  calls = []
  with pytest.raises(plan.NoFit, match="not even one example a device"):
    plan.largest_batch(_config(), small, _stand_in(1000.0, 0.0, calls))
  assert calls == [16, 4, 2]


@pytest.mark.slow
def test_largest_batch_on_a_tpu_compile(topo):
  """libtpu's v5e:2x2 compile of the demo model, its memory limit set between the totals of
  global batch 32 and 64: the batch found fits and the next one up does not."""
  config = _config()
  t32 = plan.plan_train(config, topo, 32).total
  t64 = plan.plan_train(config, topo, 64).total
  assert t32 < t64
  limit = (t32 + t64) / 2
  topo = dataclasses.replace(topo, chip=dataclasses.replace(topo.chip, hbm_bytes=limit))
  best = plan.largest_batch(config, topo)
  assert best.fits and best.total <= limit and 32 <= best.batch_size < 64
  above = plan.plan_train(config, topo, best.batch_size + 4)
  assert not above.fits and above.total > limit


GPU_HLO = """HloModule jit_step, entry_computation_layout={(bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0})->bf16[64,256]{1,0}}

%triton_gemm_dot.1 (p0: bf16[64,256], p1: bf16[256,256]) -> bf16[64,256] {
  %p0 = bf16[64,256]{1,0} parameter(0)
  %p1 = bf16[256,256]{1,0} parameter(1)
  ROOT %dot.1 = bf16[64,256]{1,0} dot(bf16[64,256]{1,0} %p0, bf16[256,256]{1,0} %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%body (arg: (s32[], bf16[64,128], bf16[3,128,256])) -> (s32[], bf16[64,128], bf16[3,128,256]) {
  %arg = (s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) parameter(0)
  %i = s32[] get-tuple-element((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %arg), index=0
  %x = bf16[64,128]{1,0} get-tuple-element((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %arg), index=1
  %w = bf16[3,128,256]{2,1,0} get-tuple-element((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %arg), index=2
  %zero = s32[] constant(0)
  %wl = bf16[1,128,256]{2,1,0} dynamic-slice(bf16[3,128,256]{2,1,0} %w, s32[] %i, s32[] %zero, s32[] %zero), dynamic_slice_sizes={1,128,256}
  %wb = bf16[128,256]{1,0} bitcast(bf16[1,128,256]{2,1,0} %wl)
  %gemm = (bf16[64,256]{1,0}, s8[4194304]{0}) custom-call(bf16[64,128]{1,0} %x, bf16[128,256]{1,0} %wb), custom_call_target="__cublas$gemm", backend_config={"operation_queue_id":"0","wait_on_operation_queues":[],"gemm_backend_config":{"alpha_real":1,"beta":0,"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"],"lhs_batch_dimensions":[],"rhs_batch_dimensions":[]},"alpha_imag":0,"precision_config":{"operand_precision":["DEFAULT","DEFAULT"]},"epilogue":"DEFAULT","grad_x":false,"grad_y":false}}
  %y = bf16[64,256]{1,0} get-tuple-element((bf16[64,256]{1,0}, s8[4194304]{0}) %gemm), index=0
  %sq = bf16[256,256]{1,0} constant({...})
  %f = bf16[64,256]{1,0} fusion(bf16[64,256]{1,0} %y, bf16[256,256]{1,0} %sq), kind=kCustom, calls=%triton_gemm_dot.1, backend_config={"fusion_backend_config":{"kind":"__triton_gemm"}}
  %lt = (bf16[64,128]{1,0}, s8[33554432]{0}) custom-call(bf16[64,256]{1,0} %f, bf16[128,256]{1,0} %wb), custom_call_target="__cublas$lt$matmul", backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["1"],"lhs_batch_dimensions":[],"rhs_batch_dimensions":[]}}}
  %x2 = bf16[64,128]{1,0} get-tuple-element((bf16[64,128]{1,0}, s8[33554432]{0}) %lt), index=0
  %one = s32[] constant(1)
  %i2 = s32[] add(s32[] %i, s32[] %one)
  ROOT %out = (s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) tuple(s32[] %i2, bf16[64,128]{1,0} %x2, bf16[3,128,256]{2,1,0} %w)
}

%cond (arg: (s32[], bf16[64,128], bf16[3,128,256])) -> pred[] {
  %arg = (s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) parameter(0)
  %i = s32[] get-tuple-element((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %arg), index=0
  %n = s32[] constant(3)
  ROOT %lt = pred[] compare(s32[] %i, s32[] %n), direction=LT
}

ENTRY %main (x: bf16[64,128], w: bf16[3,128,256]) -> bf16[64,128] {
  %x = bf16[64,128]{1,0} parameter(0)
  %w = bf16[3,128,256]{2,1,0} parameter(1)
  %zero = s32[] constant(0)
  %init = (s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) tuple(s32[] %zero, bf16[64,128]{1,0} %x, bf16[3,128,256]{2,1,0} %w)
  %loop = (s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) while((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %init), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"3"}}
  ROOT %res = bf16[64,128]{1,0} get-tuple-element((s32[], bf16[64,128]{1,0}, bf16[3,128,256]{2,1,0}) %loop), index=1
}
"""


def test_gpu_matmuls_are_counted():
  """A GPU module's matmuls: a cuBLAS gemm, a Triton gemm fusion and a cuBLASLt matmul in a loop
  of 3 (the XLA GPU compiler's forms, as in its own tests), each 2 x M x N x K FLOPs."""
  stats = plan.hlo_stats(GPU_HLO)
  per_iteration = 2 * 64 * 256 * 128 + 2 * 64 * 256 * 256 + 2 * 64 * 128 * 256
  assert stats.matmul_flops == 3 * per_iteration


def test_local_chip_has_the_gpus_bandwidth():
  class FakeDevice:
    device_kind = "NVIDIA H100 80GB HBM3"

    def memory_stats(self):
      return {"bytes_limit": 60 * 2**30, "peak_bytes_in_use": 0}

  chip = plan.local_chip(FakeDevice())
  assert (chip.peak_flops, chip.hbm_bytes, chip.hbm_bw) == (989e12, 60 * 2**30, 3.35e12)
  report = plan.Report("train step", "local", 8, chip, True, compiled_flops=989e12,
                       bytes_accessed=2 * 3.35e12, model_flops=989e12 / 2)
  assert report.roofline == {"compute": 1.0, "memory": 2.0} and report.step_s == 2.0
  assert report.mfu == pytest.approx(0.25)


def test_search_names_a_smaller_batch_that_is_faster_per_example():
  """At the edge of the memory the compiler rematerialises to fit (PaliGemma 2 3B, remat none on
  v5e-16: 1.00x the model's matmuls at batch 48, 1.86x at 64): --search names the faster batch."""
  chip = plan.CHIPS["v5e"]

  def report(batch, overhead, fits=True):
    model = 1e12 * batch
    return plan.Report("train step", "v5e:4x4", batch, chip, fits, model_flops=model,
                       compiled_flops=overhead * model)

  tried = [report(32, 1.0), report(48, 1.0), report(64, 1.86), report(80, 1.0, fits=False)]
  line = plan.search_line(tried[2], tried)
  assert line.startswith("largest global batch 64 (roofline")
  assert "compiled FLOPs 1.86x the model's; batch 48 is faster per example" in line
  assert "1.00x the model's)" in line
  plain = plan.search_line(tried[1], tried[:2])  # 32 and 48 as fast per example: nothing named
  assert plain.startswith("largest global batch 48 (roofline") and "faster" not in plain
  assert plan.search_line(None, []) == "not even one example per device fits"


def test_largest_batch_stops_at_its_time_budget(capsys):
  """No compile starts after budget_s: the largest batch known to fit by then, said unpinned."""
  chip = plan.Chip("stand-in", 1e12, 20000.0, None, None)
  topo = plan.Topology("fake", (object(),) * 4, chip)
  calls = []
  best = plan.largest_batch(_config(), topo, _stand_in(100.0, 1000.0, calls), budget_s=0.0)
  assert calls == [32] and best.batch_size == 32  # the first fit; nothing after the budget
  assert "the search's 0 s are spent: batch 32 fits, none larger was compiled" in \
      capsys.readouterr().out


def test_tpu_device_kinds_have_their_figures(topo):
  """jax names TPUs by generation ("TPU v5 lite" is a v5e): the trainer's MFU (PEAK_FLOPS) and
  `--topology local` on a TPU VM find their chip's figures under those names, libtpu's own."""
  from trainers import logging as log_lib  # pylint: disable=import-outside-toplevel
  assert topo.devices[0].device_kind == "TPU v5 lite"
  for kind, gen in plan.TPU_KINDS.items():
    assert log_lib.PEAK_FLOPS[kind] == plan.CHIPS[gen].peak_flops, kind

    class FakeTpu:
      device_kind = kind
      limit = 15 * 2**30 if gen == "v5e" else None  # a v5e reports it; the others here do not

      def memory_stats(self):
        return {"bytes_limit": self.limit} if self.limit else None

    chip = plan.local_chip(FakeTpu())
    assert (chip.peak_flops, chip.hbm_bw, chip.ici_bw) == (
        plan.CHIPS[gen].peak_flops, plan.CHIPS[gen].hbm_bw, plan.CHIPS[gen].ici_bw)
    assert chip.hbm_bytes == (15 * 2**30 if gen == "v5e" else plan.CHIPS[gen].hbm_bytes)
