"""tools/bench_input: the measurement of one simulated host counts its own rows' records, and the
tool runs a pipeline of the git history beside this checkout's."""
import json

from tools import bench_input


def test_one_host_of_four_reads_its_local_batch_a_step(tmp_path):
  path, image_bytes = bench_input.write_source(str(tmp_path), 40)
  assert image_bytes == 54 + 3 * 32**2  # BMP header + pixels
  steps = 12
  out = bench_input.measure(path, image_bytes, hosts=4, batch=16, steps=steps, warmup=2)
  # Reads in flight differ at the two ends by at most the prefetch buffer (2 local batches).
  assert out["local_batch"] == 4 and abs(out["counted_per_step"] - 4) <= 8 / steps + 1e-9
  assert abs(out["records_per_step"] - 4) <= 8 / steps + 0.5  # bytes read: its rows' images
  assert out["examples_per_s"] > 0


def test_the_tf_data_pipeline_before_grain_reads_the_whole_global_batch(capsys):
  bench_input.main(["--hosts", "2", "--batch", "8", "--steps", "10", "--warmup", "2",
                    "--examples", "48", "--json"])
  (trial,) = json.loads(capsys.readouterr().out)
  before, now = trial[bench_input.BEFORE_REV], trial["now"]
  assert before["local_batch"] == now["local_batch"] == 4
  # Every host reads every row before; now its 4 (the ends differ by reads in flight).
  assert before["records_per_step"] >= 6.5
  assert abs(now["counted_per_step"] - 4) <= 0.8 and abs(now["records_per_step"] - 4) <= 1.3
