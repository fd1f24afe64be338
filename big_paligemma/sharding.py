"""Device mesh, parameter and activation sharding rules, multi-host start-up.

Mesh: a config list like `[("data", -1), ("fsdp", 1), ("tensor", 1)]`; -1 takes the remaining
devices; "auto" (AUTO_MESH, the configs' default) is the backend's choice: on CPU the "data" axis
takes every device, on accelerators the "fsdp" axis does (every parameter sharded over all devices,
as big_vision's transfers do; measured with `python -m tools.plan`), the other auto axes get 1;
given the parameters (make_mesh's `shardable`), the auto fsdp axis shrinks to the largest size
they all divide and the auto data axis takes the rest (e.g. fsdp 128 x data 2 on a v5e-256); given
the global batch (make_mesh's `batch_size`), an auto tensor axis takes the smallest factor of the
accelerators that the batch lacks to split over the rest (`tensor_for_batch`: batch 32 on a v5e-64
is fsdp 32 x tensor 2, the heads and MLP width split over the tensor pairs).

Parameter rules: `[(regex, tactic)]` over slash paths, first full match wins, and every parameter
must be matched (end the list with `(".*", "replicate")`). A tactic is one item or a tuple of items:
  "replicate"           no sharding;
  "fsdp"                shard the largest dimension (ties: the last one) that is not used by another
                        item and is divisible by the "fsdp" axis size over "fsdp";
  (axis, dim)           shard dimension `dim` (negative counts from the end) over mesh axis `axis`,
                        e.g. ("tensor", -1).
E.g. `(".*/q_einsum/w", (("tensor", -3), "fsdp"))`. Every dimension that does not divide by its axis
size is reported at once, with the parameter path and the fix.

Activations: logical axis names (BATCH, LENGTH, EMBED, HEADS, KV, MLP, VOCAB) map to mesh axes via
`LOGICAL_RULES`; `with_logical_constraint` works inside jit.

Multi-host agreement and failure: `AnyProcess` tells every process, at the same step, the largest
of a number each process holds (e.g. the signal that asked it to stop; an all-reduce dispatched
now, read one step later); `report_fatal` posts a process's fatal error to the coordinator's
key-value store and `watch_fatal` makes every other process print it and exit 1 instead of waiting
in a collective for the peer that died; `exit_fatal` ends a process with exit code 1, process 0 (the
coordinator's host) last, since jax aborts a process whose coordinator is gone.
"""
import contextlib
import contextvars
import logging
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from big_paligemma import tree as tree_lib

BATCH, LENGTH, EMBED, HEADS = "batch", "length", "embed", "heads"
KV, MLP, VOCAB = "kv", "mlp", "vocab"
LOGICAL_RULES: dict[str, tuple[str, ...]] = {
    BATCH: ("data", "fsdp"),
    LENGTH: (),
    EMBED: (),
    HEADS: ("tensor",),
    KV: (),
    MLP: ("tensor",),
    VOCAB: ("tensor",),
}
DEFAULT_MESH = (("data", -1), ("fsdp", 1), ("tensor", 1))
AUTO = "auto"
AUTO_MESH = (("data", AUTO), ("fsdp", AUTO), ("tensor", AUTO))


def _auto_size(name: str, platform: str) -> int:
  """The size of an "auto" mesh axis: the rest of the devices (-1) for "data" on CPU and for
  "fsdp" on accelerators, else 1."""
  takes_rest = "data" if platform == "cpu" else "fsdp"
  return -1 if name == takes_rest else 1


