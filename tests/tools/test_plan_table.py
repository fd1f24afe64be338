"""tools/plan_table: the rows (every trained transfer config x model x published resolution), one
compile per distinct program, the slice search, resuming after a kill, the docstring paragraphs.
The compiles are stood in for (tools/plan's own compile is tested in test_plan.py)."""
import ast
import os
import shutil

import pytest

from big_paligemma import config as config_lib
from big_paligemma.models import attention
from configs import published
from tools import plan, plan_table

GIB = plan.GIB


def test_rows_are_every_trained_transfer_config_and_model_at_its_resolutions():
  rows = plan_table.rows()
  configs = {f[:-3] for f in os.listdir(plan_table.TRANSFER_DIR)
             if f.endswith(".py") and f != "__init__.py"}
  eval_only = {n for n, t in published.TRANSFERS.items() if not t.recipes}
  assert eval_only == {"pope"}
  assert {r.transfer for r in rows} == configs - eval_only
  docvqa = {(r.model, r.res) for r in rows if r.transfer == "docvqa"}
  assert docvqa == {(m, res) for m in published.MODELS for res in (224, 448, 896)}
  assert {(r.model, r.res) for r in rows if r.transfer == "gemma3_docvqa"} == {
      ("gemma3_4b", 896), ("gemma3_12b", 896), ("gemma3_27b", 896)}
  assert len({r.key for r in rows}) == len(rows)
  with pytest.raises(SystemExit, match="'docvqq'.*known: .*docvqa"):
    plan_table.rows(["docvqq"])


def _signature(arg: str) -> str:
  return plan_table.signature(config_lib.load_config(f"configs/transfer/{arg}", []))


def test_the_signature_changes_with_the_program_not_with_the_learning_rate():
  # docvqa and textvqa differ in data, prompt, lr and epochs, not in the compiled step.
  same = _signature("docvqa.py:res=224,model=pg2_3b")
  assert same == _signature("textvqa.py:res=224,model=pg2_3b")
  assert same != _signature("docvqa.py:res=448,model=pg2_3b")
  assert same != _signature("docvqa.py:res=224,model=pg1_3b")
  assert same != _signature("widgetcap.py:res=224,model=pg2_3b")  # batch 64


def test_the_signature_of_an_896_program_follows_its_attention_blocks(monkeypatch):
  """Attention in query blocks (more than attention.BLOCKWISE_MIN_QUERIES tokens: 896 only) is
  part of the program: a change to the blocks re-measures the 896 rows and no others."""
  rows = ("docvqa.py:res=896,model=pg2_3b", "docvqa.py:res=448,model=pg2_3b",
          "gemma3_docvqa.py:res=896,model=gemma3_4b",
          "refcoco_det.py:res=896,model=pg2_3b")  # all queries at once (configs/common.py)
  before = [_signature(r) for r in rows]
  monkeypatch.setattr(attention, "QUERY_BLOCK", 256)
  after = [_signature(r) for r in rows]
  assert [b != a for b, a in zip(before, after)] == [True, False, True, False]


def test_the_decode_signature_follows_the_evals_and_the_train_state_beside_them():
  """The evals' decode runs on the train mesh with the train state in HBM: configs whose decode
  programs are equal but whose train state (a frozen tower: no optimizer state) or train batch
  (the mesh) differ are measured apart."""
  sig = lambda arg: plan_table.decode_signature(  # noqa: E731
      config_lib.load_config(f"configs/transfer/{arg}", []))
  base = sig("docvqa.py:res=224,model=pg2_3b")
  assert base == sig("docvqa.py:res=224,model=pg2_3b")
  assert base != sig("docvqa.py:res=224,model=pg2_3b,freeze_vit=True")
  assert base != sig("docvqa.py:res=224,model=pg2_3b,batch_size=32")
  assert base != sig("docvqa.py:res=448,model=pg2_3b")


