"""tools.sweep and tools.sweep_results: the axis algebra, members from get_hyper, the runner's
skip / resume / failure handling, and the results table."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from big_paligemma import config as config_lib
from big_paligemma import fs
from tools import make_demo_data
from tools import sweep
from tools import sweep_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H = sweep.Hyper()


def test_axis_algebra():
  assert H.product([H.sweep("res", [224, 448]), H.fixed("config.seed", 1)]) == [
      {"res": 224, "config.seed": 1}, {"res": 448, "config.seed": 1}]
  assert H.zip([H.sweep("a", [1, 2]), H.sweep("b", [3, 4])]) == [{"a": 1, "b": 3},
                                                                  {"a": 2, "b": 4}]
  with pytest.raises(sweep.SweepError, match=r"one length; got lengths \[1, 2\]"):
    H.zip([H.sweep("a", [1, 2]), H.sweep("b", [3])])
  with pytest.raises(sweep.SweepError, match=r"keys \['a'\] are set by two axes"):
    H.product([H.sweep("a", [1]), H.sweep("a", [2])])
  with pytest.raises(sweep.SweepError, match=r"has no values"):
    H.sweep("a", [])


def _write_config(tmp_path, hyper_body: str, evals: bool = True) -> str:
  """A sweep config: docvqa's (without its evaluators if not `evals`) and `hyper_body`."""
  path = tmp_path / "my_sweep.py"
  path.write_text(textwrap.dedent(f"""\
      from configs.transfer import docvqa

      def get_config(arg=None):
        c = docvqa.get_config(arg)
        if not {evals}:
          c.evals = {{}}
        return c

      def get_hyper(hyper):
        {hyper_body}
      """))
  return str(path)


def test_members_split_arguments_and_overrides(tmp_path):
  spec = _write_config(tmp_path, 'return hyper.product([hyper.sweep("res", [224, 448]), '
                                 'hyper.sweep("config.optim.lr", [1e-5, 3e-5])])')
  members = sweep.members(spec + ":freeze_vit", [("seed", "7")])
  assert [m.name for m in members] == ["res=224,optim.lr=1e-05", "res=224,optim.lr=3e-05",
                                       "res=448,optim.lr=1e-05", "res=448,optim.lr=3e-05"]
  m = members[3]
  assert m.config == spec + ":freeze_vit,res=448"
  assert m.overrides == (("seed", "7"), ("optim.lr", "3e-05"))
  assert m.preset == "pali_gemma_3b_448"
  config = config_lib.load_config(m.config, m.overrides)
  assert (config.optim.lr, config.seed, config.optim.frozen) == (3e-5, 7, [r"img/.*"])
  assert m.command("W")[-4:] == ["--workdir", "W", "--config.seed=7", "--config.optim.lr=3e-05"]


def test_a_bad_member_is_refused_before_anything_runs(tmp_path):
  spec = _write_config(tmp_path, 'return hyper.sweep("config.optim.lrate", [1e-5])')
  with pytest.raises(config_lib.ConfigError, match=r"unknown key 'lrate' in config.optim"):
    sweep.members(spec)
  spec = _write_config(tmp_path, 'return hyper.sweep("res", [300])')
  with pytest.raises(config_lib.ConfigError, match=r"res=300; allowed"):
    sweep.members(spec)
  with pytest.raises(sweep.SweepError, match=r"defines no get_hyper"):
    sweep.members(os.path.join(ROOT, "configs/transfer/pope.py"))


def test_transfer_configs_sweep_their_published_resolutions(capsys):
  assert [m.name for m in sweep.members("configs/transfer/docvqa.py")] == [
      "res=224", "res=448", "res=896"]
  assert [m.name for m in sweep.members("configs/transfer/docvqa.py:demo")] == [
      "optim.lr=0.001", "optim.lr=0.003"]
  sweep.main(["--config", "configs/transfer/chartqa.py", "--workdir_root", "R", "--launch",
              "--only", "448"])
  out = capsys.readouterr().out
  assert "--worker=all" in out and "chartqa.py:res=448 --workdir R/res=448" in out
  assert "res=224" not in out
  with pytest.raises(SystemExit):
    sweep.main(["--config", "configs/transfer/chartqa.py", "--workdir_root", "R", "--dry_run",
                "--only", "nope"])
  assert "--only 'nope' matches none of ['res=224', 'res=448']" in capsys.readouterr().err


def _write_results(root: str) -> None:
  """A docvqa sweep of three members: 224 done, 448 failed, 896 never started."""
  plan = {"sweep_config": "configs/transfer/docvqa.py", "transfer": "docvqa",
          "members": {"res=224": {"res": 224}, "res=448": {"res": 448}, "res=896": {"res": 896}},
          "presets": {"res=224": "pali_gemma_3b_224", "res=448": "pali_gemma_3b_448",
                      "res=896": "pali_gemma_3b_896"}}
  fs.write_text(fs.join(root, sweep.PLAN_FILE), json.dumps(plan))
  for name, anls, status in (("res=224", [0.2, 0.4, 0.3], "done"),
                             ("res=448", [0.5, 0.7, 0.8], "failed")):
    fs.write_text(fs.join(root, name, sweep.STATE_FILE), json.dumps({"status": status}))
    lines = []
    for i, value in enumerate(anls):
      lines += [{"step": 10 * i + 10, "loss": 1.0 / (i + 1)},
                {"step": 10 * i + 10, "docvqa_validation/anls": value},
                {"step": 10 * i + 10, "docvqa_minival_pplx/perplexity": 5.0 - value * (i != 1)}]
    fs.write_text(fs.join(root, name, "metrics.jsonl"),
                  "\n".join(json.dumps(x) for x in lines) + "\n")


