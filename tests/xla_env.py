"""XLA_FLAGS of the test processes (tests/conftest.py and the tests that start processes of
another device count).

XLA:CPU's LLVM back end runs without optimisation unless XLA_FLAGS sets a level: the suite's tiny
programs compile in about half the CPU time (the tiny PaliGemma train step of
tests/trainers/test_train_smoke.py: 6 s instead of 13 s) and run ~1.4x slower, which costs them
less; results differ from the optimised build in the last bits only (XLA's HLO passes, fusion
included, are the same). libtpu's compiles (tools/plan's v5e tests) do not change with it.
"""
import os
import re

CPU_OPT_FLAG = "--xla_backend_optimization_level=0"


def xla_flags(device_count: int) -> str:
  """XLA_FLAGS for a process of `device_count` CPU devices: the user's flags, the back-end level
  above (theirs if they set one), the device count."""
  flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "",
                 os.environ.get("XLA_FLAGS", "")).split()
  if not any(f.startswith("--xla_backend_optimization_level=") for f in flags):
    flags.append(CPU_OPT_FLAG)
  return " ".join(flags + [f"--xla_force_host_platform_device_count={device_count}"])