class FakeCompiler:
  """plan.plan_train standing in for the compiler: `need` bytes of program per example spread
  over the chips, against the topology's HBM; records what it was asked to compile."""

  def __init__(self, monkeypatch, need: float):
    self.calls, self.need = [], need
    monkeypatch.setattr(plan, "topology", lambda name: plan.Topology(name, (), plan.CHIPS["v5e"]))
    monkeypatch.setattr(plan, "plan_train", self)

  def __call__(self, config, topo):
    self.calls.append((config.input.batch_size, topo.name))
    total = self.need * config.input.batch_size / plan_table.chips(topo.name)
    return plan.Report("train step", topo.name, config.input.batch_size, topo.chip,
                       total <= topo.chip.hbm_bytes, total=total, compile_s=1.0)


def _rows():
  rows = {r.key: r for r in plan_table.rows(["docvqa", "textvqa", "widgetcap"], ["pg2_3b"], [224])}
  return [rows["docvqa:pg2_3b:224"], rows["textvqa:pg2_3b:224"], rows["widgetcap:pg2_3b:224"]]


def test_one_compile_per_program_saved_as_it_goes_and_a_rerun_compiles_nothing(
    monkeypatch, tmp_path, capsys):
  path = str(tmp_path / "slices.json")
  fake = FakeCompiler(monkeypatch, need=0.9 * GIB)  # batch 256: 14.4 GiB on 16 chips
  results = plan_table.run(_rows(), {"rows": {}}, path=path)
  assert sorted(fake.calls) == [(64, "v5e:4x4"), (256, "v5e:4x4")]
  saved = plan_table.load_results(path)
  assert saved["rows"] == results["rows"] and not saved["in_flight"]
  docvqa, textvqa = saved["rows"]["docvqa:pg2_3b:224"], saved["rows"]["textvqa:pg2_3b:224"]
  assert docvqa["slice"] == "v5e:4x4" and docvqa["gib"] == pytest.approx(14.4)
  assert textvqa["same_as"] == "docvqa:pg2_3b:224" and textvqa["gib"] == docvqa["gib"]
  assert "[2/2]" in capsys.readouterr().out  # progress with an ETA
  plan_table.run(_rows(), saved, path=path)
  assert len(fake.calls) == 2


def test_overrides_reach_every_rows_config_and_need_a_results_file_of_their_own(
    monkeypatch, tmp_path):
  """--override measures the rows as they are not shipped: each compiled config carries the
  override (its own signature), and the shipped table is not the place for it."""
  seen = []
  fake = FakeCompiler(monkeypatch, need=0.9 * GIB)
  monkeypatch.setattr(plan, "plan_train", lambda config, topo: (
      seen.append(config.model.overrides.llm.attn_impl), fake(config, topo))[1])
  path = str(tmp_path / "flash.json")
  flash = [("model.overrides.llm.attn_impl", "flash")]
  results = plan_table.run(_rows()[:1], {"rows": {}}, path=path, overrides=flash)
  assert seen == ["flash"]
  shipped = plan_table.signature(config_lib.load_config(_rows()[0].config, []))
  assert results["rows"]["docvqa:pg2_3b:224"]["signature"] != shipped
  with pytest.raises(SystemExit, match="--results a file of their own"):
    plan_table.main(["--res", "224", "--override", "model.overrides.llm.attn_impl=flash"])
  with pytest.raises(SystemExit, match="write KEY=VALUE"):
    plan_table.main(["--results", path, "--override", "attn_impl"])


