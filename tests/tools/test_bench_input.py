"""tools/bench_input: the measurement of one simulated host counts its own rows' records."""
from tools import bench_input


def test_one_host_of_four_reads_its_local_batch_a_step(tmp_path):
  path, image_bytes = bench_input.write_source(str(tmp_path), 40)
  assert image_bytes == 54 + 3 * 32**2  # BMP header + pixels
  steps = 12
  out = bench_input.measure("after", path, image_bytes, hosts=4, batch=16, steps=steps, warmup=2,
                            rev=bench_input.BEFORE_REV)
  # Reads in flight differ at the two ends by at most the prefetch buffer (2 local batches).
  assert out["local_batch"] == 4 and abs(out["counted_per_step"] - 4) <= 8 / steps
  assert abs(out["records_per_step"] - 4) <= 8 / steps + 0.5  # bytes read: its rows' images
  assert out["examples_per_s"] > 0