def tensor_for_batch(devices: int, batch_size: int) -> int | None:
  """The smallest t dividing `devices` such that `batch_size` splits over devices // t: what an
  auto tensor axis takes on accelerators (1 when the batch splits over them all; None: no t)."""
  return next((t for t in range(1, devices + 1)
               if devices % t == 0 and batch_size % (devices // t) == 0), None)


def make_mesh(mesh_spec: Sequence[tuple[str, int]] = DEFAULT_MESH,
              devices: Sequence[jax.Device] | None = None,
              shardable: Callable[[dict[str, int]], bool] | None = None,
              batch_size: int | None = None) -> Mesh:
  """A Mesh with the named axes of `mesh_spec`; one size may be -1 (the rest of the devices).

  batch_size: the global batch (per step of the optimizer's micro-batches). With it, an "auto"
  tensor axis on accelerators (AUTO_MESH) takes the smallest factor of the auto fsdp axis that
  the batch does not split over (`tensor_for_batch`; batch 32 on 64 chips: fsdp 32 x tensor 2),
  logged; else it is 1.
  shardable: whether the parameters shard over mesh axis sizes {name: size} (see
  `params_shard_over`). With it, an "auto" fsdp axis that takes all the accelerators (AUTO_MESH)
  shrinks to the largest divisor of its size over which every parameter has a dimension to shard,
  and an "auto" data axis takes the rest (e.g. SigLIP's 1152-wide weights on a 256-chip v5e: fsdp
  128 x data 2), logged; without it such parameters are an error (infer_param_shardings)."""
  devices = list(jax.devices() if devices is None else devices)
  names = [str(n) for n, _ in mesh_spec]
  sizes = [_auto_size(n, devices[0].platform) if s == AUTO else int(s) for n, s in mesh_spec]
  autos = {str(n) for n, s in mesh_spec if s == AUTO}
  if len(set(names)) != len(names):
    raise ValueError(f"mesh axis names must be unique, got {names}.")
  if sizes.count(-1) > 1 or any(s < 1 and s != -1 for s in sizes):
    raise ValueError(f"mesh sizes {dict(zip(names, sizes))}: use positive sizes and at most "
                     "one -1.")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh sizes {dict(zip(names, sizes))}: the fixed sizes multiply to "
                       f"{known}, which does not divide the {len(devices)} devices.")
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ValueError(f"mesh sizes {dict(zip(names, sizes))} multiply to {math.prod(sizes)}, but "
                     f"there are {len(devices)} devices; make them match or use -1 for one axis.")
  if batch_size and {"fsdp", "tensor"} <= autos and sizes[names.index("fsdp")] > 1:
    sizes = _fit_batch(names, sizes, batch_size)
  if shardable is not None and {"data", "fsdp"} <= autos and sizes[names.index("fsdp")] > 1:
    sizes = _fit_fsdp(names, sizes, shardable)
  auto = (jax.sharding.AxisType.Auto,) * len(names)
  return jax.make_mesh(tuple(sizes), tuple(names), axis_types=auto, devices=devices)


def _fit_batch(names: list[str], sizes: list[int], batch_size: int) -> list[int]:
  """`sizes` with the fsdp axis giving the tensor axis the factor that `batch_size` does not split
  over (unchanged if none does: check_batch_size then says what to do)."""
  f, t = names.index("fsdp"), names.index("tensor")
  ways = math.prod(sizes[names.index(a)] for a in LOGICAL_RULES[BATCH] if a in names)
  factor = tensor_for_batch(ways, batch_size)
  if factor is None or factor == 1 or sizes[f] % factor:
    return sizes
  trial = list(sizes)
  trial[f], trial[t] = sizes[f] // factor, sizes[t] * factor
  logging.warning("mesh: fsdp %d x tensor %d: the batch of %d does not split over %d devices "
                  "(set config.mesh to choose).", trial[f], trial[t], batch_size, ways)
  return trial


def _fit_fsdp(names: list[str], sizes: list[int], shardable) -> list[int]:
  """`sizes` with the fsdp axis at the largest divisor of its size over which the parameters
  shard (`shardable`), the data axis multiplied by the rest."""
  f, d = names.index("fsdp"), names.index("data")
  full = sizes[f]
  for size in sorted((k for k in range(1, full + 1) if full % k == 0), reverse=True):
    trial = list(sizes)
    trial[f], trial[d] = size, sizes[d] * full // size
    if shardable(dict(zip(names, trial))):
      if size != full:
        logging.warning("mesh: fsdp %d x data %d instead of fsdp %d: some parameters have no "
                        "dimension divisible by %d (set config.mesh to choose).", size,
                        trial[d], full, full)
      return trial
  return sizes


def params_shard_over(abstract_params: Any, rules: Sequence[tuple[str, Any]]):
  """A `make_mesh` `shardable`: whether every parameter of `abstract_params` gets a sharding
  under `rules` (infer_param_shardings, strict) over mesh axis sizes {name: size}."""
  flat = tree_lib.flatten(abstract_params)
  rules = [tuple(r) for r in rules]

  def shardable(axis_sizes: dict[str, int]) -> bool:
    mesh = _Sizes(axis_sizes)
    problems: list[str] = []
    for path, leaf in flat.items():
      tactic = tree_lib.first_match(path, rules, None)
      if tactic is not None:
        _param_spec(path, tuple(leaf.shape), tactic, mesh, True, problems)
    return not problems
  return shardable


class _Sizes:
  """A stand-in for a Mesh where only the axis sizes matter (`mesh.shape`)."""

  def __init__(self, shape: dict[str, int]):
    self.shape = shape


def _items(tactic: Any) -> list[Any]:
  if isinstance(tactic, str) or (isinstance(tactic, (tuple, list)) and len(tactic) == 2
                                 and isinstance(tactic[0], str) and isinstance(tactic[1], int)):
    return [tactic]
  return list(tactic)


def _param_spec(path: str, shape: tuple[int, ...], tactic: Any, mesh: Mesh, strict: bool,
                problems: list[str]) -> PartitionSpec:
  """The PartitionSpec of one parameter; appends any mismatch to `problems`."""
  axes: list[Any] = [None] * len(shape)
  want_fsdp = False
  for item in _items(tactic):
    if item == "replicate":
      continue
    if item == "fsdp":
      want_fsdp = True
      continue
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], int)):
      raise ValueError(f"sharding rule for {path!r}: unknown tactic item {item!r}; allowed: "
                       "'replicate', 'fsdp', (mesh_axis, dim).")
    axis, dim = item
    if axis not in mesh.shape:
      raise ValueError(f"sharding rule for {path!r}: mesh axis {axis!r} not in mesh "
                       f"{dict(mesh.shape)}.")
    if not -len(shape) <= dim < len(shape):
      raise ValueError(f"sharding rule for {path!r}: dim {dim} out of range for shape {shape}.")
    dim %= len(shape)
    if shape[dim] % mesh.shape[axis]:
      problems.append(f"{path}: dim {dim} of shape {shape} has size {shape[dim]}, not divisible by "
                      f"mesh axis {axis!r} of size {mesh.shape[axis]}. Fix: shard another dim, "
                      f"change the mesh, or replicate this parameter.")
    else:
      axes[dim] = axis if mesh.shape[axis] > 1 else None
  if want_fsdp:
    if "fsdp" not in mesh.shape:
      raise ValueError(f"sharding rule for {path!r} uses 'fsdp' but the mesh "
                       f"{dict(mesh.shape)} has no 'fsdp' axis.")
    n = mesh.shape["fsdp"]
    free = [d for d in range(len(shape)) if axes[d] is None and shape[d] % n == 0]
    if n > 1 and free:
      axes[max(free, key=lambda d: (shape[d], d))] = "fsdp"
    elif n > 1 and strict:
      problems.append(f"{path}: no free dim of shape {shape} is divisible by the fsdp axis size "
                      f"{n}. Fix: replicate it with an earlier rule, change the fsdp size, or pass "
                      "strict=False to replicate such parameters with a warning.")
    elif n > 1:
      logging.warning("%s: no free dim of shape %s divides by fsdp=%d; replicated.", path, shape, n)
  return PartitionSpec(*axes)


