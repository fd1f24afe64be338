"""The DocVQA demo (configs/transfer/docvqa.py:demo) on Cloud Storage: the emulated bucket of
tests/gcs_emulator.py holds its tokenizer, its data and its workdir. A run SIGKILLed right after
its step-4 checkpoint resumes from the bucket, its losses equal an uninterrupted run's step for
step, and it evaluates (ANLS, perplexity monitors) equal to that run. (The jsonl form's run ends
with an exception there instead, in this process: the SIGKILL of a trainer process, ~10 s of CPU
to start, is the tfds form's; what the jsonl form adds is its data read from the bucket.)

Two data forms, the rest the same:
  tfds   `configs/transfer/docvqa.py:demo,demo_data=gs://...` as it is: the demo's TFDS data_dir
         (ArrayRecord files: TFDS metadata through etils.epath on gcsfs, records through
         array_record's own GCS client) and tokenizer in the bucket;
  jsonl  the demo's DocVQA files as jsonl + images in the bucket (read through big_paligemma/fs),
         with the demo's pp and evaluators.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import tensorflow_datasets as tfds

from big_paligemma import checkpoint as ckpt_lib
from big_paligemma import fs
from big_paligemma.data.datasets import docvqa
from tests.trainers import test_train_resume
from tools import make_demo_data
from trainers import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS, KILL_AT = 8, 4
EVALS = ("docvqa_validation", "docvqa_minitrain_pplx", "docvqa_minival_pplx")
FLAGS = [f"--config.total_steps={STEPS}", "--config.log_every=1", "--config.ckpt.every=4",
         "--config.eval_at_start=False",
         "--config.input.batch_size=8"] + [f"--config.evals.{e}.every=100%" for e in EVALS]
# The demo with jsonl sources in place of its TFDS ones (same splits' files, same pp, evaluators).
JSONL_CONFIG = textwrap.dedent("""
    from configs.transfer import docvqa

    def get_config(arg):
      args = dict(kv.split("=", 1) for kv in arg.split(","))
      c = docvqa.get_config("demo,demo_data=" + args["demo_data"])
      c.input.data = {"jsonl": args["jsonl"] + "/train.jsonl"}
      c.evals.docvqa_validation.data = {"jsonl": args["jsonl"] + "/validation.jsonl"}
      c.evals.docvqa_minitrain_pplx.data = {"jsonl": args["jsonl"] + "/train.jsonl"}
      c.evals.docvqa_minival_pplx.data = {"jsonl": args["jsonl"] + "/validation.jsonl"}
      return c
""")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
  """Local demo data: DocVQA raw files, its TFDS build and the demo tokenizer."""
  out = str(tmp_path_factory.mktemp("demo"))
  make_demo_data.make_demo_data(out, num_train=48, num_eval=16, size=64, sets="docvqa")
  return out


def _to_jsonl(raw: str, bucket_dir: str) -> None:
  """The DocVQA demo's train and val files as jsonl rows + their images, in `bucket_dir`."""
  files = {"train": "train_v1.0_withQT.json", "validation": "val_v1.0_withQT.json"}
  for split, name in files.items():
    rows = []
    for e in json.loads(fs.read_text(fs.join(raw, name)))["data"]:
      fs.copy(fs.join(raw, e["image"]), fs.join(bucket_dir, e["image"]))
      rows.append({"image": e["image"], "prefix": e["question"], "suffix": e["answers"][0],
                   "question": e["question"], "answers": e["answers"],
                   "question_id": e["questionId"]})
    text = "".join(json.dumps(r) + "\n" for r in rows)
    fs.write_text(fs.join(bucket_dir, f"{split}.jsonl"), text)


def _config(kind: str, demo: str, bucket: str, tmp_path) -> str:
  """The --config spec of the demo with its tokenizer and `kind` data in `bucket`."""
  fs.copy(os.path.join(demo, "paligemma.model"), f"{bucket}/demo/paligemma.model")
  if kind == "tfds":
    fs.copytree(os.path.join(demo, "tfds"), f"{bucket}/demo/tfds")
    return f"configs/transfer/docvqa.py:demo,demo_data={bucket}/demo"
  _to_jsonl(os.path.join(demo, "raw", "docvqa"), f"{bucket}/docvqa")
  path = tmp_path / "docvqa_jsonl.py"
  path.write_text(JSONL_CONFIG)
  return f"{path}:demo_data={bucket}/demo,jsonl={bucket}/docvqa"


