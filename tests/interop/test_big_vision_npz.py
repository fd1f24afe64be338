"""big_vision .npz checkpoints: save/load round trip, the released per-layer layout, logits,
bfloat16, position-embedding resampling and errors, on tiny PaliGemmas.

The released-layout files are written here key by key from big_vision's module names (vit.py:
Transformer/encoderblock_{i} with LayerNorm_0, MultiHeadDotProductAttention_0/{query,key,value,out},
LayerNorm_1, MlpBlock_0/Dense_{0,1}, encoder_norm, embedding, pos_embedding, head; ppp/gemma.py:
embedder/input_embedding, layers/{i}/{pre_attention_norm, attn/{q,kv,qkv,attn_vec}_einsum/w,
pre_ffw_norm, mlp/{gating_einsum, linear}}, final_norm; utils.load_params: the `params/` subtree).
"""
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_paligemma import tree as tree_lib
from big_paligemma.interop import big_vision
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from big_paligemma.models import build

_IMG = siglip.SigLIPConfig(width=16, depth=2, mlp_dim=32, num_heads=2, patch_size=8, image_size=16)
_LLM = gemma.GemmaConfig(vocab_size=64, num_layers=2, num_heads=2, num_kv_heads=1, width=16,
                         mlp_dim=32, head_dim=8)
CFG = paligemma.PaliGemmaConfig(img=_IMG, llm=_LLM)
# As many kv heads as query heads (big_vision then has one qkv_einsum) and Gemma 2 post-norms.
CFG_MHA = paligemma.PaliGemmaConfig(img=_IMG, llm=dataclasses.replace(
    _LLM, num_kv_heads=2, post_attn_norm=True, post_ffw_norm=True))

_VIT_BLOCK = [f"LayerNorm_{n}/{w}" for n in (0, 1) for w in ("scale", "bias")] + [
    f"MultiHeadDotProductAttention_0/{m}/{w}" for m in ("query", "key", "value", "out")
    for w in ("kernel", "bias")] + [
    f"MlpBlock_0/Dense_{n}/{w}" for n in (0, 1) for w in ("kernel", "bias")]
_VIT_REST = ["embedding/kernel", "embedding/bias", "pos_embedding", "head/kernel", "head/bias",
             "Transformer/encoder_norm/scale", "Transformer/encoder_norm/bias"]


def _random_params(cfg, seed=0, dtype=np.float32) -> dict[str, np.ndarray]:
  """{our path: array} with every leaf random (norm scales included)."""
  rng = np.random.RandomState(seed)
  flat = tree_lib.flatten(build.abstract_params(cfg))
  return {p: rng.normal(0, 0.5, s.shape).astype(dtype) for p, s in flat.items()}


def _gemma_layer_leaves(cfg) -> list[str]:
  norms = ["pre_attention_norm", "pre_ffw_norm"]
  if cfg.llm.post_attn_norm:
    norms += ["post_attention_norm", "post_ffw_norm"]
  return [f"{n}/scale" for n in norms] + ["attn/attn_vec_einsum/w", "mlp/gating_einsum",
                                           "mlp/linear"]


def _write_release(flat, cfg, path, layer_key="layers/{i}", mlp_suffix=""):
  """The params in big_vision's per-layer (scan=False) layout under params/, as np.savez writes."""
  out = {f"params/img/{k}": flat[f"img/{k}"] for k in _VIT_REST}
  for i in range(cfg.img.depth):
    for leaf in _VIT_BLOCK:
      out[f"params/img/Transformer/encoderblock_{i}/{leaf}"] = flat[
          f"img/Transformer/encoderblock/{leaf}"][i]
  out["params/llm/embedder/input_embedding"] = flat["llm/embedder/input_embedding"]
  out["params/llm/final_norm/scale"] = flat["llm/final_norm/scale"]
  for i in range(cfg.llm.num_layers):
    layer = f"params/llm/{layer_key.format(i=i)}"
    for leaf in _gemma_layer_leaves(cfg):
      suffix = mlp_suffix if leaf.startswith("mlp/") else ""
      out[f"{layer}/{leaf}{suffix}"] = flat[f"llm/layers/{leaf}"][i]
    q, kv = flat["llm/layers/attn/q_einsum/w"][i], flat["llm/layers/attn/kv_einsum/w"][i]
    if cfg.llm.num_heads == cfg.llm.num_kv_heads:  # ppp/gemma.py: qkv_einsum [3,N,D,H].
      out[f"{layer}/attn/qkv_einsum/w"] = np.concatenate([q[None], kv])
    else:
      out[f"{layer}/attn/q_einsum/w"], out[f"{layer}/attn/kv_einsum/w"] = q, kv
  out["opt/0/mu/llm/final_norm/scale"] = np.zeros(3, np.float32)  # Optimizer state: not params.
  np.savez(path, **out)