def infer_param_shardings(abstract_params: Any, rules: Sequence[tuple[str, Any]], mesh: Mesh,
                          strict: bool = True) -> Any:
  """A pytree of NamedSharding like `abstract_params` (arrays or ShapeDtypeStructs)."""
  rules = [tuple(r) for r in rules]
  tree_lib.check_rules_match(list(tree_lib.flatten(abstract_params)), [p for p, _ in rules],
                             "sharding rules")
  problems: list[str] = []

  def one(path, leaf):
    tactic = tree_lib.first_match(path, rules, None)
    if tactic is None:
      problems.append(f"{path}: matches no sharding rule. Fix: add a rule, e.g. "
                      "('.*', 'replicate') at the end.")
      return NamedSharding(mesh, PartitionSpec())
    return NamedSharding(mesh, _param_spec(path, tuple(leaf.shape), tactic, mesh, strict, problems))

  shardings = tree_lib.map_with_path(one, abstract_params)
  if problems:
    raise ValueError("Parameter sharding problems:\n  " + "\n  ".join(problems))
  return shardings


def shardings_like_params(abstract_tree: Any, abstract_params: Any, param_shardings: Any,
                          mesh: Mesh) -> Any:
  """Shardings for a tree holding per-parameter arrays, e.g. an optimizer state.

  A leaf whose slash path ends with a parameter's path and has that parameter's shape gets the
  parameter's sharding (e.g. `.../mu/llm/layers/mlp/linear`); every other leaf (step counters,
  factored statistics) is replicated.
  """
  shapes = {p: tuple(x.shape) for p, x in tree_lib.flatten(abstract_params).items()}
  by_path = tree_lib.flatten(param_shardings)

  def one(path, leaf):
    for ppath, sharding in by_path.items():
      if (path == ppath or path.endswith("/" + ppath)) and tuple(leaf.shape) == shapes[ppath]:
        return sharding
    return NamedSharding(mesh, PartitionSpec())

  return tree_lib.map_with_path(one, abstract_tree)


