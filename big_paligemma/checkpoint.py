"""Orbax save/restore of the whole train state, with exact resume and damaged-step fallback.

A checkpoint `workdir/<step>/` holds four items:
  state     the train-state pytree (params, optimizer state, step, rng key data), array by array;
  extra     a flat dict of small numpy arrays (e.g. the data iterator state as a uint8 array);
  metadata  a JSON-able dict;
  checksums {"state": {path: fingerprint}, "extra": {key: crc32}}, written at save.
Orbax writes each step to a temporary directory and renames it when complete, so a save killed
midway leaves the previous step as the latest one: the partial `<step>.orbax-checkpoint-tmp`
directory is ignored, and the next Checkpointer on the workdir deletes it (in the background,
finished before its first save). Nothing is pickled.

Damage (a truncated, zero-filled or missing file, an empty step folder, a missing `extra`, bad
JSON, a flipped bit): `restore_latest` tries the steps newest first; a step that does not restore
is reported (its path and the reason) and, once an older step has restored, moved aside to
`workdir/damaged/<step>` (kept, never deleted; orbax ignores the folder). If no step restores, the
error lists every step and why, and nothing is moved. A flipped bit that the files' own format
does not catch (an array rewritten consistently) is caught by the fingerprints: one uint32 per
array, sum over elements of bits x (2 x index + 1) mod 2**32, computed in a jit over the global
array (each process reduces its addressable shards, XLA sums over processes), so it is the same
whatever the sharding or process count. Any single flipped bit changes it. Steps saved before
checksums existed restore unverified.

`restore_params` restores only the `params` subtree of a saved train state (e.g. for `model_init`
from a run with another optimizer): the optimizer state is never read; the params are checked
against the saved checksums (DamagedCheckpointError), with no fallback to another step.

Typed PRNG keys cannot be saved: store `jax.random.key_data(key)` and re-wrap with
`jax.random.wrap_key_data` after restoring.
"""
import json
import zlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from big_paligemma import fs
from big_paligemma import tree as tree_lib

DAMAGED_DIR = "damaged"  # under the checkpoint directory: steps that did not restore, kept.
CHECKSUMS_FILE = "checksums.json"  # in <step>/checksums/


class DamagedCheckpointError(Exception):
  """Step `step` at `path` cannot be restored, because of `reason`."""

  def __init__(self, step: int, path: str, reason: str):
    super().__init__(f"checkpoint step {step} at {path} cannot be restored: {reason}")
    self.step, self.path, self.reason = step, path, reason


class NoRestorableCheckpointError(RuntimeError):
  """Every step of a checkpoint directory is damaged (the message lists each and why)."""


def _why(error: BaseException) -> str:
  """The first line of the innermost cause (tensorstore's, e.g. `OUT_OF_RANGE: ... file ...`,
  is the context of orbax's exception; json's inner StopIteration is not a cause)."""
  while True:
    inner = error.__cause__ or error.__context__
    if inner is None or isinstance(inner, StopIteration):
      break
    error = inner
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def _bits(x: jax.Array) -> jax.Array:
  """The raw bits of every element as uint32 (8-byte elements as two words on a new last axis)."""
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32)
  size = jnp.dtype(x.dtype).itemsize
  if size in (1, 2):
    narrow = jnp.uint8 if size == 1 else jnp.uint16
    return jax.lax.bitcast_convert_type(x, narrow).astype(jnp.uint32)
  if size in (4, 8):
    return jax.lax.bitcast_convert_type(x, jnp.uint32)
  raise ValueError(f"no fingerprint for dtype {x.dtype} (element size {size} bytes).")


def _fingerprint(x: jax.Array) -> jax.Array:
  """[] uint32: sum of bits x (2 x row-major index + 1) mod 2**32; no reshape, so a sharded array
  is reduced where it lies."""
  bits = _bits(jnp.asarray(x))
  index = jnp.zeros(bits.shape, jnp.uint32)
  for axis, n in enumerate(bits.shape):
    index = index * np.uint32(n) + jax.lax.broadcasted_iota(jnp.uint32, bits.shape, axis)
  return jnp.sum(bits * (index * np.uint32(2) + np.uint32(1)), dtype=jnp.uint32)


_fingerprints = jax.jit(lambda tree: jax.tree.map(_fingerprint, tree))


def fingerprints(tree: Any) -> dict[str, int]:
  """{slash path: uint32 fingerprint} of every array of `tree` (see the module docstring).
  Every process of a multi-process run must call it (it is one jit over the global arrays)."""
  values = jax.device_get(_fingerprints(tree))
  return {path: int(v) for path, v in tree_lib.flatten(values).items()}


def _crc(value: np.ndarray) -> int:
  return zlib.crc32(np.ascontiguousarray(value).tobytes())


