"""Orbax save/restore of the whole train state, with exact resume.

A checkpoint `workdir/<step>/` holds three items:
  state     the train-state pytree (params, optimizer state, step, rng key data), array by array;
  extra     a flat dict of small numpy arrays (e.g. the data iterator state as a uint8 array);
  metadata  a JSON-able dict.
Orbax writes each step to a temporary directory and renames it when complete, so a save killed
midway leaves the previous step as the latest one: the partial `<step>.orbax-checkpoint-tmp`
directory is ignored, and the next Checkpointer on the workdir deletes it (in the background,
finished before its first save). Nothing is pickled.

`restore_params` restores only the `params` subtree of a saved train state (e.g. for `model_init`
from a run with another optimizer): the optimizer state is never read.

Typed PRNG keys cannot be saved: store `jax.random.key_data(key)` and re-wrap with
`jax.random.wrap_key_data` after restoring.
"""
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from big_paligemma import fs
from big_paligemma import tree as tree_lib


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


class Checkpointer:
  """Saves and restores train states under `workdir` with orbax's CheckpointManager.

  keep_last: how many of the newest steps to keep; keep_steps_every: also keep every step that is
  a multiple of this forever (None: none). async_save: save in a background thread (call
  `wait_until_finished` before reading the files or exiting).
  """

  def __init__(self, workdir: str, keep_last: int = 2, keep_steps_every: int | None = None,
               async_save: bool = True):
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep_last, keep_period=keep_steps_every, create=True,
        enable_async_checkpointing=async_save, cleanup_tmp_directories=True)
    handlers = {"state": ocp.StandardCheckpointHandler(), "extra": ocp.StandardCheckpointHandler(),
                "metadata": ocp.JsonCheckpointHandler()}
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
    items = {"state": ocp.args.StandardSave(state), "metadata": ocp.args.JsonSave(metadata or {})}
    if extra:  # orbax refuses empty items; a step without `extra` restores it as {}.
      items["extra"] = ocp.args.StandardSave({k: np.asarray(v) for k, v in extra.items()})
    args = ocp.args.Composite(**items)
    if not self._manager.save(step, args=args, force=True):
      raise RuntimeError(f"orbax declined to save step {step} (already saved?).")

  def latest_step(self) -> int | None:
    """The newest complete step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def restore(self, target: Any, step: int | None = None
              ) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """Returns (state, extra, metadata) of `step` (default: the latest).

    `target` is the abstract state: a pytree of jax.ShapeDtypeStruct (with `sharding`, e.g. a
    NamedSharding on another mesh than the one that saved) or of arrays. A saved tree or shape
    that differs from it raises ValueError listing (path, saved shape, expected shape).
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}.")
    self._check_matches(step, target)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    items = {"state": ocp.args.StandardRestore(abstract), "metadata": ocp.args.JsonRestore()}
    if (self._manager.directory / str(step) / "extra").exists():
      items["extra"] = ocp.args.StandardRestore()
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    extra = {k: np.asarray(v) for k, v in (restored.get("extra") or {}).items()}
    return restored.state, extra, dict(restored.metadata or {})

  def _check_matches(self, step: int, target: Any) -> None:
    saved = self._manager.item_metadata(step).state
    if saved is None:
      raise FileNotFoundError(f"checkpoint step {step} in {self._manager.directory} has no state.")
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
  return checkpointer.restore(state_dir, args=args)["params"]