def with_shardings(abstract: Any, shardings: Any) -> Any:
  """jax.ShapeDtypeStructs of `abstract` (arrays or ShapeDtypeStructs) carrying `shardings` (a
  tree like it; None: `abstract` as it is)."""
  if shardings is None:
    return abstract
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract, shardings)


def logical_to_spec(logical_axes: Sequence[str | None], mesh_axis_names: Sequence[str]
                    ) -> PartitionSpec:
  """PartitionSpec for logical axis names; mesh axes absent from the mesh are dropped."""
  spec = []
  for name in logical_axes:
    if name is not None and name not in LOGICAL_RULES:
      raise ValueError(f"unknown logical axis {name!r}; known: {sorted(LOGICAL_RULES)}.")
    axes = tuple(a for a in LOGICAL_RULES.get(name, ()) if a in mesh_axis_names)
    spec.append(axes if len(axes) > 1 else axes[0] if axes else None)
  return PartitionSpec(*spec)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the mesh's data-parallel axes, the rest replicated."""
  return NamedSharding(mesh, logical_to_spec([BATCH], mesh.axis_names))


def check_batch_size(mesh: Mesh, batch_size: int, key: str) -> None:
  """Raises naming `key` unless the global `batch_size` splits evenly over the mesh's
  data-parallel axes (what `batch_sharding` lays the batch over)."""
  axes = [a for a in LOGICAL_RULES[BATCH] if a in mesh.axis_names]
  ways = math.prod(mesh.shape[a] for a in axes)
  if batch_size % ways:
    sizes = " x ".join(f"{a}={mesh.shape[a]}" for a in axes)
    raise ValueError(f"{key}={batch_size} does not split over the mesh's data-parallel axes "
                     f"({sizes} = {ways} ways); use a multiple of {ways} or a smaller mesh "
                     "(config.mesh).")


def mesh_for_batch(mesh: Mesh, batch_size: int, key: str) -> Mesh:
  """`mesh` if `batch_size` splits over its batch axes; else a mesh over the same devices whose
  fsdp axis gives the tensor axis the factor the batch lacks (an eval batch of 64 on a 128-chip
  fsdp mesh: fsdp 64 x tensor 2, each tensor group adjacent devices), logged. Raises naming `key`
  (check_batch_size) when neither splits it."""
  names = [str(n) for n in mesh.axis_names]
  sizes = [mesh.shape[n] for n in names]
  ways = math.prod(mesh.shape[a] for a in LOGICAL_RULES[BATCH] if a in names)
  if batch_size % ways == 0 or not {"fsdp", "tensor"} <= set(names):
    check_batch_size(mesh, batch_size, key)
    return mesh
  fitted = _fit_batch(names, sizes, batch_size)
  if fitted == sizes:
    check_batch_size(mesh, batch_size, key)
  new = Mesh(mesh.devices.reshape(fitted), tuple(names),
             axis_types=(jax.sharding.AxisType.Auto,) * len(names))
  check_batch_size(new, batch_size, key)
  return new


