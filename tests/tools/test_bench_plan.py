"""tools/bench_plan: the planned train step run on the local devices (the CPU here), the search of
the largest batch that the plan says fits (against a stand-in compile, and against libtpu's v5e:2x2
compile), and the GPU's figures in tools/plan (cuBLAS matmuls in the HLO, HBM bandwidth)."""
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


def test_search_needs_a_memory_limit():
  """The CPU reports no memory limit: --search says to give the batch instead."""
  with pytest.raises(SystemExit, match="no memory limit"):
    bench_plan.main(["--config", CONFIG, "--search"])


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
from tools import bench_decode_device  # the other device benchmark
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
  """tools.bench_plan (tools.plan, the configs, the trainer's step, the evaluators' registry) and
  tools.bench_decode_device in a process where TensorFlow, TFDS, grain and pycocoevalcap cannot be imported, as on the lent
  GPU machines."""
  script = JAX_ONLY.format(blocked=NOT_INSTALLED, config=CONFIG)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=REPO, timeout=600, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  last = json.loads(out.stdout.strip().splitlines()[-1])
  assert math.isfinite(last["loss"]) and last["loaded"] == []
