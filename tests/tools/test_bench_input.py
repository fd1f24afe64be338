"""tools/bench_input: the measurement of one simulated host counts its own rows' records."""
from tools import bench_input


def test_one_host_of_four_reads_its_local_batch_a_step(tmp_path):
  path, image_bytes = bench_input.write_source(str(tmp_path), 40)
  assert image_bytes == 54 + 3 * 32**2  # BMP header + pixels
  out = bench_input.measure("after", path, image_bytes, hosts=4, batch=16, steps=6, warmup=2,
                            rev=bench_input.BEFORE_REV)
  assert out["local_batch"] == 4 and out["counted_per_step"] == 4
  assert out["records_per_step"] >= 4  # bytes read from files: the images, and nothing less
