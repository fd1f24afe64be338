"""configs/transfer/refcoco_seg: published settings, validation, its pp on make_seg_targets data.

Two images of different sizes (16x10 and 8x12) so the eval batch pads the masks and the kept
`size` crops them back; the training text's loss tokens are the target string + EOS.
"""
import json

import numpy as np
from PIL import Image
import pytest

from big_paligemma.data import input_pipeline
from big_paligemma.data import jsonl
from big_paligemma.tokenizer import Tokenizer
from configs.transfer import refcoco_seg
from evaluators import common as ev_common
from evaluators import refcoco_seg as ev_refcoco
import pp
from tests import tokenizer_fixture
from tests.test_segmentation import _random_weights
from tools import make_seg_targets
from big_paligemma import config as cs

SIZES = ((16, 10), (8, 12))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """(seg jsonl path, vae path, tokenizer path, masks)."""
  root = tmp_path_factory.mktemp("refcoco")
  np.savez(root / "vae.npz", **_random_weights(seed=1))
  masks, lines = [], []
  for i, (h, w) in enumerate(SIZES):
    mask = np.zeros((h, w), np.uint8)
    mask[1:h - 2, 2:w - 1] = 255
    masks.append(mask > 0)
    Image.fromarray(mask).save(root / f"m{i}.png")
    Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(root / f"i{i}.png")
    lines.append(json.dumps({"image": f"i{i}.png", "mask": f"m{i}.png", "expression": f"obj {i}"}))
  (root / "in.jsonl").write_text("\n".join(lines) + "\n")
  out = str(root / "seg" / "val.jsonl")
  make_seg_targets.make_targets(str(root / "in.jsonl"), str(root / "vae.npz"), out)
  tok = tokenizer_fixture.make_tiny_paligemma_tokenizer(str(root / "tok"))
  return out, str(root / "vae.npz"), tok, masks


def test_published_settings():
  c = refcoco_seg.get_config()
  assert c.model.preset == "pali_gemma_3b_448" and c.total_epochs == 100
  assert (c.optim.lr, c.optim.wd, c.loss.label_smoothing) == (1e-5, 0.0, 0.3)
  assert c.input.batch_size == 256
  assert (c.optim.optax.b2, c.optim.grad_clip_norm) == (0.999, 1.0)
  assert "tolen(48" in c.input.pp and "segment {expression}" in c.input.pp
  r224 = refcoco_seg.get_config("res=224")
  assert (r224.optim.lr, r224.model.overrides.llm.dropout) == (3e-5, 0.1)
  assert refcoco_seg.get_config("res=896").input.batch_size == 64
  (ev,) = c.evals.values()
  assert ev.type == "refcoco_seg" and ev.max_decode_len >= 20 and ev.vae_path == "vae-oid.npz"
  ev_common.check_config("refcoco_seg_val", ev.to_dict(), ev_refcoco.RefCocoSegEvaluator.DEFAULTS)
  with pytest.raises(cs.ConfigError, match="res=300; allowed"):
    refcoco_seg.get_config("res=300")
  with pytest.raises(cs.ConfigError, match="no :demo mode"):
    refcoco_seg.get_config("demo")


def test_config_validates():
  for res in (224, 448, 896):
    cs.validate(refcoco_seg.get_config(f"res={res},vae=/x/vae.npz"))


def test_train_pp_target_is_the_loss_text(data):
  path, vae, tok, _ = data
  c = refcoco_seg.get_config(f"res=224,train={path},val={path},vae={vae},tokenizer={tok}")
  ex = next(iter(jsonl.load(path)))
  out = pp.get_preprocess_fn(c.input.pp, tokenizer_path=tok)(ex)
  text, loss = out["text"].numpy(), out["mask_loss"].numpy()
  tokenizer = Tokenizer.load(tok)
  assert text[loss == 1][-1] == tokenizer.eos_id
  assert tokenizer.decode(text[loss == 1][:-1].tolist()) == ex["suffix"].numpy().decode()
  assert out["image"].shape == (224, 224, 3)


def test_eval_batch_masks_crop_back_to_original(data):
  path, vae, tok, masks = data
  c = refcoco_seg.get_config(f"res=224,train={path},val={path},vae={vae},tokenizer={tok}")
  ev = c.evals.refcoco_seg_val
  fn = pp.get_preprocess_fn(ev.pp, tokenizer_path=tok)
  batch = next(iter(input_pipeline.make_eval_iterator(ev.data, fn, global_batch_size=2)))
  assert batch["mask"].shape == (2, 16, 12)  # padded to the largest of the batch
  np.testing.assert_array_equal(batch["size"], SIZES)
  for i, want in enumerate(masks):
    np.testing.assert_array_equal(ev_refcoco.gt_mask(batch["mask"][i], batch["size"][i]), want)


RUN_CONFIG = '''
from configs.transfer import refcoco_seg

def get_config(arg=None):
  c = refcoco_seg.get_config(arg)
  c.model = dict(preset=None, overrides={},
                 img=dict(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=56,
                          image_size=224),
                 llm=dict(vocab_size=1664, num_layers=1, num_heads=2, num_kv_heads=1, width=32,
                          mlp_dim=64, head_dim=16))
  c.total_epochs, c.total_steps = None, 2
  c.input.update(batch_size=8, shuffle_buffer=2, num_parallel=1)  # 8 test devices
  c.log_every = 1
  c.evals.refcoco_seg_val.update(batch_size=8, every="100%")
  return c
'''


def test_trainer_trains_and_scores_the_config(data, tmp_path):
  """trainers.train runs the config itself (a tiny model swapped in) and its evaluator scores the
  validation split at the end: every key of the evaluator's result in metrics.jsonl."""
  from trainers import train  # pylint: disable=import-outside-toplevel
  path, vae, tok, _ = data
  (tmp_path / "run_config.py").write_text(RUN_CONFIG)
  spec = f"{tmp_path / 'run_config.py'}:res=224,train={path},val={path},vae={vae},tokenizer={tok}"
  train.main(["--config", spec, "--workdir", str(tmp_path / "work")])
  lines = (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()
  rows = [json.loads(line) for line in lines]
  scores = [r for r in rows if "refcoco_seg_val/miou" in r]
  assert [r["step"] for r in scores] == [2]
  (got,) = scores
  assert got["refcoco_seg_val/total"] == len(SIZES)
  for key in ("miou", "ciou"):
    assert 0.0 <= got[f"refcoco_seg_val/{key}"] <= 1.0