def _assert_equal(got_tree, want_flat, skip=()):
  got = tree_lib.flatten(got_tree)
  assert sorted(got) == sorted(want_flat)
  for p, want in want_flat.items():
    if p not in skip:
      assert got[p].dtype == want.dtype, p
      np.testing.assert_array_equal(np.asarray(got[p]), want, err_msg=p)


@pytest.mark.parametrize("cfg", [CFG, CFG_MHA], ids=["mqa", "mha"])
def test_save_then_load_gives_identical_arrays(cfg, tmp_path):
  flat = _random_params(cfg)
  path = str(tmp_path / "ckpt.npz")
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  assert os.listdir(tmp_path) == ["ckpt.npz"]  # The temporary file was renamed.
  _assert_equal(big_vision.load_npz(path, cfg), flat)

  with np.load(path, allow_pickle=False) as f:  # big_vision's scanned (scan=True) names.
    keys = set(f.files)
    assert all(k.startswith("params/") for k in keys)
    assert "params/img/Transformer/encoderblock/MultiHeadDotProductAttention_0/query/kernel" in keys
    assert "params/img/head/kernel" in keys and "params/llm/embedder/input_embedding" in keys
    if cfg is CFG_MHA:
      qkv = f["params/llm/layers/attn/qkv_einsum/w"]
      assert qkv.shape == (2, 3, 2, 16, 8) and "params/llm/layers/attn/q_einsum/w" not in keys
      np.testing.assert_array_equal(qkv[:, 0], flat["llm/layers/attn/q_einsum/w"])
      np.testing.assert_array_equal(qkv[:, 1:], flat["llm/layers/attn/kv_einsum/w"])
    else:
      assert {"params/llm/layers/attn/q_einsum/w", "params/llm/layers/attn/kv_einsum/w"} <= keys


@pytest.mark.parametrize("cfg,layer_key,mlp_suffix", [
    (CFG, "layers/{i}", ""), (CFG_MHA, "layers/{i}", ""), (CFG, "layer_{i}", "/w")],
    ids=["mqa", "mha_qkv", "orbax_names"])
def test_released_per_layer_layout_loads(cfg, layer_key, mlp_suffix, tmp_path):
  flat = _random_params(cfg, seed=1)
  path = str(tmp_path / "release.npz")
  _write_release(flat, cfg, path, layer_key, mlp_suffix)
  _assert_equal(big_vision.load_npz(path, cfg), flat)


def test_loaded_model_gives_the_same_logits(tmp_path):
  flat = _random_params(CFG, seed=2)
  path = str(tmp_path / "release.npz")
  _write_release(flat, CFG, path)
  loaded = big_vision.load_npz(path, CFG)
  rng = np.random.RandomState(0)
  batch = {"image": rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32),
           "text": rng.randint(0, 64, (2, 5)).astype(np.int32),
           "mask_ar": np.array([[0, 0, 1, 1, 1]] * 2, np.int32),
           "mask_input": np.ones((2, 5), np.int32)}
  model = paligemma.PaliGemma(CFG)
  want, _ = model.apply({"params": tree_lib.unflatten(flat)}, batch)
  got, _ = model.apply({"params": loaded}, batch)
  assert np.abs(np.asarray(want)).max() > 0.1
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_bfloat16_is_stored_as_v2_and_read_back(tmp_path):
  flat = {p: v.astype(jnp.bfloat16) for p, v in _random_params(CFG, seed=3).items()}
  path = str(tmp_path / "bf16.npz")
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  with np.load(path, allow_pickle=False) as f:  # What big_vision's utils.recover_dtype expects.
    assert f["params/llm/final_norm/scale"].dtype == np.dtype("V2")
  _assert_equal(big_vision.load_npz(path), flat)  # No model_cfg: the file's dtypes.
  as_f32 = big_vision.load_npz(path, CFG)  # The model's param dtype (float32).
  _assert_equal(as_f32, {p: v.astype(np.float32) for p, v in flat.items()})