def _spec_on(spec: PartitionSpec, shape: Sequence[int], old: Mesh, mesh: Mesh) -> PartitionSpec:
  """`spec` (of an array of `shape` on `old`) on `mesh`. A dimension sharded over fsdp alone,
  where `mesh` took part of fsdp into tensor (`mesh_for_batch`) and the array has no other
  dimension on tensor, goes over ("fsdp", "tensor"): the same devices hold the same shards (the
  mesh is a reshape of the old one), so nothing moves and nothing is replicated. A dimension whose
  new axis sizes do not divide it is replicated instead."""
  entries = tuple(spec) + (None,) * (len(shape) - len(spec))
  names = [() if a is None else (a,) if isinstance(a, str) else tuple(a) for a in entries]
  uses_tensor = any("tensor" in n for n in names)
  split = ("fsdp" in mesh.shape and "tensor" in mesh.shape and "fsdp" in old.shape and
           mesh.shape["fsdp"] * mesh.shape["tensor"] == old.shape["fsdp"] * old.shape.get(
               "tensor", 1) and mesh.shape["fsdp"] < old.shape["fsdp"])
  out = []
  for dim, axes in enumerate(names):
    if split and axes == ("fsdp",) and not uses_tensor:
      axes = ("fsdp", "tensor")
    ways = math.prod(mesh.shape[a] for a in axes)
    if not axes or shape[dim] % ways:
      out.append(None)
    else:
      out.append(axes[0] if len(axes) == 1 else axes)
  return PartitionSpec(*out)


def onto_mesh(tree: Any, mesh: Mesh) -> Any:
  """`tree`'s arrays (or ShapeDtypeStructs) with NamedShardings moved onto `mesh` (another mesh
  over the same devices, e.g. `mesh_for_batch`'s), each with its PartitionSpec carried over
  (`_spec_on`: FSDP shards stay where they are); other leaves and those already on `mesh` are
  unchanged."""
  def moves(leaf) -> bool:
    old = getattr(leaf, "sharding", None)
    return isinstance(old, NamedSharding) and old.mesh != mesh

  def target(leaf):
    return NamedSharding(mesh, _spec_on(leaf.sharding.spec, leaf.shape, leaf.sharding.mesh, mesh))

  leaves, treedef = jax.tree.flatten(tree)
  arrays = [i for i, leaf in enumerate(leaves) if moves(leaf) and isinstance(leaf, jax.Array)]
  if arrays:  # one program for all of them (a jit, so that every process of a pod takes part)
    moved = jax.jit(lambda xs: xs, out_shardings=[target(leaves[i]) for i in arrays])(
        [leaves[i] for i in arrays])
    for i, array in zip(arrays, moved):
      leaves[i] = array
  for i, leaf in enumerate(leaves):
    if moves(leaf) and isinstance(leaf, jax.ShapeDtypeStruct):
      leaves[i] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=target(leaf))
  return jax.tree.unflatten(treedef, leaves)


_ACTIVATION_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar(
    "activation_mesh", default=None)


@contextlib.contextmanager
def activation_mesh(mesh: Mesh | None):
  """Within it, tracing a model constrains its activations (`with_logical_constraint` without a
  mesh) on `mesh`: the trainer traces its step in it, so the batch axis of the residual streams
  stays sharded over the mesh's batch axes instead of following the FSDP-sharded weights (which
  all-gathers whole-batch activations). Outside it (decoding, single-device use) the models'
  constraints do nothing unless `jax.set_mesh` set a mesh."""
  token = _ACTIVATION_MESH.set(mesh)
  try:
    yield
  finally:
    _ACTIVATION_MESH.reset(token)


def split_vocab(project: Callable[[jax.Array], jax.Array], h: jax.Array,
                mesh: Mesh | None) -> jax.Array:
  """`project(h)` (h [B,T,D] -> [B,T,V], a projection onto a vocabulary-sharded embedding) for a
  few rows, as decoding needs: h replicated on every device and the output's vocabulary axis
  split over the mesh's batch axes, so each device projects onto its own slice of the table and
  none gathers the whole table (PaliGemma 2 10B: 1.72 GiB a chip, twice); returned on the batch
  axes. The models' own constraints are off inside (they would ask for the rows on the batch
  axes). mesh None: `project(h)`."""
  if mesh is None:
    return project(h)
  axes = tuple(a for a in LOGICAL_RULES[BATCH] if a in mesh.axis_names)
  with activation_mesh(None):
    out = project(jax.lax.with_sharding_constraint(h, NamedSharding(mesh, PartitionSpec())))
    out = jax.lax.with_sharding_constraint(
        out, NamedSharding(mesh, PartitionSpec(*(None,) * (out.ndim - 1), axes)))
  return with_logical_constraint(out, (BATCH,) + (None,) * (out.ndim - 1), mesh)


