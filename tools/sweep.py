"""Runs a config's sweep: every member of its `get_hyper` with `trainers.train`, N at a time.

  python -m tools.sweep --config FILE[:args] --workdir_root DIR [--config.x=y ...]
      [--parallel N] [--only NAME_REGEX] [--dry_run | --launch]

A config file defines its sweep as big_vision's do:

  def get_hyper(hyper, arg=None):          # (`arg`: the config's argument string; optional)
    return hyper.product([hyper.sweep("res", [224, 448]),
                          hyper.sweep("config.optim.lr", [1e-5, 3e-5])])

`hyper.sweep(key, values)` is one axis; `product` and `zip` combine axes; `fixed(key, value)` is a
one-value axis. A key "config.a.b" overrides config.a.b (as --config.a.b=...); any other key is a
`get_config` argument (appended to the config's argument string). Each member runs in DIR/NAME,
NAME its values in order ("res=448,optim.lr=3e-05"), with its log in DIR/NAME/train.log and its
state in DIR/NAME/sweep.json (status running / done / failed, return code, command). Re-running
the same command skips members that are done and resumes the others from their checkpoints (the
trainer resumes by itself); a failed member is reported with its log's last lines and does not
stop the others. --dry_run prints the commands; --launch prints what every host of a multi-host
TPU pod runs per member (the same command on every host; hand them to your scheduler).
`python -m tools.sweep_results DIR` tabulates the results.
"""
import argparse
import concurrent.futures
import dataclasses
import importlib.util
import inspect
import itertools
import json
import re
import shlex
import subprocess
import sys
import time
from typing import Any, Sequence

from big_paligemma import config as config_lib
from big_paligemma import fs
import evaluators  # noqa: F401  (registers the evaluator types the members' evals name)

STATE_FILE = "sweep.json"  # in each member's folder
PLAN_FILE = "sweep_plan.json"  # in the workdir_root: the sweep's config and all its members
LOG_FILE = "train.log"


class SweepError(ValueError):
  """A sweep definition or option the tool cannot use (the message says what to change)."""


