"""SigLIP encoder and its HF converter, checked against transformers' SiglipVisionModel (torch CPU)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import traverse_util
from safetensors import safe_open

from big_paligemma.interop import hf_siglip
from big_paligemma.models import siglip

HF_TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               patch_size=8, image_size=32)


@pytest.fixture(scope="module")
def hf_saved(tmp_path_factory):
  """(torch model, {HF key: np array}) of a tiny random SiglipVisionModel read back from disk."""
  torch.manual_seed(0)
  config = transformers.SiglipVisionConfig(**HF_TINY, attn_implementation="eager")
  model = transformers.SiglipVisionModel(config).eval()
  with torch.no_grad():  # Non-trivial norms and biases, so that every tensor matters.
    for p in model.parameters():
      p.normal_(0.0, 0.2)
  path = tmp_path_factory.mktemp("siglip")
  model.save_pretrained(path)
  with safe_open(str(path / "model.safetensors"), framework="np") as f:
    tensors = {k.removeprefix("vision_model."): f.get_tensor(k) for k in f.keys()}
  return model, tensors


def _config(**overrides):
  fields = dict(width=32, depth=2, mlp_dim=64, num_heads=4, patch_size=8, image_size=32,
                pool_type="map")
  return siglip.SigLIPConfig(**{**fields, **overrides})


def _params(tensors, cfg):
  flat = dict(hf_siglip.convert_siglip(tensors.__getitem__, cfg))
  return traverse_util.unflatten_dict(flat, sep="/")


def _init(cfg, images):
  return jax.jit(siglip.SigLIP(cfg).init)(jax.random.PRNGKey(0), images)["params"]


def _apply(cfg, params, images):
  return jax.jit(siglip.SigLIP(cfg).apply)({"params": params}, images)


def _images(size, batch=2, seed=1):
  return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def _hf_run(model, images, **kwargs):
  with torch.no_grad():
    out = model(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)), **kwargs)
  return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def test_config_from_hf_and_hf_parity(hf_saved):
  model, tensors = hf_saved
  cfg = hf_siglip.siglip_config_from_hf(model.config.to_dict())
  assert cfg == _config()
  images = _images(32)
  want_tokens, want_pooled = _hf_run(model, images)
  params = _params(tensors, cfg)
  # Observed max diff ~2e-7; 1e-5 (tighter than the 1e-4 asked for) also catches an erf-GELU (7e-5).
  pooled, aux = _apply(cfg, params, images)
  none_cfg = dataclasses.replace(cfg, pool_type="none")
  tokens, _ = _apply(none_cfg, _params(tensors, none_cfg), images)
  assert tokens.shape == (2, 16, 32) and pooled.shape == (2, 32)
  np.testing.assert_allclose(tokens, want_tokens, atol=1e-5, rtol=0)
  np.testing.assert_allclose(aux["encoded"], want_tokens, atol=1e-5, rtol=0)
  np.testing.assert_allclose(pooled, want_pooled, atol=1e-5, rtol=0)


def test_round_trip_to_hf_is_exact(hf_saved):
  _, tensors = hf_saved
  cfg = _config()
  back = dict(hf_siglip.siglip_to_hf(_params(tensors, cfg), cfg))
  assert sorted(back) == sorted(tensors)
  for key, value in tensors.items():
    np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_converter_rejects_config_mismatch(hf_saved):
  _, tensors = hf_saved
  with pytest.raises(ValueError, match="patch_embedding"):
    dict(hf_siglip.convert_siglip(tensors.__getitem__, _config(patch_size=16)))


def test_bfloat16_compute_close_to_float32(hf_saved):
  _, tensors = hf_saved
  params = _params(tensors, _config())
  images = _images(32)
  want, _ = _apply(_config(pool_type="none"), params, images)
  got, _ = _apply(_config(pool_type="none", dtype="bfloat16"), params, images)
  assert got.dtype == jnp.bfloat16
  # Outputs are LayerNorm-ed (|x| <~ 1.3); bf16 has a relative step of 2^-8 ~ 4e-3. Observed:
  # max 8e-3, mean 8e-4 over 2 blocks; the bounds leave about 4x headroom.
  err = np.abs(np.asarray(got, np.float32) - np.asarray(want))
  assert err.max() < 0.03 and err.mean() < 0.003, (err.max(), err.mean())


def test_scan_unrolled_and_remat_agree():
  cfg = _config(depth=3, pool_type="none")
  images = _images(32)
  params = _init(cfg, images)
  loss = lambda c: lambda p: jnp.sum(siglip.SigLIP(c).apply({"params": p}, images)[0] ** 2)
  variants = [cfg, dataclasses.replace(cfg, scan_unroll=3),
              dataclasses.replace(cfg, remat_policy="nothing_saveable")]
  for c in variants[1:]:
    tree = jax.eval_shape(siglip.SigLIP(c).init, jax.random.PRNGKey(0), images)["params"]
    assert jax.tree.map(jnp.shape, tree) == jax.tree.map(jnp.shape, params)
  outs = [jax.jit(jax.value_and_grad(loss(c)))(params) for c in variants]
  for value, grads in outs[1:]:
    np.testing.assert_allclose(value, outs[0][0], rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 grads, outs[0][1])


def test_parameter_free_pooling():
  images = _images(32)
  cfg = _config(pool_type="none")
  params = _init(cfg, images)
  tokens, _ = _apply(cfg, params, images)
  for pool_type in ("gap", "0", "tok"):
    pooled, aux = _apply(_config(pool_type=pool_type), params, images)
    want = tokens.mean(axis=1) if pool_type == "gap" else tokens[:, 0]
    np.testing.assert_allclose(pooled, want, atol=1e-6, err_msg=pool_type)
    np.testing.assert_array_equal(aux["encoded"], tokens)


def test_resample_posemb_same_grid_is_identity():
  posemb = jnp.asarray(np.random.default_rng(0).normal(size=(1, 16, 5)), jnp.float32)
  np.testing.assert_array_equal(siglip.resample_posemb(posemb, 4), posemb)


def test_resample_posemb_linear_ramp():
  # posemb[r, c] = (r, 10 c) on a 4x4 grid, resized to 6x6. With half-pixel centres, output index j
  # samples input coordinate (j + 0.5) * 4/6 - 0.5, clamped to [0, 3]; bilinear is exact on a ramp.
  r, c = np.meshgrid(np.arange(4.0), np.arange(4.0), indexing="ij")
  posemb = np.stack([r, 10 * c], -1).reshape(1, 16, 2).astype(np.float32)
  got = np.asarray(siglip.resample_posemb(jnp.asarray(posemb), 6)).reshape(6, 6, 2)
  coord = np.clip((np.arange(6) + 0.5) * 4 / 6 - 0.5, 0, 3)  # [0, 1/2, 7/6, 11/6, 5/2, 3]
  np.testing.assert_allclose(got[:, :, 0], np.broadcast_to(coord[:, None], (6, 6)), atol=1e-6)
  np.testing.assert_allclose(got[:, :, 1], np.broadcast_to(10 * coord[None, :], (6, 6)), atol=1e-5)
  # The same as torch's bilinear interpolation with align_corners=False on any grid.
  x = np.random.default_rng(0).normal(size=(1, 16, 3)).astype(np.float32)
  grid = torch.from_numpy(x.reshape(1, 4, 4, 3).transpose(0, 3, 1, 2))
  want = torch.nn.functional.interpolate(grid, size=(7, 7), mode="bilinear", align_corners=False)
  want = want.numpy().transpose(0, 2, 3, 1).reshape(1, 49, 3)
  np.testing.assert_allclose(siglip.resample_posemb(jnp.asarray(x), 7), want, atol=1e-5)


def test_larger_image_with_resampled_posemb_matches_hf(hf_saved):
  # HF's interpolate_pos_encoding resamples bicubically (torch, a=-0.75), which our bilinear
  # resample_posemb does not reproduce; so give our model HF's resampled grid and check the rest.
  model, tensors = hf_saved
  images = _images(48)
  want_tokens, want_pooled = _hf_run(model, images, interpolate_pos_encoding=True)
  with torch.no_grad():
    embeds = torch.zeros(1, 36, 32)
    posemb = model.embeddings.interpolate_pos_encoding(embeds, 48, 48).numpy()
  cfg = _config(image_size=48)
  params = _params(tensors, _config())
  params["pos_embedding"] = posemb
  pooled, aux = _apply(cfg, params, images)
  np.testing.assert_allclose(aux["encoded"], want_tokens, atol=1e-5, rtol=0)
  np.testing.assert_allclose(pooled, want_pooled, atol=1e-5, rtol=0)
  # Our own resample gives the right shape and runs.
  params["pos_embedding"] = siglip.resample_posemb(jnp.asarray(tensors[
      "embeddings.position_embedding.weight"])[None], 6)
  assert _apply(cfg, params, images)[0].shape == (2, 32)


def test_variants_and_errors():
  assert dataclasses.astuple(siglip.siglip_variant("B/16"))[:5] == (768, 12, 3072, 12, 16)
  assert dataclasses.astuple(siglip.siglip_variant("L/16"))[:5] == (1024, 24, 4096, 16, 16)
  so = siglip.siglip_variant("So400m/14", image_size=448, pool_type="map")
  assert (so.width, so.depth, so.mlp_dim, so.num_heads, so.patch_size) == (1152, 27, 4304, 16, 14)
  assert so.num_patches == 1024
  with pytest.raises(ValueError, match="known: .*So400m"):
    siglip.siglip_variant("So401m/14")
  with pytest.raises(ValueError, match="width=30 is not divisible by num_heads=4"):
    _config(width=30)
  with pytest.raises(ValueError, match="image_size=30 is not divisible by patch_size=8"):
    _config(image_size=30)
  with pytest.raises(ValueError, match="pool_type"):
    _config(pool_type="cls")
  with pytest.raises(ValueError, match="remat_policy"):
    _config(remat_policy="save_everything")
  with pytest.raises(ValueError, match="Unknown SigLIPConfig fields"):
    siglip.siglip_variant("B/16", widht=8)
  with pytest.raises(ValueError, match="resample_posemb"):
    siglip.SigLIP(_config()).init(jax.random.PRNGKey(0), jnp.zeros((1, 40, 40, 3)))


def _hf_meta_count(use_head):
  config = transformers.SiglipVisionConfig(
      hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
      patch_size=14, image_size=224, vision_use_head=use_head)
  with torch.device("meta"):
    model = transformers.SiglipVisionModel(config)
  return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("pool_type,use_head", [("map", True), ("none", False)])
def test_so400m_shapes_and_param_count(pool_type, use_head):
  for res, patches in ((224, 256), (448, 1024), (896, 4096)):
    cfg = siglip.siglip_variant("So400m/14", image_size=res, pool_type=pool_type)
    images = jax.ShapeDtypeStruct((2, res, res, 3), jnp.float32)
    tree = jax.eval_shape(siglip.SigLIP(cfg).init, jax.random.PRNGKey(0), images)
    out, aux = jax.eval_shape(siglip.SigLIP(cfg).apply, tree, images)
    assert aux["encoded"].shape == (2, patches, 1152)
    assert out.shape == ((2, 1152) if pool_type == "map" else (2, patches, 1152))
    if res == 224:
      count = sum(np.prod(x.shape) for x in jax.tree.leaves(tree))
      assert count == cfg.num_params() == _hf_meta_count(use_head)
      assert abs(count - (428e6 if use_head else 412e6)) < 2e6, count