def test_restat_compiles_rows_of_an_older_traffic_count_again_on_their_slice_only(
    monkeypatch, tmp_path):
  path = str(tmp_path / "slices.json")
  fake = FakeCompiler(monkeypatch, need=2.5 * GIB)  # batch 256 fits v5e-64, batch 64 v5e-16
  results = plan_table.run(_rows(), {"rows": {}}, path=path)
  docvqa = results["rows"]["docvqa:pg2_3b:224"]
  assert docvqa["slice"] == "v5e:8x8" and plan_table.current_roofline(docvqa)
  older = dict(docvqa, roofline=plan.ROOFLINE_VERSION - 1)
  results["rows"]["docvqa:pg2_3b:224"] = older
  results["rows"]["textvqa:pg2_3b:224"] = dict(older, same_as="docvqa:pg2_3b:224")
  assert "older count" in plan_table.table(results, _rows()[:1])
  assert "MFU" not in plan_table.describe(older)
  fake.calls.clear()
  plan_table.run(_rows(), results, path=path)  # without --restat: nothing to do
  assert fake.calls == []
  results = plan_table.run(_rows(), results, path=path, restat=True)
  assert fake.calls == [(256, "v5e:8x8")]  # one program, its known slice only
  again = results["rows"]["docvqa:pg2_3b:224"]
  assert plan_table.current_roofline(again) and again["slice"] == "v5e:8x8"
  assert [t["slice"] for t in again["tried"]] == ["v5e:4x4", "v5e:4x8", "v5e:8x8"]
  assert plan_table.current_roofline(results["rows"]["textvqa:pg2_3b:224"])


def test_the_search_takes_the_smallest_slice_that_fits(monkeypatch):
  fake = FakeCompiler(monkeypatch, need=2.5 * GIB)  # batch 256: 40 GiB on 16, 20 on 32, 10 on 64
  config = config_lib.load_config("configs/transfer/docvqa.py:res=896,model=pg2_3b", [])
  entry = plan_table.measure(config, {})
  assert [t["slice"] for t in entry["tried"]] == ["v5e:4x4", "v5e:4x8", "v5e:8x8"]
  assert [t["fits"] for t in entry["tried"]] == [False, False, True]
  assert entry["slice"] == "v5e:8x8" and entry["gib"] == pytest.approx(10.0)
  assert plan_table.describe(entry).startswith("v5e-64, 10.00 GiB")
  # A batch smaller than the chips: the auto mesh's tensor axis takes the factor it lacks (32
  # rows on 64 chips: fsdp 32 x tensor 2), so the search goes on.
  fake.calls.clear()
  config.input.batch_size = 32
  fake.need = 16 * GIB  # 32 GiB on 16 chips, 16 on 32, 8 on 64
  assert plan_table.batch_splits(config, 64) and plan_table.batch_splits(config, 256)
  entry = plan_table.measure(config, {})
  assert entry["slice"] == "v5e:8x8" and len(fake.calls) == 3
  # With a mesh the config fixes (tensor 1) it ends the search: no fit.
  fake.calls.clear()
  config.mesh = [("data", "auto"), ("fsdp", "auto"), ("tensor", 1)]
  entry = plan_table.measure(config, {})
  assert entry["slice"] is None and len(fake.calls) == 2  # v5e-16 and -32; 32 rows < 64 chips
  assert "batch 32 does not divide over 64 chips" in plan_table.describe(entry)
  config.input.batch_size, config.grad_accum = 64, 4  # micro-batches of 16 on 32 chips
  assert not plan_table.batch_splits(config, 32) and plan_table.batch_splits(config, 16)


def test_a_compile_that_killed_the_process_is_recorded_once_not_retried(monkeypatch, tmp_path):
  fake = FakeCompiler(monkeypatch, need=0.5 * GIB)
  row = _rows()[2]
  results = {"rows": {}, "in_flight": {row.key: "compile started 2026-12-07 01:00, never ended"}}
  results = plan_table.run([row], results, path=str(tmp_path / "s.json"))
  entry = results["rows"][row.key]
  assert not fake.calls and entry["slice"] is None and "2026-12-07 01:00" in entry["crashed"]
  assert "the process died" in plan_table.describe(entry)
  assert "not measured (the compile died)" in plan_table.paragraph("widgetcap", results)
  plan_table.run([row], results, remeasure=True, path=str(tmp_path / "s.json"))
  assert fake.calls == [(64, "v5e:4x4")]


