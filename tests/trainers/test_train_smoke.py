"""One-step end-to-end runs of the trainer on a tiny PaliGemma and jsonl data; compile once; NaN stop.

`write_run(tmp_path)` writes what a run needs (jsonl data, tiny tokenizer, a config file) and is
shared with the resume and mesh tests.
"""
import json
import math
import os
import textwrap

import jax
import numpy as np
import pytest

from big_paligemma import config as config_lib
from big_paligemma import checkpoint as ckpt_lib
from big_paligemma.models import build
from tests import data_fixtures
from tests import tokenizer_fixture
from trainers import state as state_lib
from trainers import step as step_lib
from trainers import train

TINY_CONFIG = textwrap.dedent('''
    from configs import common
    from big_paligemma import config as config_lib
    import pp

    def get_config(arg=None):
      args = config_lib.parse_arg(arg, data="", tokenizer="", steps=2, batch=8, ckpt_every=1)
      c = common.base_config()
      c.model = dict(preset=None, overrides={},
                     img=dict(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                              image_size=16),
                     llm=dict(vocab_size=1664, num_layers=2, num_heads=2, num_kv_heads=1,
                              width=32, mlp_dim=64, head_dim=16))
      c.tokenizer = args.tokenizer
      c.input.data = {"jsonl": args.data}
      c.input.pp = pp.paligemma_train_pp(16, 12, "{prefix}", "suffix")
      c.input.batch_size = args.batch
      c.input.num_parallel = 1
      c.total_steps = args.steps
      c.log_every = 1
      c.optim.lr = 1e-3
      c.optim.schedule.warmup = "0 steps"
      c.ckpt.every = args.ckpt_every
      return c
''')


def write_run(root) -> str:
  """Writes data, tokenizer and config under `root`; returns the --config spec prefix."""
  root = str(root)
  data = data_fixtures.write_jsonl(os.path.join(root, "data"), n=10)
  tok = tokenizer_fixture.make_tiny_paligemma_tokenizer(os.path.join(root, "tok"))
  path = os.path.join(root, "tiny_config.py")
  with open(path, "w") as f:
    f.write(TINY_CONFIG)
  return f"{path}:data={data},tokenizer={tok}"


def read_losses(workdir) -> dict[int, float]:
  """step -> loss from metrics.jsonl (a step logged twice, e.g. after a resume: the last line)."""
  losses = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      row = json.loads(line)
      if "loss" in row:
        losses[row["step"]] = row["loss"]
  return losses


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  return write_run(tmp_path_factory.mktemp("run"))


def test_two_step_run_logs_and_checkpoints(spec, tmp_path):
  train.main(["--config", spec + ",steps=2", "--workdir", str(tmp_path)])
  losses = read_losses(tmp_path)
  assert list(losses) == [1, 2] and all(math.isfinite(v) and v > 0 for v in losses.values())
  assert ckpt_lib.Checkpointer(str(tmp_path / "ckpt")).all_steps() == [1, 2]
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tb"))
  with open(tmp_path / "metrics.jsonl") as f:
    row = [json.loads(line) for line in f if '"loss"' in line][-1]
  # Speeds need a previous log (step 1); counters come from the input pipeline.
  for key in ("lr", "grad_norm", "steps_per_s", "examples_per_s", "tokens_per_s", "flops_per_s",
              "truncated_examples", "skipped_bad_examples"):
    assert key in row, key
  assert row["examples_per_s"] == pytest.approx(8 * row["steps_per_s"])  # batch 8


def test_batch_size_not_splitting_over_the_mesh_is_named_before_any_step(spec, tmp_path):
  with pytest.raises(ValueError, match=r"config.input.batch_size=6 does not split .*"
                     r"\(data=8 x fsdp=1 = 8 ways\); use a multiple of 8"):
    train.main(["--config", spec + ",batch=6", "--workdir", str(tmp_path)])
  assert not os.path.exists(tmp_path / "ckpt") or not os.listdir(tmp_path / "ckpt")