def test_pos_embedding_is_resampled_to_a_larger_image(tmp_path):
  flat = _random_params(CFG, seed=4)
  path = str(tmp_path / "ckpt.npz")
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  cfg_32 = dataclasses.replace(CFG, img=dataclasses.replace(_IMG, image_size=32))
  got = tree_lib.flatten(big_vision.load_npz(path, cfg_32))
  # Bilinear 2 -> 4 with half-pixel centres: rows sample the old grid at -1/4, 1/4, 3/4, 5/4
  # (edges clamped), i.e. weights (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1) per axis.
  w = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]], np.float32)
  grid = flat["img/pos_embedding"].reshape(2, 2, 16)
  want = np.einsum("ia,jb,abd->ijd", w, w, grid).reshape(1, 16, 16)
  np.testing.assert_allclose(np.asarray(got["img/pos_embedding"]), want, rtol=1e-6, atol=1e-6)
  _assert_equal(tree_lib.unflatten(got), flat, skip={"img/pos_embedding"})


def test_errors_list_missing_wrong_shape_and_unexpected_params(tmp_path):
  flat = _random_params(CFG, seed=5)
  arrays = {f"params/{p}": v for p, v in flat.items()}
  del arrays["params/llm/final_norm/scale"]
  arrays["params/img/head/bias"] = np.zeros(7, np.float32)
  arrays["params/img/MAPHead_0/probe"] = np.zeros((1, 1, 16), np.float32)
  path = str(tmp_path / "bad.npz")
  np.savez(path, **arrays)
  with pytest.raises(ValueError) as e:
    big_vision.load_npz(path, CFG)
  msg = str(e.value)
  assert "missing: llm/final_norm/scale (model shape (16,))" in msg
  assert "shape: img/head/bias: file (7,), model (16,)" in msg
  assert "unexpected: img/MAPHead_0/probe" in msg


def test_a_file_that_is_not_an_npz_is_named(tmp_path):
  text = tmp_path / "notes.npz"
  text.write_text("not a zip")
  with pytest.raises(ValueError, match="is not an .npz file"):
    big_vision.load_npz(str(text), CFG)
  with pytest.raises(FileNotFoundError, match="does not exist"):
    big_vision.load_npz(str(tmp_path / "absent.npz"), CFG)
  pickled = str(tmp_path / "objects.npz")
  np.savez(pickled, **{"params/x": np.array([{"a": 1}], dtype=object)})
  with pytest.raises(ValueError, match="pickle"):
    big_vision.load_npz(pickled)


def test_placed_on_the_given_shardings(tmp_path):
  flat = _random_params(CFG, seed=6)
  path = str(tmp_path / "ckpt.npz")
  big_vision.save_npz(tree_lib.unflatten(flat), path)
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("data",))
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, "data"))
  repl = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  rule = lambda p: split if p == "llm/layers/mlp/linear" else repl  # noqa: E731
  got = tree_lib.flatten(big_vision.load_npz(path, CFG, sharding=rule, dtype="bfloat16"))
  assert got["llm/layers/mlp/linear"].sharding == split and got["img/head/bias"].sharding == repl
  assert got["llm/layers/mlp/linear"].dtype == jnp.bfloat16
  want = flat["llm/layers/mlp/linear"].astype(jnp.bfloat16).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(got["llm/layers/mlp/linear"], np.float32), want)