def _rows(workdir: str) -> list[dict]:
  return [json.loads(line) for line in fs.read_text(fs.join(workdir, "metrics.jsonl")).splitlines()]


def _losses(workdir: str) -> dict[int, float]:
  """step -> loss (a step logged twice, e.g. after a resume: the last line)."""
  return {r["step"]: r["loss"] for r in _rows(workdir) if "loss" in r}


def _evals(workdir: str) -> dict[str, float]:
  """The metrics of the evaluators at the last step."""
  return {k: v for r in _rows(workdir) if r["step"] == STEPS for k, v in r.items()
          if k.startswith("docvqa_")}


def _killed_run(flags: list[str]) -> subprocess.CompletedProcess:
  """The trainer in a process that SIGKILLs itself once step KILL_AT's checkpoint is written;
  the emulator's variables reach it through os.environ (the gcs_bucket fixture sets them)."""
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-c", test_train_resume.KILLER, "after_save",
                         str(KILL_AT), *flags], env=env, capture_output=True, text=True,
                        timeout=600, cwd=REPO)


class _Crash(Exception):
  """The end of `_crashed_run`'s run."""


def _crashed_run(flags: list[str]) -> None:
  """The trainer in this process, ended by an exception once step KILL_AT's checkpoint is
  written (the checkpoint committed, as in `_killed_run`)."""
  save = ckpt_lib.Checkpointer.save

  def save_then_crash(self, step, *args, **kwargs):
    save(self, step, *args, **kwargs)
    if step == KILL_AT:
      self.wait_until_finished()
      raise _Crash(step)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(ckpt_lib.Checkpointer, "save", save_then_crash)
    with pytest.raises(_Crash):
      train.main(flags)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tfds", "jsonl"])
def test_docvqa_demo_trains_killed_resumes_exactly_and_evaluates(kind, demo, gcs_bucket,
                                                                 tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(REPO)
  spec = _config(kind, demo, gcs_bucket, tmp_path)
  ref = f"{gcs_bucket}/ref"
  train.main(["--config", spec, "--workdir", ref, *FLAGS])
  want = _losses(ref)
  assert sorted(want) == list(range(1, STEPS + 1))

  run = f"{gcs_bucket}/run"
  if kind == "tfds":
    proc = _killed_run(["--config", spec, "--workdir", run, *FLAGS])
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  else:
    _crashed_run(["--config", spec, "--workdir", run, *FLAGS])
  assert max(_losses(run)) == KILL_AT
  assert fs.listdir(f"{run}/ckpt") == [str(KILL_AT)]

  capsys.readouterr()
  train.main(["--config", spec, "--workdir", run, *FLAGS])  # in this process: one import fewer
  assert f"Resumed from step {KILL_AT}" in capsys.readouterr().out
  assert _losses(run) == want  # every step, bit for bit
  evals = _evals(run)
  assert set(evals) >= {"docvqa_validation/anls", "docvqa_minival_pplx/perplexity"}, evals
  assert evals == _evals(ref)
  assert fs.listdir(f"{run}/ckpt") == [str(KILL_AT), str(STEPS)]
  assert any(n.startswith("events.out.tfevents.") for n in fs.listdir(f"{run}/tb"))


def test_tfds_array_record_source_reads_the_bucket(demo, gcs_bucket, tmp_path):
  """TFDS metadata through epath (gcsfs) and ArrayRecord records through array_record's own GCS
  client, both on the emulator: the engine a grain input pipeline reads TFDS data with."""
  raw = os.path.join(demo, "raw", "docvqa")
  local = str(tmp_path / "tfds")
  docvqa.DocVQA(data_dir=local, file_format="array_record").download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=raw))
  fs.copytree(local, f"{gcs_bucket}/tfds")
  remote = docvqa.DocVQA(data_dir=f"{gcs_bucket}/tfds")
  assert remote.data_dir.startswith(f"{gcs_bucket}/tfds/docvqa/")
  source = remote.as_data_source(split="validation")
  want = docvqa.DocVQA(data_dir=local).as_data_source(split="validation")
  assert len(source) == len(want) == 16
  for i in (0, 7, 15):
    assert source[i]["question_id"] == want[i]["question_id"]
    assert source[i]["image"].tobytes() == want[i]["image"].tobytes()
