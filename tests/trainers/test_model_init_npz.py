"""model_init from a big_vision .npz: at a larger image size than the file's; in a trainer run."""
import dataclasses
import math

import jax
import numpy as np

from big_paligemma import tree as tree_lib
from big_paligemma.interop import big_vision
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from big_paligemma.models import build
from big_paligemma import loading
from big_paligemma import config as config_lib
from tests.trainers.test_train_smoke import read_losses
from tests.trainers.test_train_smoke import write_run
from trainers import train


def _random_npz(cfg, path, seed=0, **fixed) -> dict[str, np.ndarray]:
  """Random params of `cfg` (leaves in `fixed` given) saved to `path`; returns them flat."""
  rng = np.random.RandomState(seed)
  flat = {p: fixed.get(p, rng.normal(0, 0.5, s.shape).astype(np.float32))
          for p, s in tree_lib.flatten(build.abstract_params(cfg)).items()}
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  return flat


def test_model_init_from_npz_at_a_larger_image_size(tmp_path):
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                            image_size=32)
  llm = gemma.GemmaConfig(vocab_size=64, num_layers=1, num_heads=2, num_kv_heads=1, width=16,
                          mlp_dim=32, head_dim=8)
  saved_cfg = paligemma.PaliGemmaConfig(img=img, llm=llm)
  path = str(tmp_path / "pt_32.npz")
  flat = _random_npz(saved_cfg, path)
  model_cfg = dataclasses.replace(saved_cfg, img=dataclasses.replace(img, image_size=48))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  shardings = jax.tree.map(lambda _: device, build.abstract_params(model_cfg))

  got = tree_lib.flatten(loading.load_params(path, model_cfg, shardings))

  assert got["img/pos_embedding"].shape == (1, 36, 16) and flat["img/pos_embedding"].shape[1] == 16
  assert sorted(got) == sorted(flat)
  for p in got:
    if p != "img/pos_embedding":
      np.testing.assert_array_equal(np.asarray(got[p]), flat[p], err_msg=p)


def test_trainer_run_starts_from_the_npz(tmp_path):
  """Zero token embeddings make every logit 0 whatever the other weights, so the first step's loss
  (before its update) is exactly log(V): it comes from the file, not from a random init."""
  spec = write_run(tmp_path / "run")
  model_cfg = build.model_config(config_lib.load_config(spec))
  vocab = model_cfg.llm.vocab_size
  embedder = "llm/embedder/input_embedding"
  path = str(tmp_path / "init.npz")
  _random_npz(model_cfg, path, **{embedder: np.zeros((vocab, model_cfg.llm.width), np.float32)})
  workdir = tmp_path / "work"

  train.main(["--config", spec + ",steps=1", "--workdir", str(workdir),
              f"--config.model_init={path}"])

  losses = read_losses(workdir)
  assert list(losses) == [1]
  np.testing.assert_allclose(losses[1], math.log(vocab), rtol=1e-5)