def test_step_compiles_once_and_loss_matches_definition(spec, tmp_path):
  config = config_lib.load_config(spec + ",batch=8")
  mesh = train.build_mesh(config)
  model_cfg = build.model_config(config)
  model = build.make_model(model_cfg)
  data = train.build_data(config, mesh)
  plan = train.make_plan(config, data.epoch_examples)
  tx, lr_fn = train.optim.make_optimizer(train.optimizer_config(config, plan),
                                         build.abstract_params(model_cfg))
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"))
  state, shardings = train.build_state(config, model_cfg, tx, mesh, ckpt, data)
  params0 = jax.device_get(state.params)
  counter = step_lib.TraceCounter()
  step_fn = step_lib.make_train_step(model, tx, lr_fn, config.loss, counter=counter)
  jitted = step_lib.jit_train_step(step_fn, shardings, data.sharding, mesh)
  batch = data.next()
  state, metrics = jitted(state, batch)
  for _ in range(2):
    state, _ = jitted(state, data.next())
  assert counter.count == 1 and int(state.step) == 3
  # The first loss by the definition: mean over examples of the mean -log p(next token) on the
  # tokens with mask_loss 1, computed here with numpy from the model's logits.
  host = jax.device_get(batch)
  logits, _ = model.apply({"params": params0}, build.device_inputs(host))
  logits = np.asarray(logits, np.float64)[:, :-1]
  logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
      - logits.max(-1, keepdims=True)
  nll = -np.take_along_axis(logp, host["text"][:, 1:, None], -1)[..., 0]
  mask = host["mask_loss"][:, 1:]
  want = np.mean((nll * mask).sum(-1) / mask.sum(-1))
  np.testing.assert_allclose(float(metrics["loss"]), want, rtol=1e-5)


class _FakeData:
  iterator = type("It", (), {"get_state": lambda self: np.zeros([3], np.uint8),
                             "skipped_bad_examples": 0, "truncated_examples": 0})()

  def next(self):
    return {}


def test_nan_loss_stops_naming_step_and_keeps_last_good_checkpoint(tmp_path):
  def fake_step(state, batch):
    del batch
    step = int(state.step) + 1
    return state.replace(step=np.int32(step)), {"loss": np.float32(np.nan if step == 3 else 1.0)}

  plan = train.Plan(total_steps=10, warmup_steps=0, log_every=5, ckpt_every=1, keep_every=None,
                    epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path), keep_last=5, async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path / "log"), 10, 1.0, None)
  with pytest.raises(FloatingPointError, match=r"step 3: metric 'loss' is nan; stopping. The "
                     r"last checkpoint, step 2, is kept: a re-run resumes from it"):
    train.train_loop(_state(0), fake_step, _FakeData(), plan, ckpt, logger, [])
  assert ckpt.all_steps() == [1, 2]


def _state(step):
  return state_lib.TrainState(step=np.int32(step), params={"w": np.ones([2], np.float32)},
                              opt_state={}, rng=np.zeros([2], np.uint32))


def _nan_at(bad_step):
  def fake_step(state, batch):
    del batch
    step = int(state.step) + 1
    return state.replace(step=np.int32(step)), {"loss": np.float32(np.nan if step == bad_step
                                                                  else 1.0)}
  return fake_step


def test_nan_before_the_first_checkpoint_says_none_exists(tmp_path):
  plan = train.Plan(total_steps=10, warmup_steps=0, log_every=1, ckpt_every=5, keep_every=None,
                    epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path), 10, 1.0, None)
  with pytest.raises(FloatingPointError) as err:
    train.train_loop(_state(0), _nan_at(3), _FakeData(), plan, ckpt, logger, [])
  assert "No checkpoint was saved yet: a re-run starts again from step 0" in str(err.value)
  assert "last checkpoint" not in str(err.value) and ckpt.all_steps() == []
  # A run resumed from step 5 that meets a NaN before its next checkpoint names step 5.
  ckpt.save(5, _state(5))
  with pytest.raises(FloatingPointError, match=r"step 7: .*The last checkpoint, step 5, is kept"):
    train.train_loop(_state(5), _nan_at(7), _FakeData(), plan, ckpt, logger, [])


@pytest.mark.parametrize("keep_every", [None, 2])
def test_the_end_of_run_save_always_happens(keep_every, tmp_path):
  """7 steps, a checkpoint every 3 and keep_last 1: the final step 7 is saved and kept."""
  def fake_step(state, batch):
    del batch
    return state.replace(step=state.step + 1), {"loss": np.float32(1.0)}

  plan = train.Plan(total_steps=7, warmup_steps=0, log_every=100, ckpt_every=3,
                    keep_every=keep_every, epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), keep_last=1, keep_steps_every=keep_every,
                               async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path), 7, 1.0, None)
  train.train_loop(_state(0), fake_step, _FakeData(), plan, ckpt, logger, [])
  assert ckpt.latest_step() == 7
  assert ckpt.all_steps() == ([7] if keep_every is None else [2, 4, 6, 7])
  restored, _, _ = ckpt.restore(jax.tree.map(np.asarray, _state(0)))
  assert int(restored.step) == 7


