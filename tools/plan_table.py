"""Every shipped transfer x model x published resolution on TPU v5e: the smallest slice that fits.

  python -m tools.plan_table                              # measure what configs/slices.json lacks
  python -m tools.plan_table --transfers docvqa,chartqa --models pg2_3b --res 224
  python -m tools.plan_table --write_docstrings           # the configs' "Slices" paragraphs
  python -m tools.plan_table --show                       # the table, as measured so far
  python -m tools.plan_table --write_benchmarks           # BENCHMARKS.md's counts and table

For each row (`configs/transfer/<transfer>.py:res=R,model=M`; Gemma 3's config with its three
sizes at 896) `tools.plan` compiles the trainer's own train step with libtpu's compiler for TPU
v5e slices, smallest first (SLICES: v5e-16, -32, -64, -128, -256), at the published batch, and
keeps the first slice where it FITS; `--decode` does the same for the evaluators' decode (prefill +
token loop at each eval's batch), from the row's train slice up, and adds the evaluation-only
transfers (pope). Rows that build the same program (train step: same model config, batch, text
length, image size, frozen towers, LoRA, optimizer, loss, mesh and sharding rules, `signature`;
decode: `decode_signature`) share one compile. Each result is written to configs/slices.json as
soon as it is known, so a killed run loses at most the compile in flight and the next run goes on
from there (a compile that killed the process is recorded as such, not retried); `--remeasure`
compiles the selected rows again.

  python -m tools.plan_table --res 896 --results /tmp/flash.json \
      --override model.overrides.img.attn_impl=flash --override model.overrides.llm.attn_impl=flash

measures the rows with overrides applied to every row's config (into a results file of their own:
the shipped table is of the configs as shipped).

The configs' docstrings name their slices in a paragraph that starts with "Slices (" (written by
`--write_docstrings` from configs/slices.json; tests/tools/test_plan_table.py keeps them equal).
"""
import argparse
import dataclasses
import datetime
import gc
import hashlib
import json
import math
import re
import signal
import sys
import textwrap
import time
from collections.abc import Sequence

import jax

from big_paligemma import config as config_lib
from big_paligemma import fs
from big_paligemma import sharding
from big_paligemma.models import attention
from big_paligemma.models import build
from configs import published
from tools import plan

RESULTS = fs.join(fs.dirname(fs.dirname(fs.abspath(__file__))), "configs", "slices.json")
TRANSFER_DIR = fs.join(fs.dirname(RESULTS), "transfer")
BENCHMARKS = fs.join(fs.dirname(fs.dirname(RESULTS)), "BENCHMARKS.md")
SLICES = ("v5e:4x4", "v5e:4x8", "v5e:8x8", "v5e:8x16", "v5e:16x16")
# Configs outside configs/published.py: their models and resolutions.
GEMMA3 = {"gemma3_docvqa": (("gemma3_4b", "gemma3_12b", "gemma3_27b"), (896,))}
PARAGRAPH = "Slices ("


@dataclasses.dataclass(frozen=True)
class Row:
  transfer: str
  model: str
  res: int

  @property
  def key(self) -> str:
    return f"{self.transfer}:{self.model}:{self.res}"

  @property
  def config(self) -> str:
    return f"configs/transfer/{self.transfer}.py:res={self.res},model={self.model}"


def rows(transfers: Sequence[str] = (), models: Sequence[str] = (),
         resolutions: Sequence[int] = (), decode: bool = False) -> list[Row]:
  """Every shipped transfer config x the models it offers x its published resolutions (an empty
  filter selects all); transfers with no training recipe (pope) only with `decode` (at the
  resolutions of their published scores)."""
  out = []
  for name, t in sorted(published.TRANSFERS.items()):
    ress = set(t.recipes) | {r for _, r in t.pg2_recipes}
    if not ress and decode:
      ress = {r for by_model in t.scores.values() for r in by_model}
    out += [Row(name, m, r) for m in published.MODELS for r in sorted(ress)]
  for name, (names, ress) in sorted(GEMMA3.items()):
    out += [Row(name, m, r) for m in names for r in ress]
  known = set(published.TRANSFERS) | set(GEMMA3)
  for name in transfers:
    if name not in known:
      raise SystemExit(f"error: --transfers {name!r}: no transfer config of that name; "
                       f"known: {', '.join(sorted(known))}.")
  return [r for r in out if (not transfers or r.transfer in transfers)
          and (not models or r.model in models) and (not resolutions or r.res in resolutions)]