def _check_no_typed_keys(state: Any) -> None:
  for path, leaf in tree_lib.flatten(state).items():
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key):
      raise ValueError(f"state leaf {path!r} is a typed PRNG key; save jax.random.key_data(key) "
                       "instead and re-wrap it with jax.random.wrap_key_data after restoring.")


def _shape_differences(saved: dict[str, tuple], expected: dict[str, tuple]) -> list[str]:
  rows = []
  for path in sorted(set(saved) | set(expected)):
    got, want = saved.get(path, "absent"), expected.get(path, "absent")
    if got != want:
      rows.append(f"{path}: saved {got}, expected {want}")
  return rows


def _handlers() -> dict[str, Any]:
  return {"state": ocp.StandardCheckpointHandler(), "extra": ocp.StandardCheckpointHandler(),
          "metadata": ocp.JsonCheckpointHandler(),
          "checksums": ocp.JsonCheckpointHandler(filename=CHECKSUMS_FILE)}


class Checkpointer:
  """Saves and restores train states under `workdir` with orbax's CheckpointManager.

  keep_last: how many of the newest steps to keep; keep_steps_every: also keep every step that is
  a multiple of this forever (None: none). async_save: save in a background thread (call
  `wait_until_finished` before reading the files or exiting).
  """

  def __init__(self, workdir: str, keep_last: int = 2, keep_steps_every: int | None = None,
               async_save: bool = True):
    if keep_last < 1:
      raise ValueError(f"keep_last={keep_last}: keep at least the newest step (>= 1).")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep_last, keep_period=keep_steps_every, create=True,
        enable_async_checkpointing=async_save, cleanup_tmp_directories=True)
    handlers = _handlers()
    # Restores read each item with its own handler: orbax's restore ends in a barrier that a
    # process which failed to read never reaches (its peers would wait there until a timeout).
    self._readers = _handlers()
    # orbax needs an absolute path (`--workdir workdir/run` is relative); gs:// stays as it is.
    self._manager = ocp.CheckpointManager(fs.abspath(workdir), options=options,
                                          item_handlers=handlers)

  def save(self, step: int, state: Any, extra: dict[str, np.ndarray] | None = None,
           metadata: dict[str, Any] | None = None) -> None:
    """Starts saving `state` (any pytree of arrays), `extra` and `metadata` as `step`.

    Returns once the arrays are copied off the devices, so `state` may be donated right after;
    the files are written in the background. In a multi-process run every process calls it.
    """
    _check_no_typed_keys(state)
    extra = {k: np.asarray(v) for k, v in (extra or {}).items()}
    checksums = {"state": fingerprints(state), "extra": {k: _crc(v) for k, v in extra.items()}}
    items = {"state": ocp.args.StandardSave(state), "metadata": ocp.args.JsonSave(metadata or {}),
             "checksums": ocp.args.JsonSave(checksums)}
    if extra:  # orbax refuses empty items; a step without `extra` restores it as {}.
      items["extra"] = ocp.args.StandardSave(extra)
    args = ocp.args.Composite(**items)
    if not self._manager.save(step, args=args, force=True):
      raise RuntimeError(f"orbax declined to save step {step} (already saved?).")

  def latest_step(self) -> int | None:
    """The newest complete step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def restore(self, target: Any, step: int | None = None, required_extra: Sequence[str] = ()
              ) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """Returns (state, extra, metadata) of `step` (default: the latest).

    `target` is the abstract state: a pytree of jax.ShapeDtypeStruct (with `sharding`, e.g. a
    NamedSharding on another mesh than the one that saved) or of arrays. A saved tree or shape
    that differs from it raises ValueError listing (path, saved shape, expected shape). A step
    that cannot be read, lacks one of `required_extra`, or whose arrays differ from the
    checksums saved with them raises DamagedCheckpointError (nothing is moved).
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}.")
    restored = self._read(step, target)
    self._verify(step, restored, required_extra)
    return restored["state"], restored["extra"], restored["metadata"]

  def _step_path(self, step: int) -> str:
    return str(self._manager.directory / str(step))

  def _read(self, step: int, target: Any) -> dict[str, Any]:
    """{item: restored} of step `step` (extra {} and checksums None where not saved); a read
    failure raises DamagedCheckpointError."""
    path = self._step_path(step)
    self._check_matches(step, path, target)
    step_dir = self._manager.directory / str(step)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    items = {"state": ocp.args.StandardRestore(abstract), "metadata": ocp.args.JsonRestore()}
    for name, arg in (("extra", ocp.args.StandardRestore), ("checksums", ocp.args.JsonRestore)):
      if (step_dir / name).exists():
        items[name] = arg()
    try:
      restored = {name: self._readers[name].restore(step_dir / name, args=arg)
                  for name, arg in items.items()}
    except Exception as e:  # pylint: disable=broad-except  (any read failure is damage)
      raise DamagedCheckpointError(step, path, _why(e)) from e
    return {"state": restored["state"], "metadata": dict(restored["metadata"] or {}),
            "extra": {k: np.asarray(v) for k, v in (restored.get("extra") or {}).items()},
            "checksums": restored.get("checksums")}

  def _verify(self, step: int, restored: dict[str, Any], required_extra: Sequence[str]) -> None:
    """Raises DamagedCheckpointError for a missing extra key or an array unlike its checksum.
    The fingerprints are computed first, so every process takes part in their jit."""
    checksums, extra = restored["checksums"] or {}, restored["extra"]
    bad = []
    if checksums.get("state"):
      got = fingerprints(restored["state"])
      bad = [p for p, v in checksums["state"].items() if got.get(p) != v]
    saved_extra = checksums.get("extra", {})
    missing = sorted((set(required_extra) | set(saved_extra)) - set(extra))
    if missing:
      raise DamagedCheckpointError(step, self._step_path(step),
                                   f"extra {missing} missing ({self._step_path(step)}/extra).")
    bad += [k for k, crc in saved_extra.items() if _crc(extra[k]) != crc]
    if bad:
      raise DamagedCheckpointError(step, self._step_path(step), f"the restored {sorted(bad)} "
                                   "differ from the checksums saved with them (flipped bits).")

  def restore_latest(self, target: Any, required_extra: Sequence[str] = ()
                     ) -> tuple[int, Any, dict[str, np.ndarray], dict[str, Any]] | None:
    """(step, state, extra, metadata) of the newest step that restores; None without any step.

    A damaged step is reported (a line with its path and the reason) and, once an older step
    has restored, moved to `<directory>/damaged/<step>`. If none restores:
    NoRestorableCheckpointError listing every step and why (nothing moved). Multi-process: a
    step counts as restored only if it restored on every process.
    """
    damaged = []
    for step in sorted(self.all_steps(), reverse=True):
      try:
        restored = self._restore_everywhere(target, step, required_extra)
      except DamagedCheckpointError as e:
        print(f"Checkpoint damaged, trying the previous step: {e}", flush=True)
        damaged.append(e)
        continue
      if damaged:
        self._move_aside(damaged)
      return step, restored["state"], restored["extra"], restored["metadata"]
    if damaged:
      raise NoRestorableCheckpointError(
          f"no checkpoint step in {self._manager.directory} restores:\n  " +
          "\n  ".join(f"step {e.step} ({e.path}): {e.reason}" for e in damaged) +
          "\nRestore the folder from a copy, or move it away to start the run from step 0.")
    return None

  def _restore_everywhere(self, target: Any, step: int, required_extra: Sequence[str]):
    """_read then _verify, each followed by the processes' agreement (a step that failed on one
    fails on all), so that every process reaches the fingerprints' jit or none does."""
    restored = self._on_every_process(step, lambda: self._read(step, target))
    self._on_every_process(step, lambda: self._verify(step, restored, required_extra))
    return restored

  def _on_every_process(self, step: int, fn):
    """fn(); a DamagedCheckpointError on any process raises one on every process."""
    error, result = None, None
    try:
      result = fn()
    except DamagedCheckpointError as e:
      error = e
    if jax.process_count() > 1:
      ok = multihost_utils.process_allgather(np.int32(error is None))
      if error is None and not ok.all():
        error = DamagedCheckpointError(step, self._step_path(step), f"process(es) "
                                       f"{np.flatnonzero(ok == 0).tolist()} could not restore it "
                                       "(see their log).")
    if error is not None:
      raise error
    return result

  def _move_aside(self, damaged: Sequence[DamagedCheckpointError]) -> None:
    """Moves each damaged step to <directory>/damaged/<step>[-n] (process 0), then every process
    re-lists the steps. Barriers before and after the re-listing: a process that lists the
    directory while process 0 moves a step out of it would find the step gone under it (orbax's
    reload stats every step it listed)."""
    if jax.process_index() == 0:
      aside = fs.join(str(self._manager.directory), DAMAGED_DIR)
      fs.makedirs(aside)
      taken = set(fs.listdir(aside)) if fs.isdir(aside) else set()  # gs:// has no empty folders
      for e in damaged:
        name, n = str(e.step), 1
        while name in taken:
          name, n = f"{e.step}-{n}", n + 1
        taken.add(name)
        fs.rename(e.path, fs.join(aside, name))
        print(f"Moved damaged checkpoint step {e.step} to {fs.join(aside, name)}.", flush=True)
    steps = "_".join(str(e.step) for e in damaged)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"checkpoint_move_aside_{steps}")
    for e in damaged:
      fs.forget_listings(e.path)
    self._manager.reload()
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"checkpoint_relisted_{steps}")

  def _check_matches(self, step: int, path: str, target: Any) -> None:
    try:
      saved = self._manager.item_metadata(step).state
    except Exception as e:  # pylint: disable=broad-except  (unreadable metadata is damage)
      raise DamagedCheckpointError(step, path, f"its metadata cannot be read ({_why(e)}).") from e
    if saved is None:
      raise DamagedCheckpointError(step, path, "it has no state.")
    saved_shapes = {p: tuple(m.shape) for p, m in tree_lib.flatten(saved).items()}
    want = {p: tuple(np.shape(x)) for p, x in tree_lib.flatten(target).items()}
    rows = _shape_differences(saved_shapes, want)
    if rows:
      raise ValueError(f"checkpoint step {step} in {self._manager.directory} does not match the "
                       "target state:\n  " + "\n  ".join(rows))

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
    for reader in self._readers.values():
      reader.close()


