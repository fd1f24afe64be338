"""tools.predict on a tiny random HF PaliGemma saved with save_pretrained, and box drawing."""
import json
import shutil

import jax
import numpy as np
from PIL import Image
import pytest
import torch
import transformers

from big_paligemma import loading
from big_paligemma import sharding
from big_paligemma.models import build
from big_paligemma.tokenizer import Tokenizer
from tests import tokenizer_fixture
from tools import predict


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("hf")
  tok_path = tokenizer_fixture.make_tiny_paligemma_tokenizer(str(root / "tok"))
  vocab = Tokenizer.load(tok_path).vocab_size
  torch.manual_seed(0)
  config = transformers.PaliGemmaConfig(
      vision_config=transformers.SiglipVisionConfig(
          hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
          image_size=16, patch_size=8, vision_use_head=False).to_dict(),
      text_config=transformers.GemmaConfig(
          vocab_size=vocab, hidden_size=16, intermediate_size=32, num_attention_heads=2,
          num_key_value_heads=1, head_dim=8, num_hidden_layers=1, pad_token_id=0).to_dict(),
      image_token_index=vocab - 1, projection_dim=16)
  model = transformers.PaliGemmaForConditionalGeneration(config).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      p.normal_(0.0, 0.3 if "norm" in name else 0.5)
  path = root / "model"
  model.save_pretrained(str(path))
  shutil.copy(tok_path, path / "tokenizer.model")
  Image.new("RGB", (20, 12), (200, 30, 30)).save(root / "image.png")
  return str(path), str(root / "image.png")


@pytest.mark.parametrize("sampler", [[], ["--sampler", "beam", "--beam_size", "2"],
                                     ["--sampler", "sample", "--temperature", "3", "--seed", "1"]])
def test_predict_prints_json_with_ids_up_to_eos(hf_dir, capsys, sampler):
  path, image = hf_dir
  tok = Tokenizer.load(f"{path}/tokenizer.model")
  result = predict.main(["--ckpt", path, "--image", image, "--prompt", "caption en",
                         "--max_decode_len", "5", "--json"] + sampler)
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed == result
  ids = result["tokens"]
  assert 1 <= len(ids) <= 5
  assert tok.eos_id not in ids[:-1]  # Stops at the first EOS.
  if len(ids) < 5:
    assert ids[-1] == tok.eos_id
  assert result["text"] == tok.to_str(ids)


def test_greedy_is_deterministic_and_plain_output(hf_dir, capsys):
  path, image = hf_dir
  args = ["--ckpt", path, "--image", image, "--prompt", "answer en what is it?",
          "--max_decode_len", "4"]
  first = predict.main(args)
  assert predict.main(args) == first
  assert capsys.readouterr().out.splitlines()[-1] == first["text"]


def test_out_draws_forced_detection_boxes(hf_dir, tmp_path, monkeypatch):
  path, _ = hf_dir
  image = tmp_path / "white.png"
  Image.new("RGB", (64, 64), (255, 255, 255)).save(image)
  text = "<loc0256><loc0000><loc0767><loc0511> cat"  # y 16..48, x 0..32 of 64 pixels.
  monkeypatch.setattr(predict, "predict", lambda *a, **k: {"text": text, "tokens": []})
  out = str(tmp_path / "boxes.png")
  result = predict.main(["--ckpt", path, "--image", str(image), "--prompt", "detect cat",
                         "--out", out])
  assert result["boxes"] == [["cat", [256 / 1023, 0.0, 767 / 1023, 511 / 1023]]]
  drawn = np.asarray(Image.open(out).convert("RGB")).astype(int)
  red = (drawn[..., 0] > 200) & (drawn[..., 1] < 80)
  # The 2-pixel outline lies inside the box edges (rows 15.98 and 47.98, columns 0 and 31.97).
  assert red[16:18, 20].any() and red[46:48, 20].any()  # top, bottom
  assert red[30, 0:2].any() and red[30, 30:32].any()  # left, right
  assert not red[40, 16] and not red[5, 5] and not red[30, 50]  # inside and outside


def test_missing_tokenizer_is_an_error(hf_dir, tmp_path):
  path, image = hf_dir
  bare = tmp_path / "bare"
  shutil.copytree(path, bare, ignore=shutil.ignore_patterns("tokenizer.model"))
  with pytest.raises(ValueError, match="--tokenizer"):
    predict.main(["--ckpt", str(bare), "--image", image, "--prompt", "caption en"])


def test_hf_directory_loads_onto_the_given_shardings(hf_dir):
  """loading.load_model places an HF directory's params on the shardings its model config asks
  for (evaluators.run: FSDP over the devices, so a model larger than one chip loads)."""
  path, _ = hf_dir
  mesh = sharding.make_mesh([("data", 1), ("fsdp", -1), ("tensor", 1)])
  rules = [(".*/(bias|scale)", "replicate"), (".*", "fsdp")]
  seen = []

  def shardings_for(model_cfg):
    seen.append(model_cfg)
    return sharding.infer_param_shardings(build.abstract_params(model_cfg), rules, mesh,
                                          strict=False)
  model, placed = loading.load_model(path, shardings_for=shardings_for)
  _, plain = loading.load_model(path)
  assert len(seen) == 1 and seen[0].llm.width == model.config.llm.width == 16
  emb = placed["llm"]["embedder"]["input_embedding"]
  assert emb.sharding.mesh == mesh and "fsdp" in tuple(emb.sharding.spec)
  for a, b in zip(jax.tree.leaves(placed), jax.tree.leaves(plain)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