def test_an_error_is_recorded_and_measured_again_next_run(monkeypatch, tmp_path):
  path = str(tmp_path / "s.json")

  def unshardable(config, topo):
    raise ValueError("Parameter sharding problems:\n  img/embedding/kernel: no free dim")

  monkeypatch.setattr(plan, "topology", lambda name: plan.Topology(name, (), plan.CHIPS["v5e"]))
  monkeypatch.setattr(plan, "plan_train", unshardable)
  results = plan_table.run([_rows()[2]], {"rows": {}}, path=path)
  entry = results["rows"][_rows()[2].key]
  assert entry["slice"] is None and "sharding problems" in entry["tried"][-1]["error"]
  assert plan_table.describe(entry).startswith("error on v5e-16: Parameter sharding problems")
  assert "not measured (an error on v5e-16)" in plan_table.paragraph("widgetcap", results)
  fake = FakeCompiler(monkeypatch, need=0.5 * GIB)  # the bug fixed: measured again
  plan_table.run([_rows()[2]], plan_table.load_results(path), path=path)
  assert fake.calls == [(64, "v5e:4x4")]
  assert plan_table.load_results(path)["rows"][_rows()[2].key]["slice"] == "v5e:4x4"


def test_an_interrupted_compile_is_measured_again_next_run(monkeypatch, tmp_path):
  path = str(tmp_path / "s.json")

  def interrupted(config, topo):
    raise KeyboardInterrupt  # what SIGTERM becomes in main()

  monkeypatch.setattr(plan, "topology", lambda name: plan.Topology(name, (), plan.CHIPS["v5e"]))
  monkeypatch.setattr(plan, "plan_train", interrupted)
  with pytest.raises(KeyboardInterrupt):
    plan_table.run([_rows()[2]], {"rows": {}}, path=path)
  saved = plan_table.load_results(path)
  assert saved["rows"] == {} and saved["in_flight"] == {}
  fake = FakeCompiler(monkeypatch, need=0.5 * GIB)
  plan_table.run([_rows()[2]], saved, path=path)
  assert fake.calls == [(64, "v5e:4x4")] and "crashed" not in saved["rows"][_rows()[2].key]


def test_the_largest_program_of_each_model_and_resolution_is_measured_first():
  rows = plan_table.rows(["widgetcap", "nlvr2", "docvqa"], ["pg1_3b", "pg2_3b"], [224])
  todo = [(r, config_lib.load_config(r.config, []), r.key) for r in rows]
  order = [item[0].key for item in plan_table._order(todo)]  # pylint: disable=protected-access
  # nlvr2 (two images) is the largest at 224; pg2_3b before pg1_3b; then the rest, largest first.
  assert order == ["nlvr2:pg2_3b:224", "nlvr2:pg1_3b:224", "docvqa:pg2_3b:224",
                   "widgetcap:pg2_3b:224", "docvqa:pg1_3b:224", "widgetcap:pg1_3b:224"]