def constrain_batch(x: jax.Array) -> jax.Array:
  """`x` [B, ...] constrained to the batch axes on its first axis (see `activation_mesh`)."""
  return with_logical_constraint(x, (BATCH,) + (None,) * (x.ndim - 1))


def with_logical_constraint(x: jax.Array, logical_axes: Sequence[str | None],
                            mesh: Mesh | None = None) -> jax.Array:
  """`with_sharding_constraint` by logical axis names. The mesh is `mesh`, else the one of
  `activation_mesh`, else the one set with `jax.set_mesh`; with none (single-device use of a
  model) `x` is returned unchanged."""
  if len(logical_axes) != x.ndim:
    raise ValueError(f"logical axes {tuple(logical_axes)} do not match the shape {x.shape}.")
  if mesh is None:
    mesh = _ACTIVATION_MESH.get()
  if mesh is None:
    abstract = jax.sharding.get_abstract_mesh()
    if abstract.empty:
      return x
    return jax.lax.with_sharding_constraint(x, logical_to_spec(logical_axes, abstract.axis_names))
  spec = logical_to_spec(logical_axes, mesh.axis_names)
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
  """Starts jax.distributed for multi-process runs; returns whether it did.

  Arguments default to the environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
  JAX_PROCESS_ID. Without a coordinator address, or with one process, it is a no-op (single
  process). On CPU the cross-process collectives are gloo (jax's default).
  """
  env = os.environ
  coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
  if num_processes is None and env.get("JAX_NUM_PROCESSES"):
    num_processes = int(env["JAX_NUM_PROCESSES"])
  if process_id is None and env.get("JAX_PROCESS_ID"):
    process_id = int(env["JAX_PROCESS_ID"])
  if not coordinator_address or num_processes == 1:
    return False
  if num_processes is None or process_id is None:
    raise ValueError(f"coordinator_address={coordinator_address!r} needs num_processes and "
                     f"process_id too (got {num_processes!r}, {process_id!r}); pass them or set "
                     "JAX_NUM_PROCESSES and JAX_PROCESS_ID.")
  jax.distributed.initialize(coordinator_address, num_processes, process_id)
  return True