class Hyper:
  """The axis algebra `get_hyper` receives. A sweep is a list of members {key: value}."""

  @staticmethod
  def sweep(key: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    if not values:
      raise SweepError(f"hyper.sweep({key!r}, []) has no values.")
    return [{key: v} for v in values]

  @staticmethod
  def fixed(key: str, value: Any) -> list[dict[str, Any]]:
    return [{key: value}]

  @staticmethod
  def product(axes: Sequence[list[dict]]) -> list[dict[str, Any]]:
    return [_merge(combo) for combo in itertools.product(*axes)]

  @staticmethod
  def zip(axes: Sequence[list[dict]]) -> list[dict[str, Any]]:
    sizes = sorted({len(a) for a in axes})
    if len(sizes) > 1:
      raise SweepError(f"hyper.zip needs axes of one length; got lengths {sizes}.")
    return [_merge(combo) for combo in zip(*axes)]


def _merge(dicts) -> dict[str, Any]:
  out = {}
  for d in dicts:
    twice = sorted(set(out) & set(d))
    if twice:
      raise SweepError(f"sweep keys {twice} are set by two axes of one member.")
    out.update(d)
  return out


# ----------------------------------------------------------------------------- members

def _text(value: Any) -> str:
  """A value as a get_config argument / --config override reads it back (config.parse_value)."""
  text = value if isinstance(value, str) else repr(value)
  if isinstance(value, str) and config_lib.parse_value(value) != value:
    raise SweepError(f"sweep value {value!r} would read back as {config_lib.parse_value(value)!r}.")
  return text


@dataclasses.dataclass(frozen=True)
class Member:
  """One run of a sweep: its name, config argument string and overrides."""
  name: str
  values: dict[str, Any]
  config: str  # FILE.py[:args] with the member's arguments appended
  overrides: tuple[tuple[str, str], ...]  # (dotted key, value text): the base's, then the member's
  preset: str | None = None  # the member config's model preset (for the published scores)

  def command(self, workdir: str) -> list[str]:
    """The trainer command of this member in `workdir` (its own folder)."""
    return [sys.executable, "-m", "trainers.train", "--config", self.config, "--workdir",
            workdir] + [f"--config.{k}={v}" for k, v in self.overrides]


def member_name(values: dict[str, Any]) -> str:
  """"res=448,optim.lr=3e-05": each key (without "config.") = value, in the sweep's order."""
  name = ",".join(f"{k.removeprefix('config.')}={_text(v)}" for k, v in values.items())
  if not re.fullmatch(r"[A-Za-z0-9_.=,+\-]+", name):
    raise SweepError(f"member name {name!r} has characters unsafe in a path; use plain values.")
  return name


def members(spec: str, overrides: Sequence[tuple[str, str]] = ()) -> list[Member]:
  """The members of the sweep that the config file of `spec` defines (get_hyper)."""
  path, arg = config_lib.split_spec(spec)
  get_hyper = getattr(_load_module(path), "get_hyper", None)
  if get_hyper is None:
    raise SweepError(f"--config file {path!r} defines no get_hyper(hyper); see tools/sweep.py.")
  takes_arg = len(inspect.signature(get_hyper).parameters) > 1
  sweep = get_hyper(Hyper(), arg) if takes_arg else get_hyper(Hyper())
  out = []
  for values in sweep:
    args = [f"{k}={_text(v)}" for k, v in values.items() if not k.startswith("config.")]
    spec_m = f"{path}:{','.join(filter(None, [arg] + args))}" if (arg or args) else path
    member_overrides = tuple(overrides) + tuple(
        (k.removeprefix("config."), _text(v)) for k, v in values.items()
        if k.startswith("config."))
    # Every member must be a valid config before anything runs.
    config = config_lib.load_config(spec_m, member_overrides)
    out.append(Member(member_name(values), values, spec_m, member_overrides,
                      config.model.get("preset")))
  names = [m.name for m in out]
  if len(set(names)) != len(names):
    raise SweepError(f"get_hyper gives members with the same values: {sorted(names)}.")
  return out


def _load_module(path: str):
  module_spec = importlib.util.spec_from_file_location("_sweep_config", path)
  if module_spec is None:
    raise FileNotFoundError(f"--config file {path!r} does not exist.")
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


# ----------------------------------------------------------------------------- running

def read_state(workdir: str) -> dict[str, Any]:
  """The member's sweep.json ({} when it never started)."""
  path = fs.join(workdir, STATE_FILE)
  return json.loads(fs.read_text(path)) if fs.exists(path) else {}


def _write_state(workdir: str, state: dict[str, Any]) -> None:
  fs.write_text(fs.join(workdir, STATE_FILE), json.dumps(state, indent=1))


def log_tail(workdir: str, lines: int = 15) -> str:
  path = fs.join(workdir, LOG_FILE)
  return "\n".join(fs.read_text(path).splitlines()[-lines:]) if fs.exists(path) else ""


def run_member(member: Member, root: str, spec: str) -> dict[str, Any]:
  """Trains `member` in root/NAME (resuming its checkpoint), unless it is done; -> its state."""
  workdir = fs.join(root, member.name)
  state = read_state(workdir)
  if state.get("status") == "done":
    print(f"[sweep] {member.name}: done already, skipped.", flush=True)
    return state
  fs.makedirs(workdir)
  command = member.command(workdir)
  state = {"name": member.name, "values": member.values, "sweep_config": spec,
           "config": member.config, "overrides": dict(member.overrides),
           "command": shlex.join(command), "status": "running", "started": time.time(),
           "attempts": state.get("attempts", 0) + 1}
  _write_state(workdir, state)
  print(f"[sweep] {member.name}: started (log {fs.join(workdir, LOG_FILE)}).", flush=True)
  rc = _run(command, fs.join(workdir, LOG_FILE))
  state.update(status="done" if rc == 0 else "failed", rc=rc, ended=time.time())
  _write_state(workdir, state)
  if rc == 0:
    print(f"[sweep] {member.name}: done.", flush=True)
  else:
    print(f"[sweep] {member.name}: FAILED (rc {rc}); last lines of its log:\n"
          f"{log_tail(workdir)}", flush=True)
  return state


def _run(command: list[str], log_path: str) -> int:
  """Runs `command`, its output appended to `log_path` as it comes (local or gs://)."""
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):
    fs.append_bytes(log_path, chunk)
  return proc.wait()