def test_docstring_paragraph_is_written_in_place_and_the_config_still_loads(tmp_path,
                                                                         monkeypatch):
  monkeypatch.setattr(plan_table, "TRANSFER_DIR", str(tmp_path))
  shutil.copy(os.path.join("configs", "transfer", "widgetcap.py"), tmp_path / "widgetcap.py")
  results = {"rows": {
      "widgetcap:pg1_3b:224": {"slice": "v5e:4x4", "gib": 6.17, "tried": []},
      "widgetcap:pg2_28b:448": {"slice": None, "tried": [{"slice": "v5e:16x16", "fits": False}]},
  }}
  text = plan_table.paragraph("widgetcap", results)
  assert text.startswith("Slices (") and max(len(line) for line in text.splitlines()) <= 100
  flat = " ".join(text.split())
  assert "224: v5e-16 (pg1_3b 6.2); not measured yet (pg2_3b, pg2_10b, pg2_28b)" in flat
  assert "448: not measured yet (pg1_3b, pg2_3b, pg2_10b); not on v5e-256 or smaller (pg2_28b)" in flat
  for _ in range(2):  # the second pass changes nothing
    plan_table.write_docstrings(results, ["widgetcap"])
    source = (tmp_path / "widgetcap.py").read_text()
    assert plan_table.docstring_paragraph(source) == text
    assert source.count("Slices (") == 1
  results["rows"]["widgetcap:pg1_3b:224"] = {"slice": "v5e:4x8", "gib": 9.0, "tried": []}
  plan_table.write_docstrings(results, ["widgetcap"])
  source = (tmp_path / "widgetcap.py").read_text()
  assert "224: v5e-32 (pg1_3b 9.0)" in " ".join(plan_table.docstring_paragraph(source).split())
  assert ast.get_docstring(ast.parse(source)).count("Slices (") == 1
  config = config_lib.load_config(str(tmp_path / "widgetcap.py") + ":res=224", [])
  assert config.input.batch_size == 64
  original = (tmp_path / "widgetcap.py").read_text().split('"""', 2)[2]
  with open(os.path.join("configs", "transfer", "widgetcap.py"), encoding="utf-8") as f:
    assert f.read().split('"""', 2)[2] == original  # only the docstring changed


def test_the_decode_is_searched_from_the_train_slice_up_and_named_in_the_docstring(
    monkeypatch, tmp_path):
  calls = []

  def plan_decode(config, topo):  # 2 GiB a chip on 16 chips, less on more
    calls.append(topo.name)
    total = 32 * GIB / plan_table.chips(topo.name)
    return [plan.Report(f"decode {n}", topo.name, 64, topo.chip, total <= topo.chip.hbm_bytes,
                        total=total) for n in ("pope_random", "pope_popular")]

  FakeCompiler(monkeypatch, need=0.0)
  monkeypatch.setattr(plan, "plan_decode", plan_decode)
  rows = plan_table.rows(["pope", "widgetcap"], ["pg1_3b"], [224], decode=True)
  assert [r.key for r in rows] == ["pope:pg1_3b:224", "widgetcap:pg1_3b:224"]
  assert not plan_table.rows(["pope"])  # no train step: evaluation only
  results = {"rows": {"widgetcap:pg1_3b:224": {"slice": "v5e:4x8", "gib": 3.0, "tried": []}},
             "decode": {}}
  plan_table.run(rows, results, path=str(tmp_path / "s.json"), kind="decode")
  assert sorted(calls) == ["v5e:4x4", "v5e:4x8"]  # pope from v5e-16; widgetcap from its v5e-32
  pope = results["decode"]["pope:pg1_3b:224"]
  assert pope["slice"] == "v5e:4x4" and pope["gib"] == 2.0 and len(pope["evals"]) == 2
  assert results["decode"]["widgetcap:pg1_3b:224"]["slice"] == "v5e:4x8"
  text = " ".join(plan_table.paragraph("pope", results).split())
  assert "Evals' decode at their batch, 224: v5e-16 (pg1_3b 2.0" in text and "train" not in text
  text = " ".join(plan_table.paragraph("widgetcap", results).split())
  assert "train step at the published batch, 224: v5e-32 (pg1_3b 3.0" in text
  assert "Evals' decode at their batch, 224: v5e-32 (pg1_3b 1.0" in text


def test_every_config_docstring_names_its_slices_as_measured():
  """configs/slices.json (the measurements) and the configs' docstrings agree: refresh them with
  `python -m tools.plan_table --write_docstrings`."""
  results = plan_table.load_results()
  for name in sorted({r.transfer for r in plan_table.rows(decode=True)}):
    with open(os.path.join(plan_table.TRANSFER_DIR, f"{name}.py"), encoding="utf-8") as f:
      assert plan_table.docstring_paragraph(f.read()) == plan_table.paragraph(name, results), name


