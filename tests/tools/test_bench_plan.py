"""tools/bench_plan: the planned train step run on the local devices (the CPU here), the search of
the largest batch that the plan says fits (against a stand-in compile, and against libtpu's v5e:2x2
compile), and the GPU's figures in tools/plan (cuBLAS matmuls in the HLO, HBM bandwidth)."""
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from big_paligemma import config as config_lib
from tools import bench_plan
from tools import plan

CONFIG = "configs/transfer/docvqa.py:demo"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config():
  return config_lib.load_config(CONFIG, [])


def test_the_planned_step_runs_on_the_local_devices(tmp_path, capsys):
  out = tmp_path / "plan_vs_chip.json"
  result = bench_plan.main(["--config", CONFIG, "--batch", "8", "--steps", "3", "--warmup", "1",
                            "--json", str(out)])
  assert json.loads(out.read_text()) == json.loads(json.dumps(result))
  assert result["device"] == "cpu" and result["batch_size"] == 8
  planned, measured = result["planned"], result["measured"]
  assert planned["fits"] and planned["total_bytes"] > planned["params_bytes"] > 0
  assert planned["model_flops"] > 0 and planned["compiled_flops"] > 0
  assert len(measured["step_times_s"]) == 3 and measured["step_s"] > 0
  assert math.isfinite(measured["loss_first"]) and math.isfinite(measured["loss_last"])
  assert measured["loss_last"] < measured["loss_first"]  # it trains on the one batch
  # The CPU reports no memory and has no peak FLOP/s in the table: step times alone.
  assert measured["peak_bytes"] is None and measured["mfu"] is None
  text = capsys.readouterr().out
  assert "FITS" in text and "this backend reports none" in text and "step: measured" in text


def test_what_runs_is_the_planned_program():
  config = _config()
  topo = plan.topology("local")
  report = plan.plan_train(config, topo, 8, keep=True)
  calls = []
  compiled = report.executable

  def counted(state, batch):
    calls.append(sorted(batch))
    return compiled(state, batch)

  report.executable = counted
  measured = bench_plan.run_steps(config, topo, report, steps=2, warmup=1)
  assert len(calls) == 3 and set(calls[0]) >= {"image", "text", "mask_ar", "mask_loss"}
  assert len(measured["step_times_s"]) == 2
  assert plan.plan_train(config, topo, 8).executable is None  # kept only when asked
  with pytest.raises(plan.PlanError, match="keep=True"):
    bench_plan.run_steps(config, topo, plan.plan_train(config, topo, 8), 1, 0)


def test_synthetic_batch_has_a_prefix_and_a_suffix():
  shape = plan.BatchShape(text_len=8, res=16, num_images=0,
                          fields=("image", "text", "mask_ar", "mask_loss", "mask_input"))
  topo = plan.topology("local")
  import jax  # pylint: disable=import-outside-toplevel
  sharding = jax.sharding.SingleDeviceSharding(topo.devices[0])
  batch = bench_plan.synthetic_batch(shape, 2, vocab=50, sharding=sharding)
  assert batch["image"].shape == (2, 16, 16, 3) and -1 <= float(batch["image"].min())
  assert float(batch["image"].max()) <= 1
  assert batch["text"].shape == (2, 8) and 1 <= int(batch["text"].min())
  assert int(batch["text"].max()) < 50
  assert batch["mask_ar"].tolist() == [[0] * 4 + [1] * 4] * 2 == batch["mask_loss"].tolist()
  assert batch["mask_input"].tolist() == [[1] * 8] * 2


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
  best = bench_plan.largest_batch(_config(), topo, _stand_in(per_example, base, calls, wobble))
  total = lambda b: base + per_example * b + wobble(b)  # noqa: E731
  truth = max(b for b in range(4, 4000, 4) if total(b) <= chip.hbm_bytes)
  assert best.batch_size == truth and best.fits and best.executable is not None
  assert truth + 4 in calls and len(calls) <= 8, calls  # pinned: the next size was compiled
  assert calls[:2] == [32, 64]


def test_largest_batch_errors():
  topo = plan.Topology("fake", (object(),) * 2, plan.Chip("no-memory", None, None, None, None))
  with pytest.raises(plan.PlanError, match="--batch"):
    bench_plan.largest_batch(_config(), topo)
  small = dataclasses.replace(topo, chip=plan.Chip("small", None, 100.0, None, None))
  calls = []
  with pytest.raises(plan.PlanError, match="not even one example a device"):
    bench_plan.largest_batch(_config(), small, _stand_in(1000.0, 0.0, calls))
  assert calls == [16, 4, 2]


@pytest.mark.slow
@pytest.mark.usefixtures("trainer_precision")
def test_largest_batch_on_a_tpu_compile():
  """libtpu's v5e:2x2 compile of the demo model, its memory limit set between the totals of
  global batch 32 and 64: the batch found fits and the next one up does not."""
  if importlib.util.find_spec("libtpu") is None:
    reason = "libtpu cannot be imported (pip install -r requirements-tpu.txt)."
    print(reason)
    pytest.skip(reason)
  topo = plan.topology("v5e:2x2")
  config = _config()
  t32 = plan.plan_train(config, topo, 32).total
  t64 = plan.plan_train(config, topo, 64).total
  assert t32 < t64
  limit = (t32 + t64) / 2
  topo = dataclasses.replace(topo, chip=dataclasses.replace(topo.chip, hbm_bytes=limit))
  best = bench_plan.largest_batch(config, topo)
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


# What the lent GPU machines lack and cannot be carried there (TensorFlow and the data stack;
# pycocoevalcap is ~100 MB with its jars): DESIGN rule 2, a benchmark runs where only JAX is.
NOT_INSTALLED = ("tensorflow", "tensorflow_datasets", "grain", "array_record", "pycocoevalcap")
JAX_ONLY = """
import json, sys
class NotInstalled:
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in {blocked!r}:
      raise ImportError(f"No module named {{name!r}} (not installed here)")
sys.meta_path.insert(0, NotInstalled())
from tools import bench_plan
from big_paligemma import config as config_lib
for arg in ("docvqa.py:res=224,model=pg2_3b", "gemma3_docvqa.py:res=896,model=gemma3_27b",
            "refcoco_seg.py:res=448,model=pg1_3b", "cococap.py:res=224,model=pg2_3b"):
  config_lib.load_config("configs/transfer/" + arg, [])
result = bench_plan.main(["--config", {config!r}, "--batch", "8", "--steps", "1", "--warmup", "0"])
print(json.dumps(dict(loss=result["measured"]["loss_first"],
                      loaded=sorted({{m.split(".")[0] for m in sys.modules}} & set({blocked!r})))))
"""


@pytest.mark.slow
def test_runs_where_only_jax_is_installed():
  """tools.bench_plan (tools.plan, the configs, the trainer's step, the evaluators' registry) in
  a process where TensorFlow, TFDS, grain and pycocoevalcap cannot be imported, as on the lent
  GPU machines."""
  script = JAX_ONLY.format(blocked=NOT_INSTALLED, config=CONFIG)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=REPO, timeout=600, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  last = json.loads(out.stdout.strip().splitlines()[-1])
  assert math.isfinite(last["loss"]) and last["loaded"] == []