def transfer_name(spec: str) -> str:
  """The config file's name: configs/transfer/docvqa.py:demo -> docvqa."""
  return fs.basename(config_lib.split_spec(spec)[0]).removesuffix(".py")


def write_plan(root: str, spec: str, all_members: list[Member]) -> None:
  """root/sweep_plan.json: the sweep's config and every member (tools.sweep_results lists those
  not started); a root that holds another sweep is refused."""
  path = fs.join(root, PLAN_FILE)
  if fs.exists(path):
    old = json.loads(fs.read_text(path))["sweep_config"]
    if old != spec:
      raise SweepError(f"--workdir_root {root!r} holds the sweep of {old!r}; give each sweep its "
                       f"own root (e.g. {fs.join(root, transfer_name(spec))}).")
  fs.makedirs(root)
  plan = {"sweep_config": spec, "transfer": transfer_name(spec),
          "members": {m.name: m.values for m in all_members},
          "presets": {m.name: m.preset for m in all_members}}
  fs.write_text(path, json.dumps(plan, indent=1))


def run_sweep(spec: str, root: str, overrides: Sequence[tuple[str, str]] = (),
              parallel: int = 1, only: str | None = None) -> list[dict[str, Any]]:
  """Runs every member (matching `only`), `parallel` at a time; -> their states."""
  all_members = members(spec, overrides)
  todo = select(all_members, only)
  write_plan(root, spec, all_members)
  with concurrent.futures.ThreadPoolExecutor(max(1, parallel)) as pool:
    states = list(pool.map(lambda m: run_member(m, root, spec), todo))
  failed = [s["name"] for s in states if s.get("status") != "done"]
  print(f"[sweep] {len(states) - len(failed)} of {len(states)} members done"
        + (f"; failed: {failed}" if failed else "."), flush=True)
  return states


def select(all_members: list[Member], only: str | None) -> list[Member]:
  if only is None:
    return all_members
  chosen = [m for m in all_members if re.search(only, m.name)]
  if not chosen:
    raise SweepError(f"--only {only!r} matches none of {[m.name for m in all_members]}.")
  return chosen


def launch_lines(member: Member, root: str) -> list[str]:
  """What every host of a multi-host pod runs for `member` (the same command on each host)."""
  command = ["python", "-m", "trainers.train", "--config", member.config, "--workdir",
             fs.join(root, member.name)] + [f"--config.{k}={v}" for k, v in member.overrides]
  return [f"# {member.name}: run on every host of the slice (e.g. gcloud compute tpus tpu-vm ssh "
          "SLICE --worker=all --command ...); jax.distributed finds the coordinator itself.",
          shlex.join(command)]


# ----------------------------------------------------------------------------- main

def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m tools.sweep", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", required=True, help="FILE.py[:args] defining get_hyper")
  parser.add_argument("--workdir_root", required=True, help="each member runs in DIR/NAME")
  parser.add_argument("--parallel", type=int, default=1, help="members run at once")
  parser.add_argument("--only", default=None, help="run only members whose name matches")
  mode = parser.add_mutually_exclusive_group()
  mode.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
  mode.add_argument("--launch", action="store_true",
                    help="print each member's multi-host pod command, run nothing")
  return parser


def main(argv=None) -> list[dict[str, Any]]:
  parser = _parser()
  args, rest = parser.parse_known_args(argv)
  try:
    overrides = config_lib.parse_overrides(rest)
    if args.dry_run or args.launch:
      for m in select(members(args.config, overrides), args.only):
        lines = (launch_lines(m, args.workdir_root) if args.launch else
                 [shlex.join(m.command(fs.join(args.workdir_root, m.name)))])
        print("\n".join(lines))
      return []
    states = run_sweep(args.config, args.workdir_root, overrides, args.parallel, args.only)
  except (SweepError, config_lib.ConfigError, FileNotFoundError) as e:
    parser.error(str(e))
  if any(s.get("status") != "done" for s in states):
    sys.exit(1)
  return states


if __name__ == "__main__":
  main()