def test_the_measured_rows_are_rows_and_carry_their_figures():
  results = plan_table.load_results()
  keys = {r.key for r in plan_table.rows()}
  assert results["rows"] and set(results["rows"]) <= keys
  for key, e in results["rows"].items():
    if e.get("slice"):
      assert e["slice"] in plan_table.SLICES and 0 < e["gib"] <= 15.75, key
      assert e["tried"][-1]["fits"] and not any(t["fits"] for t in e["tried"][:-1]), key


def test_the_measured_rows_are_of_the_configs_as_they_are():
  """Every row of configs/slices.json was measured with its config's current program (its
  signature; for the evals' decode also tools.plan.DECODE_VERSION): a change that alters the
  program leaves its rows to measure again (`python -m tools.plan_table [--decode]`), not
  standing as measured."""
  results = plan_table.load_results()
  rows = {r.key: r for r in plan_table.rows()}
  stale = [key for key, e in results["rows"].items()
           if e.get("signature") != plan_table.signature(
               config_lib.load_config(rows[key].config, []))]
  assert not stale, f"measured with another program: {stale[:5]} ({len(stale)})"
  decode_rows = {r.key: r for r in plan_table.rows(decode=True)}
  stale = [key for key, e in results.get("decode", {}).items()
           if e.get("signature") != plan_table.decode_signature(
               config_lib.load_config(decode_rows[key].config, []))]
  assert not stale, f"decode measured with another program: {stale[:5]} ({len(stale)})"


def test_benchmarks_counts_name_the_decodes_that_need_more_than_the_train_slice():
  results = {"rows": {"docvqa:pg2_3b:896": {"slice": "v5e:8x8", "gib": 9.0, "tried": [],
                                            "signature": "a"},
                      "nlvr2:pg2_3b:224": {"slice": "v5e:4x4", "gib": 7.0, "tried": [],
                                           "signature": "b"}},
             "decode": {"docvqa:pg2_3b:896": {"slice": "v5e:8x16", "gib": 5.0, "signature": "c"},
                        "nlvr2:pg2_3b:224": {"slice": "v5e:4x4", "gib": 3.0, "signature": "d"},
                        "pope:pg2_3b:224": {"slice": None, "tried": [{"slice": "v5e:16x16"}],
                                            "signature": "e"}}}
  train, decode = plan_table.counts(results)
  assert train.startswith(f"Measured so far: 2 of {len(plan_table.rows())} rows (2 compiles of "
                          "the 2 distinct programs")
  assert f"3 of {len(plan_table.rows(decode=True))} rows (3 distinct programs); 2 fit" in decode
  assert "1 of them only on a larger slice than the train step's (docvqa:pg2_3b:896)" in decode
  assert "the most a chip: docvqa:pg2_3b:896, 5.00 GiB on v5e-128" in decode
  assert "1 not measured or fitting none: pope:pg2_3b:224" in decode
  text = plan_table.benchmarks_text(
      "intro\nMeasured so far: old\nEvals' decode measured so far: old\n\n"
      + plan_table.table({"rows": {}}, plan_table.rows(["ai2d"])) + "\n\nafter\n", results)
  lines = text.split("\n")
  assert lines[:3] == ["intro", train, decode] and lines[-2:] == ["after", ""]
  assert "| docvqa | pg2_3b | 896 | v5e-64 | 9.00 |" in text and "| ai2d |" in text
  assert "| pope | pg2_3b | 224 | evaluation only (no train step) |" in text
  with pytest.raises(ValueError, match="Evals' decode measured so far"):
    plan_table.benchmarks_text("Measured so far: x\n" + plan_table.table(results, []), results)


def test_benchmarks_table_and_counts_are_as_measured():
  """BENCHMARKS.md's counts and table equal configs/slices.json: refresh them with
  `python -m tools.plan_table --write_benchmarks`."""
  with open(plan_table.BENCHMARKS, encoding="utf-8") as f:
    text = f.read()
  assert text == plan_table.benchmarks_text(text, plan_table.load_results())
