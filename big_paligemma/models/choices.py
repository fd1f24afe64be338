"""The spellings that SigLIP and Gemma configs share: dtypes and rematerialisation policies.

Dtypes are written as names ("float32", "bfloat16", "float16") for the compute `dtype` and the
storage `param_dtype` of both towers. Remat policies are "none" (no rematerialisation) or the name
of a `jax.checkpoint_policies` policy ("nothing_saveable" recomputes everything in the backward
pass, "dots_saveable" keeps the matmul outputs, ...), as in big_vision's configs.
"""
from typing import Any, Callable

import jax

DTYPES = ("float32", "bfloat16", "float16")
NO_REMAT = "none"
# Gemma's earlier names, refused with the name to write instead (no shipped config uses them).
_OLD_REMAT_NAMES = {"full": "nothing_saveable", "dots": "dots_saveable",
                    "dots_no_batch": "dots_with_no_batch_dims_saveable",
                    "everything": "everything_saveable"}


def remat_policy_names() -> tuple[str, ...]:
  """"none" and every `jax.checkpoint_policies` policy that takes no arguments (`*_saveable`)."""
  return (NO_REMAT,) + tuple(sorted(n for n in dir(jax.checkpoint_policies)
                                    if n.endswith("saveable")))


def remat_policy(name: str) -> Callable | None:
  """The jax policy of a checked name (None for "none")."""
  return None if name == NO_REMAT else getattr(jax.checkpoint_policies, name)


def check_remat_policy(owner: str, value: Any) -> None:
  """Raises a ValueError naming `owner`.remat_policy unless `value` is an allowed name."""
  if value in _OLD_REMAT_NAMES:
    raise ValueError(f"{owner}.remat_policy={value!r} is now written "
                     f"{_OLD_REMAT_NAMES[value]!r} (the jax.checkpoint_policies name).")
  if value not in remat_policy_names():
    raise ValueError(f"{owner}.remat_policy={value!r}; allowed: {remat_policy_names()}.")


def check_dtype(owner: str, key: str, value: Any) -> None:
  """Raises a ValueError naming `owner`.`key` unless `value` is one of DTYPES (a name)."""
  if isinstance(value, str) and value in DTYPES:
    return
  hint = ""
  try:
    name = jax.numpy.dtype(value).name
    if name in DTYPES:
      hint = f" write the name {name!r}"
  except TypeError:
    pass
  raise ValueError(f"{owner}.{key}={value!r}; allowed: {DTYPES}.{hint}")