def _checkpoint_dir(path: str) -> str:
  """A run's workdir (holding ckpt/) -> its Checkpointer directory; else `path` itself."""
  sub = fs.join(path, "ckpt")
  return sub if fs.isdir(sub) else path


def _pick_step(directory: str, step: int | None) -> int:
  if not fs.isdir(directory):
    raise FileNotFoundError(f"{directory!r} is not a checkpoint directory or a run's workdir.")
  steps = sorted(int(d) for d in fs.listdir(directory) if d.isdigit())
  if not steps:
    raise FileNotFoundError(f"no complete checkpoint step in {directory!r}.")
  if step is None:
    return steps[-1]
  if step not in steps:
    raise FileNotFoundError(f"step {step} is not in {directory!r}; saved steps: {steps}.")
  return step


def _restore_args(leaf) -> ocp.ArrayRestoreArgs:
  sharding = getattr(leaf, "sharding", None)
  if sharding is None:
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return ocp.ArrayRestoreArgs(sharding=sharding, dtype=leaf.dtype)


def restore_params(path_or_workdir: str, abstract_params: Any, step: int | None = None) -> Any:
  """The `params` subtree of the train state saved at `step` (default: the latest), nothing else.

  path_or_workdir: a run's workdir (with ckpt/) or a Checkpointer directory. abstract_params: a
  tree of jax.ShapeDtypeStruct (with `sharding`; without one, the first device) or arrays; the
  restored arrays get its shardings and dtypes. A saved params tree or shape that differs raises
  ValueError listing (path, saved shape, expected shape); so does a LoRA run's state (its params
  are the frozen base).
  """
  directory = fs.abspath(_checkpoint_dir(path_or_workdir))
  step = _pick_step(directory, step)
  state_dir = fs.join(directory, str(step), "state")
  checkpointer = ocp.PyTreeCheckpointer()
  saved = checkpointer.metadata(state_dir).item_metadata
  if "params" not in saved:
    raise ValueError(f"the state of {state_dir!r} has no 'params' (has {sorted(saved)}).")
  if saved.get("lora"):
    raise ValueError(f"the state of {state_dir!r} holds LoRA adapters beside its (base) params; "
                     "restore the merged weights the run exported to its workdir/merged.")
  saved_shapes = {p: tuple(m.shape) for p, m in tree_lib.flatten(saved["params"]).items()}
  want = {p: tuple(np.shape(x)) for p, x in tree_lib.flatten(abstract_params).items()}
  rows = _shape_differences(saved_shapes, want)
  if rows:
    raise ValueError(f"the params of checkpoint step {step} in {directory} do not match the "
                     "target params:\n  " + "\n  ".join(rows))
  target = {"params": jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_params)}
  args = ocp.args.PyTreeRestore(target, restore_args=jax.tree.map(_restore_args, target),
                                partial_restore=True)
  params = checkpointer.restore(state_dir, args=args)["params"]
  _verify_params(fs.join(directory, str(step)), step, params)
  return params


def _verify_params(step_dir: str, step: int, params: Any) -> None:
  """Raises DamagedCheckpointError if `params` differ from the checksums saved with them."""
  file = fs.join(step_dir, "checksums", CHECKSUMS_FILE)
  if not fs.exists(file):
    return  # saved before checksums existed
  saved = json.loads(fs.read_text(file)).get("state", {})
  bad = [p for p, v in fingerprints(params).items() if saved.get(f"params/{p}", v) != v]
  if bad:
    raise DamagedCheckpointError(step, step_dir, f"the restored params {sorted(bad)} differ from "
                                 "the checksums saved with them (flipped bits).")
