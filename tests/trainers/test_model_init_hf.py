"""model_init from an HF PaliGemma directory, at another image size than the checkpoint's."""
import dataclasses
import json

import jax
import numpy as np
import torch
import transformers

from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf
from big_paligemma.interop import hf_paligemma
from big_paligemma.models import build
from big_paligemma import loading


def test_model_init_from_hf_dir_at_a_larger_image_size(tmp_path):
  torch.manual_seed(0)
  vision = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32,
                                           num_hidden_layers=1, num_attention_heads=2,
                                           image_size=32, patch_size=8)
  text = transformers.GemmaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                  num_hidden_layers=1, num_attention_heads=2,
                                  num_key_value_heads=1, head_dim=8)
  config = transformers.PaliGemmaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                                        image_token_index=63, projection_dim=16)
  transformers.PaliGemmaForConditionalGeneration(config).save_pretrained(tmp_path)
  with open(tmp_path / "config.json") as f:
    saved_cfg = hf_paligemma.paligemma_config_from_hf(json.load(f))
  model_cfg = dataclasses.replace(saved_cfg, img=dataclasses.replace(saved_cfg.img, image_size=48))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  shardings = jax.tree.map(lambda _: device, build.abstract_params(model_cfg))

  params = loading.load_params(str(tmp_path), model_cfg, shardings)

  _, _, at_32 = hf.load_hf(str(tmp_path))
  got, ref = tree_lib.flatten(params), tree_lib.flatten(at_32)
  assert got["img/pos_embedding"].shape == (1, 36, 16) and ref["img/pos_embedding"].shape[1] == 16
  for path in got:
    if path != "img/pos_embedding":
      np.testing.assert_array_equal(np.asarray(got[path]), np.asarray(ref[path]), err_msg=path)