def global_array(host_value: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global jax.Array from a value every process holds in full (e.g. a freshly built param)."""
  host_value = np.asarray(host_value)
  return jax.make_array_from_callback(host_value.shape, sharding, lambda idx: host_value[idx])


# ----------------------------------------------------------------------------- multi-host agreement

class AnyProcess:
  """max over processes of an int that each process holds, agreed by all at the same call.

  `__call__(value)` dispatches the all-reduce and returns what the previous call agreed on (None on
  the first call): the host never waits on it, yet every process gets the same answer from the
  same call, since all make the calls in the same order. One process: `value` itself, at once.
  """

  def __init__(self):
    self._pending = None
    if jax.process_count() > 1:
      mesh = Mesh(np.array(jax.devices()), ("processes",))
      self._in = NamedSharding(mesh, PartitionSpec("processes"))
      self._max = jax.jit(jnp.max, out_shardings=NamedSharding(mesh, PartitionSpec()))

  def __call__(self, value: int) -> int | None:
    if jax.process_count() == 1:
      return int(value)
    local = np.full(jax.local_device_count(), value, np.int32)
    agreed = self._max(jax.make_array_from_process_local_data(self._in, local))
    previous, self._pending = self._pending, agreed
    return None if previous is None else int(np.asarray(previous.addressable_data(0)))


# ----------------------------------------------------------------------------- fatal errors

_FATAL_DIR = "big_paligemma/fatal/"  # process i's error message
_SEEN_DIR = "big_paligemma/fatal_seen/"  # process i printed a peer's error
_DONE_DIR = "big_paligemma/fatal_done/"  # process i (not 0) is about to exit


def _client():
  """jax.distributed's coordinator client, or None in a single-process run."""
  from jax._src import distributed  # pylint: disable=import-outside-toplevel  (no public API)
  client = distributed.global_state.client
  return client if client is not None and jax.process_count() > 1 else None


def report_fatal(message: str, wait_s: float = 20.0) -> None:
  """Posts this process's fatal error for every other process's `watch_fatal` to print.

  Waits (at most `wait_s`) until each other process has printed it. No-op in a single-process run
  or if the coordinator is gone. End the process with `exit_fatal` after it.
  """
  client = _client()
  if client is None:
    return
  me = jax.process_index()
  try:
    client.key_value_set(f"{_FATAL_DIR}{me}", message)
  except Exception as e:  # noqa: BLE001  (the coordinator went first)
    print(f"Process {me}: could not post the error to the other processes: {e}", file=sys.stderr,
          flush=True)
    return
  if not _wait_for(client, _SEEN_DIR, wait_s):
    print(f"Process {me}: after {wait_s:.0f} s, not every other process had printed the error.",
          file=sys.stderr, flush=True)


def _wait_for(client, directory: str, wait_s: float) -> bool:
  """Whether every other process set its key in `directory` of the store within `wait_s`."""
  deadline = time.monotonic() + wait_s
  while time.monotonic() < deadline:
    try:
      if len(client.key_value_dir_get(directory)) >= jax.process_count() - 1:
        return True
    except Exception:  # noqa: BLE001  (the store is gone)
      return False
    time.sleep(0.2)
  return False


def exit_fatal(wait_s: float = 30.0, grace_s: float = 1.0) -> None:
  """Ends this process with exit code 1 at once (no interpreter teardown), process 0 last.

  Process 0 hosts the coordinator: once it exits, jax's client in every process still running
  aborts that process (SIGABRT, "Terminating process because the JAX distributed service detected
  fatal errors"). So another process marks that it is exiting and exits; process 0 waits (at most
  `wait_s`) until every other process has, then `grace_s` more (for their exits to complete), and
  exits. One process: exits at once.
  """
  sys.stdout.flush()
  sys.stderr.flush()
  client = _client()
  if client is not None:
    me = jax.process_index()
    if me:
      # Fails if this process's other thread set it already, or the store is gone: fine.
      with contextlib.suppress(Exception):
        client.key_value_set(f"{_DONE_DIR}{me}", "1")
    elif _wait_for(client, _DONE_DIR, wait_s):
      time.sleep(grace_s)
  os._exit(1)  # pylint: disable=protected-access


def watch_fatal(poll_s: float = 0.5, gone_s: float = 60.0) -> threading.Thread | None:
  """Starts a daemon thread that, once another process has posted a fatal error (report_fatal),
  prints it and ends this process with exit code 1 (`exit_fatal`; its main thread may sit in a
  collective waiting for the failed peer). Returns the thread; None in a single-process run.

  A failed read of the store is retried: on a loaded host a call can time out while the run goes
  on, and a watcher that stopped there would leave this process waiting in a collective for a
  peer that died. It stops after `gone_s` seconds of failed reads (the coordinator is gone; jax's
  own client then ends this process)."""
  client = _client()
  if client is None:
    return None
  me = jax.process_index()

  def watch():
    failing_since = None
    while True:
      try:
        posted = [(k, v) for k, v in client.key_value_dir_get(_FATAL_DIR)
                  if k.rsplit("/", 1)[-1] != str(me)]
        failing_since = None
      except Exception as e:  # noqa: BLE001  (retried; see the docstring)
        failing_since = failing_since or time.monotonic()
        if time.monotonic() - failing_since > gone_s:
          print(f"Process {me}: stopped watching for other processes' errors after {gone_s:.0f} s "
                f"of failed reads of the coordinator's store: {e}", file=sys.stderr, flush=True)
          return
        posted = []
      if posted:
        key, message = posted[0]
        print(f"Process {me} stops: process {key.rsplit('/', 1)[-1]} of {jax.process_count()} "
              f"failed with:\n{message}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):  # the store may be gone
          client.key_value_set(f"{_SEEN_DIR}{me}", "1")
        exit_fatal()  # the main thread may be in a collective
      time.sleep(poll_s)

  thread = threading.Thread(target=watch, name="watch_fatal", daemon=True)
  thread.start()
  return thread