@pytest.mark.parametrize("where", ["local", "gs"])
def test_results_from_metrics_files(where, tmp_path, request):
  """Member folders written by hand (locally, and in an emulated gs:// bucket): final/best/
  best_step, lower-is-better for perplexity, status of a member that never started, sorting and
  the per-transfer row with the published score."""
  base = request.getfixturevalue("gcs_bucket") if where == "gs" else str(tmp_path)
  root = fs.join(base, "sweep")
  _write_results(root)
  rows = sweep_results.flat(sweep_results.sort_rows(sweep_results.member_rows(root),
                                                    "docvqa_validation/anls"))
  assert [(r["member"], r["status"]) for r in rows] == [
      ("res=448", "failed"), ("res=224", "done"), ("res=896", "not started")]
  assert rows[1]["step"] == 30 and rows[1]["docvqa_validation/anls best"] == 0.4
  assert rows[1]["docvqa_validation/anls best_step"] == 20
  assert rows[1]["docvqa_validation/anls final"] == 0.3
  assert rows[1]["docvqa_minival_pplx/perplexity best"] == pytest.approx(4.7)  # the lowest
  best, = sweep_results.by_transfer(sweep_results.member_rows(root), None)
  assert (best["transfer"], best["best member"], best["best"], best["published"]) == (
      "docvqa", "res=448", 0.8, 78.0)
  assert "| docvqa | res=448 |" in sweep_results.render([best], "md")
  assert sweep_results.render(rows, "csv").splitlines()[0].startswith("transfer,member,res,")
  with pytest.raises(FileNotFoundError, match=r"no sweep under"):
    sweep_results.member_rows(fs.join(base, "nothing"))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo"))
  make_demo_data.make_demo_data(out, num_train=64, num_eval=8, size=32, sets="docvqa")
  return out


# The demo's evaluators once, at the last step (the demo evaluates at the start and every 25%):
# the results table needs one evaluation per member.
END_EVALS = ["--config.eval_at_start=False"] + [
    f"--config.evals.{name}.every=100%"
    for name in ("docvqa_validation", "docvqa_minival_pplx", "docvqa_minitrain_pplx")]


def _sweep_command(demo_dir, root):
  return [sys.executable, "-m", "tools.sweep", "--config",
          f"configs/transfer/docvqa.py:demo,demo_data={demo_dir}", "--workdir_root", root,
          "--config.total_steps=6", "--config.log_every=3", "--config.ckpt.every=3", *END_EVALS]


@pytest.mark.slow
def test_demo_sweep_killed_and_rerun(demo_dir, tmp_path, capsys, monkeypatch):
  """Two learning rates of the DocVQA demo: the sweep is killed after its first member is done;
  the rerun skips that member (not trained again) and runs the second; the table has both. (The
  killed sweep is a process of its own; the rerun and the table run in this one, sparing two
  start-ups: their members still train in processes of their own.)"""
  monkeypatch.chdir(ROOT)
  root = str(tmp_path / "sweep")
  proc = subprocess.Popen(_sweep_command(demo_dir, root), cwd=ROOT, start_new_session=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  first = os.path.join(root, "optim.lr=0.001")
  deadline = time.time() + 600
  while not (os.path.isdir(first) and sweep.read_state(first).get("status") == "done"):
    assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
    assert time.time() < deadline, "the first member did not finish in 10 minutes"
    time.sleep(1)
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  first_metrics = open(os.path.join(first, "metrics.jsonl")).read()
  capsys.readouterr()
  states = sweep.main(_sweep_command(demo_dir, root)[3:])  # exits non-zero if a member failed
  assert [s["status"] for s in states] == ["done", "done"], states
  assert "optim.lr=0.001: done already, skipped." in capsys.readouterr().out
  assert open(os.path.join(first, "metrics.jsonl")).read() == first_metrics
  assert sweep.read_state(first)["attempts"] == 1
  assert sweep.read_state(os.path.join(root, "optim.lr=0.003"))["status"] == "done"
  sweep_results.main([root])
  table = capsys.readouterr().out
  rows = [line for line in table.splitlines() if "optim.lr=" in line]
  assert len(rows) == 2 and all("| done | 6 |" in r for r in rows), table
  assert "docvqa_validation/anls best" in table.splitlines()[0]


@pytest.mark.slow
def test_a_failed_member_does_not_stop_the_others(demo_dir, tmp_path, capsys):
  """A member whose training fails (a batch of 12 does not split over the 8 devices) is reported
  with its log's last lines; the other member still runs; the sweep exits non-zero. (No
  evaluators: test_demo_sweep_killed_and_rerun's members run them.)"""
  config = _write_config(tmp_path, 'return hyper.sweep("config.input.batch_size", [12, 16])',
                         evals=False)
  root = str(tmp_path / "sweep")
  with pytest.raises(SystemExit) as e:
    sweep.main(["--config", f"{config}:demo,demo_data={demo_dir}", "--workdir_root", root,
                "--config.total_steps=2"])
  assert e.value.code == 1
  out = capsys.readouterr().out
  assert "input.batch_size=12: FAILED (rc 1); last lines of its log:" in out
  assert "config.input.batch_size" in out.split("FAILED")[1]
  assert "1 of 2 members done; failed: ['input.batch_size=12']" in out
  assert sweep.read_state(os.path.join(root, "input.batch_size=16"))["status"] == "done"
