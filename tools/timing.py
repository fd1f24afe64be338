"""Timing of jitted calls for the benchmark tools."""
import time

import jax


def call_times(fn, args, reps: int) -> list[float]:
  """Seconds of `reps` calls of fn(*args) (each waited for), after one untimed warm-up call."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return times