def signature(config) -> str:
  """A hash of everything in `config` that shapes the compiled train step (not the data, the
  learning rate or the schedule's length: they change no shape and no buffer)."""
  shape = plan.batch_shape(config.input.pp, "config.input.pp")
  # The key counts the text tokens the model reads, one less than a training batch holds
  # (build.teacher_forcing): the batch's extra token column and the loss's extra position change
  # no buffer of note (+0.02-0.03 GiB a chip on the rows rerun, BENCHMARKS.md), so the rows
  # measured when the batch held only the model's tokens keep their key.
  shape = dataclasses.replace(shape, text_len=shape.text_len - 1)
  key = {"model": config.model.to_dict(), "batch": config.input.batch_size,
         "grad_accum": config.get("grad_accum", 1), "shape": dataclasses.asdict(shape),
         "frozen": config.optim.get("frozen"), "lora": config.get("lora"),
         "optax": (config.optim.optax_name, dict(config.optim.get("optax") or {})),
         "clip": config.optim.get("grad_clip_norm"), "loss": config.loss.to_dict(),
         "mesh": list(config.mesh), "rules": [list(r) for r in config.sharding_rules]}
  model = build.model_config(config, "tpu")
  img = model.img
  blocked = any(getattr(t, "attn_query_block", 0) for t in (img, getattr(model, "llm", None)))
  if blocked and (img.num_patches if img else 0) + shape.text_len > \
      attention.BLOCKWISE_MIN_QUERIES:
    # the program attends in query blocks (896; unless the config attends all queries at once)
    key["query_blocks"] = [attention.BLOCKWISE_MIN_QUERIES, attention.QUERY_BLOCK]
  text = json.dumps(key, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def decode_signature(config) -> str:
  """A hash of everything in `config` that shapes the evaluators' decode programs and what stays
  in HBM beside them: the evals, and the train step's `signature` (the model, the train state
  kept during evals, and the train mesh and slice the evals run on)."""
  evals = sorted((name, plan.batch_shape(ev.pp, name), ev.batch_size, ev.max_decode_len,
                  ev.get("sampler", "greedy")) for name, ev in (config.get("evals") or {}).items()
                 if ev.get("max_decode_len"))
  key = {"train": signature(config), "evals": [e[1:] for e in evals],
         "version": plan.DECODE_VERSION}
  text = json.dumps(key, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


KINDS = {"rows": "train step", "decode": "evals' decode"}


def load_results(path: str = RESULTS) -> dict:
  """{"rows": {row key: {"signature", "slice", ...}}, "decode": {...}} as measured so far."""
  if not fs.exists(path):
    return {"rows": {}, "decode": {}}
  results = json.loads(fs.read_text(path))
  results.setdefault("decode", {})
  return results


def save_results(results: dict, path: str = RESULTS) -> None:
  """Writes atomically (a temporary file renamed over the old one)."""
  fs.write_bytes(path, (json.dumps(results, indent=1, sort_keys=True) + "\n").encode())


def chips(topology: str) -> int:
  return math.prod(int(d) for d in topology.split(":")[1].split("x"))


def slice_name(topology: str) -> str:
  return f"v5e-{chips(topology)}"


def _entry(report: plan.Report | None, topology: str | None, tried: list[dict]) -> dict:
  entry = {"tried": tried, "date": datetime.date.today().isoformat(), "jax": jax.__version__}
  if report is None:
    return dict(entry, slice=None)
  return dict(entry, slice=topology, gib=round(report.total / plan.GIB, 2),
              params_gib=round(report.params / plan.GIB, 2),
              opt_gib=round(report.opt_state / plan.GIB, 2),
              temp_gib=round(report.temporaries / plan.GIB, 2),
              step_s=round(report.step_s, 3) if report.step_s else None,
              bounds_s={k: round(v, 3) for k, v in report.roofline.items()},
              mfu=round(report.mfu, 4) if report.mfu is not None else None,
              roofline=plan.ROOFLINE_VERSION, compile_s=round(report.compile_s, 1),
              mesh=report.mesh)


def current_roofline(entry: dict | None) -> bool:
  """Whether `entry`'s step time and MFU come from tools.plan's current HBM traffic count."""
  return bool(entry) and entry.get("roofline") == plan.ROOFLINE_VERSION


def batch_splits(config, chips_: int) -> bool:
  """Whether `config`'s (micro-)batch splits over the batch axes of its mesh on `chips_` chips:
  all of them, or, with an auto tensor axis (sharding.AUTO_MESH), those it leaves."""
  micro = config.input.batch_size // max(1, config.get("grad_accum", 1) or 1)
  if dict(config.mesh).get("tensor") == sharding.AUTO:
    return sharding.tensor_for_batch(chips_, micro) is not None
  return micro % chips_ == 0


def measure(config, topologies: dict, slices: Sequence[str] = SLICES) -> dict:
  """The smallest of `slices` where `config`'s train step fits, with its report's figures; a
  batch that does not divide over a slice's chips ends the search there (slice None)."""
  tried = []
  for name in slices:
    if not batch_splits(config, chips(name)):
      why = f"batch {config.input.batch_size} does not divide over {chips(name)} chips"
      tried.append({"slice": name, "fits": False, "why": why})
      return _entry(None, None, tried)
    if name not in topologies:
      topologies[name] = plan.topology(name)
    try:
      report = plan.plan_train(config, topologies[name])
    except ValueError as e:  # e.g. parameters that cannot shard over this mesh: a bug to fix
      tried.append({"slice": name, "fits": False, "error": str(e).strip()[:600]})
      return _entry(None, None, tried)
    tried.append({"slice": name, "fits": report.fits, "gib": round(report.total / plan.GIB, 2),
                  "compile_s": round(report.compile_s, 1)})
    report.hlo = ""
    if report.fits:
      return _entry(report, name, tried)
  return _entry(None, None, tried)


# The order in which models are measured (the smaller first: they are what most runs use).
MODEL_ORDER = ("pg2_3b", "pg1_3b", "pg2_10b", "gemma3_4b", "pg2_28b", "gemma3_12b", "gemma3_27b")


def measure_decode(config, topologies: dict, slices: Sequence[str] = SLICES) -> dict:
  """The smallest of `slices` where every decoding eval of `config` (prefill + token loop at the
  eval's batch size, tools.plan.plan_decode) fits, with the largest eval's figures."""
  tried = []
  for name in slices:
    if name not in topologies:
      topologies[name] = plan.topology(name)
    try:
      reports = plan.plan_decode(config, topologies[name])
    except (ValueError, RuntimeError) as e:  # e.g. an eval batch that does not divide
      tried.append({"slice": name, "fits": False, "why": str(e).strip().splitlines()[0][:200]})
      return _entry(None, None, tried)
    if not reports:
      return _entry(None, None, [{"slice": name, "fits": False, "why": "no decoding eval"}])
    worst = max(reports, key=lambda r: r.total)
    fits = all(r.fits for r in reports)
    tried.append({"slice": name, "fits": fits, "gib": round(worst.total / plan.GIB, 2),
                  "compile_s": round(sum(r.compile_s for r in reports), 1)})
    if fits:
      entry = _entry(worst, name, tried)
      entry["compile_s"] = tried[-1]["compile_s"]
      entry["evals"] = {r.what: round(r.total / plan.GIB, 2) for r in reports}
      return entry
  return _entry(None, None, tried)


def _order(todo: list[tuple[Row, object, str]]) -> list[tuple[Row, object, str]]:
  """First the largest program (batch x pixels and tokens) of each model and resolution, then the
  others; each pass by model (MODEL_ORDER) and largest first. A partial run so has, for every
  model and resolution, the row most likely to decide its slice."""
  def size(item):
    _, config, _ = item
    shape = plan.batch_shape(config.input.pp, "pp")
    return config.input.batch_size * (shape.text_len + shape.res**2 * max(1, shape.num_images))

  def rank(row):
    return MODEL_ORDER.index(row.model) if row.model in MODEL_ORDER else len(MODEL_ORDER)

  largest = {}
  for item in todo:
    group = (item[0].model, item[0].res)
    if group not in largest or size(item) > size(largest[group]):
      largest[group] = item
  firsts = {id(item) for item in largest.values()}
  return sorted(todo, key=lambda item: (id(item) not in firsts, rank(item[0]), -size(item)))


def run(selected: Sequence[Row], results: dict, remeasure: bool = False,
        path: str = RESULTS, out=None, kind: str = "rows", restat: bool = False,
        overrides: Sequence[tuple[str, str]] = ()) -> dict:
  """Measures (`kind` "rows": the train step; "decode": the evals' decode, from the row's train
  slice up) every row of `selected` whose signature has no result yet (all with `remeasure`;
  with `restat` also those whose roofline is of an older count, compiled again on their slice
  only), saving after each compile; prints progress with an ETA (to `out`, default stdout).
  overrides: (key, value) pairs applied to every row's config (`config.load_config`)."""
  out = out or sys.stdout
  table_ = results.setdefault(kind, {})
  sign = decode_signature if kind == "decode" else signature
  by_sig = {}  # measured programs (an error, e.g. a sharding bug since fixed, is tried again)
  stale = lambda e: restat and e.get("slice") and not current_roofline(e)  # noqa: E731
  for entry in table_.values():
    if not any(t.get("error") for t in entry.get("tried", ())) and not stale(entry):
      by_sig.setdefault(entry.get("signature"), entry)
  todo, done_now = [], set()
  for row in selected:
    config = config_lib.load_config(row.config, overrides)
    sig = sign(config)
    entry = table_.get(row.key)
    failed = entry and any(t.get("error") for t in entry.get("tried", ()))
    if (not remeasure and entry and entry.get("signature") == sig and not failed and
        not stale(entry)):
      continue
    if not remeasure and sig in by_sig:
      table_[row.key] = dict(by_sig[sig], same_as=by_sig[sig].get("same_as") or
                             _first_key(table_, sig))
      continue
    todo.append((row, config, sig))
  save_results(results, path)
  todo = _order(todo)
  unique = len({sig for _, _, sig in todo})
  print(f"{len(todo)} rows to measure ({unique} distinct programs of the {KINDS[kind]})",
        file=out, flush=True)
  topologies, start, measured = {}, time.perf_counter(), 0
  for row, config, sig in todo:
    if sig in done_now:
      table_[row.key] = dict(table_[_first_key(table_, sig)], same_as=_first_key(table_, sig))
      save_results(results, path)
      continue
    started = results.setdefault("in_flight", {})
    flight = f"{kind}:{row.key}" if kind != "rows" else row.key
    if flight in started and not remeasure:  # an earlier run died compiling it (memory?)
      entry = {"slice": None, "tried": [], "crashed": started.pop(flight),
               "date": datetime.date.today().isoformat(), "jax": jax.__version__}
    else:
      started[flight] = f"compile started {datetime.datetime.now():%Y-%m-%d %H:%M}, never ended"
      save_results(results, path)
      print(f"[{measured + 1}/{unique}] compiling {row.key} ({row.config}) ...", file=out,
            flush=True)
      try:
        old = table_.get(row.key)
        if kind == "decode":
          train = results["rows"].get(row.key, {}).get("slice")
          start_at = old["slice"] if old and stale(old) else train
          entry = measure_decode(config, topologies,
                                 SLICES[SLICES.index(start_at) if start_at else 0:])
        elif old and stale(old) and not remeasure:  # known to fit there and not below
          entry = measure(config, topologies, [old["slice"]])
          entry["tried"] = [t for t in old["tried"] if t["slice"] != old["slice"]] + entry["tried"]
        else:
          entry = measure(config, topologies)
      except KeyboardInterrupt:  # Ctrl-C or SIGTERM (main): not a crash; measured again next run
        started.pop(flight, None)
        save_results(results, path)
        print(f"interrupted while compiling {row.key}; the next run measures it again",
              file=out, flush=True)
        raise
      started.pop(flight, None)
    entry["signature"] = sig
    table_[row.key] = entry
    save_results(results, path)
    done_now.add(sig)
    measured += 1
    gc.collect()
    jax.clear_caches()
    elapsed = time.perf_counter() - start
    eta = elapsed / measured * (unique - measured)
    print(f"[{measured}/{unique}] {row.key}: {describe(entry)} "
          f"(elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min)", file=out, flush=True)
  return results


def _first_key(table_: dict, sig: str) -> str:
  return min(k for k, e in table_.items() if e.get("signature") == sig and not e.get("same_as"))


def describe(entry: dict) -> str:
  if entry.get("slice"):
    mfu = (f", MFU {100 * entry['mfu']:.1f}%" if entry.get("mfu") is not None and
           current_roofline(entry) else "")
    return f"{slice_name(entry['slice'])}, {entry['gib']:.2f} GiB a chip{mfu}"
  if entry.get("crashed"):
    return f"not measured: the process died in the compile ({entry['crashed']})"
  last = entry["tried"][-1] if entry.get("tried") else {}
  if last.get("error"):
    return f"error on {slice_name(last['slice'])}: {last['error'].splitlines()[0]}"
  return f"fits none of {', '.join(slice_name(t['slice']) for t in entry['tried'])}" + (
      f" ({last['why']})" if last.get("why") else "")


# ----------------------------------------------------------------------------- docstrings

def _where(entry: dict | None) -> str:
  if entry is None:
    return "not measured yet"
  if entry.get("slice"):
    return slice_name(entry["slice"])
  if not entry.get("tried"):
    return "not measured (the compile died)"
  if entry["tried"][-1].get("error"):
    return f"not measured (an error on {slice_name(entry['tried'][-1]['slice'])})"
  return f"not on {slice_name(entry['tried'][-1]['slice'])} or smaller"


def _by_res(mine: list[tuple[Row, dict | None]]) -> str:
  """"224: v5e-16 (pg1_3b 6.9, pg2_3b 7.6); v5e-64 (pg2_28b 13.2). 448: ..." """
  parts = []
  for res in sorted({r.res for r, _ in mine}):
    groups: dict[str, list[str]] = {}
    for r, e in mine:
      if r.res == res:
        gib = f" {e['gib']:.1f}" if e and e.get("slice") else ""
        groups.setdefault(_where(e), []).append(f"{r.model}{gib}")
    parts.append(f"{res}: " + "; ".join(f"{w} ({', '.join(m)})" for w, m in groups.items()))
  return ". ".join(parts)


def paragraph(transfer: str, results: dict, width: int = 100) -> str:
  """The "Slices (...)" paragraph of `transfer`'s docstring from `results`: the train step's
  slices, then the evals' decode's where measured (or where the transfer only evaluates)."""
  train = [(r, results["rows"].get(r.key)) for r in rows([transfer])]
  decode = [(r, results.get("decode", {}).get(r.key)) for r in rows([transfer], decode=True)]
  text = (f"{PARAGRAPH}`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB "
          "a chip; configs/slices.json): ")
  if train:
    text += "train step at the published batch, " + _by_res(train) + "."
  if not train or any(e for _, e in decode):
    text += (" " if train else "") + "Evals' decode at their batch, " + _by_res(decode) + "."
  return "\n".join(textwrap.wrap(text, width))


def docstring_paragraph(source: str) -> str | None:
  """The "Slices (" paragraph of a config's module docstring (to the next blank line or the
  docstring's end), None if it has none."""
  doc = re.match(r'\s*"""(.*?)"""', source, re.DOTALL)
  if not doc:
    return None
  match = re.search(r"^" + re.escape(PARAGRAPH) + r".*?(?=\n\s*\n|\Z)", doc.group(1),
                    re.DOTALL | re.MULTILINE)
  return match.group(0).rstrip() if match else None


def write_docstrings(results: dict, transfers: Sequence[str]) -> list[str]:
  """Writes the "Slices (" paragraph of each transfer's docstring (the docstring's last
  paragraph, after a blank line); returns the files changed."""
  changed = []
  for name in transfers:
    path = fs.join(TRANSFER_DIR, f"{name}.py")
    source = fs.read_text(path)
    new = paragraph(name, results)
    old = docstring_paragraph(source)
    if old == new and "\n\n" + new + "\n" in source:
      continue
    if old is not None:  # moved to the end, as its own paragraph
      source = re.sub(r"\n*" + re.escape(old), "", source, count=1)
    end = source.index('"""', source.index('"""') + 3)
    source = source[:end].rstrip("\n") + "\n\n" + new + "\n" + source[end:]
    fs.write_text(path, source)
    changed.append(path)
  return changed


def table(results: dict, selected: Sequence[Row]) -> str:
  """A markdown table of `selected` rows as measured."""
  lines = [("| transfer | model | res | smallest v5e slice | GiB per chip | step (roofline) | "
           "MFU (roofline) | compile | measured as | evals' decode |"),
           "|---|---|---|---|---|---|---|---|---|---|"]
  trained = set(rows())
  for r in selected:
    e = results["rows"].get(r.key)
    d = results.get("decode", {}).get(r.key)
    dec = f"{_where(d)}, {d['gib']:.2f} GiB" if d and d.get("slice") else _where(d)
    if e is None:
      what = "not measured" if r in trained else "evaluation only (no train step)"
      lines.append(f"| {r.transfer} | {r.model} | {r.res} | {what} | | | | | | {dec} |")
      continue
    step = f"{e['step_s']:.2f} s" if e.get("step_s") else ""
    if step and e.get("bounds_s"):
      step += f" ({max(e['bounds_s'], key=e['bounds_s'].get)} bound)"
    mfu = f"{100 * e['mfu']:.1f}%" if e.get("mfu") is not None else ""
    if e.get("slice") and not current_roofline(e):
      step, mfu = "(older count: --restat)", ""
    comp = f"{e['compile_s']:.0f} s" if e.get("compile_s") else ""
    where = slice_name(e["slice"]) if e.get("slice") else f"**none** ({describe(e)})"
    gib = f"{e['gib']:.2f}" if e.get("slice") else ""
    lines.append(f"| {r.transfer} | {r.model} | {r.res} | {where} | {gib} | {step} | {mfu} | "
                 f"{comp} | {e.get('same_as') or 'compiled'} | {dec} |")
  return "\n".join(lines)


def counts(results: dict) -> tuple[str, str]:
  """BENCHMARKS.md's two lines on how much of the table is measured: the train step's, then the
  evals' decode's."""
  train, decode = rows(), rows(decode=True)
  got = {r.key: results["rows"][r.key] for r in train if r.key in results["rows"]}
  compiled = sum(1 for e in got.values() if not e.get("same_as"))
  programs = len({e.get("signature") for e in got.values()})
  current = sum(1 for e in got.values() if e.get("slice") and current_roofline(e))
  line = (f"Measured so far: {len(got)} of {len(train)} rows ({compiled} compiles of the "
          f"{programs} distinct programs; the others share a measured row's program, column "
          f'"measured as"); {current} of them with the current roofline count (ROOFLINE_VERSION '
          f"{plan.ROOFLINE_VERSION}")
  line += ("; the others say \"older count\" until `python -m tools.plan_table --restat` "
           "compiles them again)." if current < len(got) else ").")
  dec = {r.key: results.get("decode", {})[r.key] for r in decode
         if r.key in results.get("decode", {})}
  fit = [k for k, e in dec.items() if e.get("slice")]
  above = [k for k in fit if results["rows"].get(k, {}).get("slice")
           and SLICES.index(dec[k]["slice"]) > SLICES.index(results["rows"][k]["slice"])]
  worst = max(fit, key=lambda k: dec[k]["gib"], default=None)
  line2 = (f"Evals' decode measured so far: {len(dec)} of {len(decode)} rows "
           f"({len({e.get('signature') for e in dec.values()})} distinct programs); "
           f"{len(fit)} fit")
  line2 += (f", {len(above)} of them only on a larger slice than the train step's "
            f"({', '.join(sorted(above))})" if above
            else ", none on a larger slice than its train step's")
  if worst:
    line2 += (f"; the most a chip: {worst}, {dec[worst]['gib']:.2f} GiB on "
              f"{slice_name(dec[worst]['slice'])}")
  missing = [k for k in dec if k not in fit]
  if missing:
    line2 += f"; {len(missing)} not measured or fitting none: {', '.join(sorted(missing))}"
  line2 += (". The rows that say \"not measured yet\" are measured by `python -m tools.plan_table "
            "--decode`, which goes on where it stopped." if len(dec) < len(decode) else ".")
  return line, line2


def benchmarks_text(text: str, results: dict) -> str:
  """`text` (BENCHMARKS.md) with its "Measured so far:" and "Evals' decode measured so far:"
  lines and its table of every row rewritten from `results`."""
  line, line2 = counts(results)
  out, lines, i = [], text.split("\n"), 0
  found = set()
  header = table(results, [])[:40]
  while i < len(lines):
    if lines[i].startswith("Measured so far:"):
      out.append(line)
      found.add("train")
    elif lines[i].startswith("Evals' decode measured so far:"):
      out.append(line2)
      found.add("decode")
    elif lines[i].startswith(header):
      while i < len(lines) and lines[i].startswith("|"):
        i += 1
      out.append(table(results, rows(decode=True)))
      found.add("table")
      continue
    else:
      out.append(lines[i])
    i += 1
  if found != {"train", "decode", "table"}:
    raise ValueError(f"BENCHMARKS.md lacks {sorted({'train', 'decode', 'table'} - found)}: the "
                     "lines that start 'Measured so far:' and \"Evals' decode measured so far:\" "
                     "and the table (header as tools.plan_table.table writes it)")
  return "\n".join(out)


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(prog="python -m tools.plan_table", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  split = lambda s: [x for x in s.split(",") if x]
  parser.add_argument("--transfers", type=split, default=[], help="comma-separated; all if unset")
  parser.add_argument("--models", type=split, default=[], help="comma-separated; all if unset")
  parser.add_argument("--res", type=lambda s: [int(x) for x in split(s)], default=[])
  parser.add_argument("--results", default=RESULTS)
  parser.add_argument("--remeasure", action="store_true")
  parser.add_argument("--restat", action="store_true",
                      help="also compile again, on their slice, the rows whose step time and "
                      "MFU come from an older HBM traffic count (tools.plan.ROOFLINE_VERSION)")
  parser.add_argument("--decode", action="store_true",
                      help="the evals' decode (from each row's train slice up) instead")
  parser.add_argument("--show", action="store_true", help="print the table; compile nothing")
  parser.add_argument("--write_docstrings", action="store_true",
                      help="rewrite the configs' Slices paragraphs; compile nothing")
  parser.add_argument("--write_benchmarks", action="store_true",
                      help="rewrite BENCHMARKS.md's counts and table; compile nothing")
  parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                      help="a config override for every row (e.g. model.overrides.llm."
                      "attn_impl=flash); repeatable; needs --results other than the shipped table")
  flags = parser.parse_args(sys.argv[1:] if argv is None else argv)
  overrides = []
  for item in flags.override:
    key, eq, value = item.partition("=")
    if not eq or not key:
      raise SystemExit(f"error: --override {item!r}: write KEY=VALUE, e.g. "
                       "model.overrides.llm.attn_impl=flash.")
    overrides.append((key.removeprefix("--").removeprefix("config."), value))
  if overrides and fs.abspath(flags.results) == fs.abspath(RESULTS) and not (
      flags.show or flags.write_docstrings or flags.write_benchmarks):
    raise SystemExit(f"error: --override measures configs as they are not shipped; give "
                     f"--results a file of their own (not {RESULTS}).")
  signal.signal(signal.SIGTERM, _interrupt)  # a preempted or killed job: as Ctrl-C
  selected = rows(flags.transfers, flags.models, flags.res, decode=flags.decode)
  results = load_results(flags.results)
  if flags.write_docstrings:
    names = sorted({r.transfer for r in rows(flags.transfers, decode=True)})
    for path in write_docstrings(results, names):
      print(f"wrote {path}")
    return results
  if flags.write_benchmarks:
    fs.write_text(BENCHMARKS, benchmarks_text(fs.read_text(BENCHMARKS), results))
    print(f"wrote {BENCHMARKS}")
    return results
  if not flags.show:
    results = run(selected, results, flags.remeasure, flags.results,
                  kind="decode" if flags.decode else "rows", restat=flags.restat,
                  overrides=overrides)
  print(table(results, selected))
  return results


if __name__ == "__main__":
  main()