def test_evaluators_run_at_start_and_at_their_periods(tmp_path, capsys):
  """eval_at_start adds step 0; results go to metrics.jsonl and the console."""
  def fake_step(state, batch):
    del batch
    return state.replace(step=state.step + 1), {"loss": np.float32(1.0)}

  class FakeEvaluator:
    def run(self, params):
      del params
      return {"ev/score": 0.5}

  plan = train.Plan(total_steps=6, warmup_steps=0, log_every=3, ckpt_every=100, keep_every=None,
                    epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path), 6, 1.0, None)
  state = state_lib.TrainState(step=np.int32(0), params={"w": np.ones([2], np.float32)},
                               opt_state={}, rng=np.zeros([2], np.uint32))
  train.train_loop(state, fake_step, _FakeData(), plan, ckpt, logger, [(FakeEvaluator(), 4)],
                   eval_at_start=True)
  with open(tmp_path / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows if "ev/score" in r] == [0, 4, 6]
  assert "step 0/6 eval: ev/score 0.5" in capsys.readouterr().out


class _Killed(BaseException):
  """Stands for the SIGKILL that ends a run in the middle of its final evaluations."""


class _NamedEvaluator:
  def __init__(self, name, kill_on_first_run=False):
    self.name, self.runs, self._kill = name, 0, kill_on_first_run

  def run(self, params):
    del params
    self.runs += 1
    if self._kill and self.runs == 1:
      raise _Killed
    return {f"{self.name}/score": 0.5}


def test_a_run_resumed_at_its_end_runs_the_final_evals_a_kill_lost(tmp_path, capsys):
  def fake_step(state, batch):
    del batch
    return state.replace(step=state.step + 1), {"loss": np.float32(1.0)}

  def no_step(state, batch):
    raise AssertionError("a run resumed at total_steps takes no step")

  plan = train.Plan(total_steps=4, warmup_steps=0, log_every=100, ckpt_every=100, keep_every=None,
                    epoch_examples=None)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "ckpt"), async_save=False)
  logger = train.log_lib.MetricsLogger(str(tmp_path), 4, 1.0, None)
  first, second = _NamedEvaluator("first"), _NamedEvaluator("second", kill_on_first_run=True)
  evaluators = [(first, 100), (second, 100)]
  with pytest.raises(_Killed):  # step 4 is saved and `first` logged, then the kill
    train.train_loop(_state(0), fake_step, _FakeData(), plan, ckpt, logger, evaluators)
  assert ckpt.all_steps() == [4] and (first.runs, second.runs) == (1, 1)
  capsys.readouterr()

  train.train_loop(_state(4), no_step, _FakeData(), plan, ckpt, logger, evaluators)
  assert (first.runs, second.runs) == (1, 2)
  assert "running the final evaluations a previous run did not finish: ['second']" in \
      capsys.readouterr().out
  with open(tmp_path / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  evals = [(r["step"], sorted(r)) for r in rows if "loss" not in r]
  assert evals == [(4, ["first/score", "step"]), (4, ["second/score", "step"])]
  train.train_loop(_state(4), no_step, _FakeData(), plan, ckpt, logger, evaluators)
  assert (first.runs, second.runs) == (1, 2)  # nothing lost: nothing runs again


def test_export_merged_of_a_run_resumed_at_its_end_keeps_what_was_written(tmp_path):
  """A LoRA run killed in its final evaluations exported its merged weights already."""
  state = _state(4).replace(params={"w": np.arange(2, dtype=np.float32)})
  train.export_merged(str(tmp_path / "merged"), state, None)
  train.export_merged(str(tmp_path / "merged"), state, None)  # the resumed run: no error
  merged = ckpt_lib.Checkpointer(str(tmp_path / "merged"))
  assert merged.all_steps() == [4]
  restored, _, metadata = merged.restore({"params": {"w": jax.ShapeDtypeStruct((2,), np.float32)}})
  np.testing.assert_array_equal(restored["params"]["w"], [0, 1])
  assert metadata == {"step": 4, "merged_lora": True}


def test_unknown_override_stops_before_any_work(spec, tmp_path):
  with pytest.raises(ValueError, match=r"unknown key 'lrate'.*allowed: .*'lr'"):
    train.main(["--config", spec, "--workdir", str(tmp_path), "--config.optim.lrate=1"])
  assert not os.path.exists(tmp_path / "ckpt")
