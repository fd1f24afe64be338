"""The vae-oid.npz mask VQ-VAE: loading, decoder/encoder vs torch on the same random weights,
pasting into boxes and parsing answers.

The key layout is written here by hand from big_vision's converter (decoder.0 1x1 E -> 128,
residual blocks decoder.2/3 with net.0/2/4, transposed convs decoder.4/6/8/10 halving the width from
128, decoder.12 1x1 -> 1; encoder.0/2/4/6 stride 2, encoder.8/9 residual, encoder.10 -> E).
"""
import numpy as np
import pytest
import torch
from torch import nn

from big_paligemma import segmentation as seg

E = 512


def _res(prefix, c):
  return {f"{prefix}.net.0.weight": (c, c, 3, 3), f"{prefix}.net.0.bias": (c,),
          f"{prefix}.net.2.weight": (c, c, 3, 3), f"{prefix}.net.2.bias": (c,),
          f"{prefix}.net.4.weight": (c, c, 1, 1), f"{prefix}.net.4.bias": (c,)}


def _layout():
  shapes = {"_vq_vae._embedding": (128, E), "decoder.0.weight": (128, E, 1, 1),
            "decoder.0.bias": (128,), **_res("decoder.2", 128), **_res("decoder.3", 128),
            "decoder.12.weight": (1, 16, 1, 1), "decoder.12.bias": (1,)}
  for i, (cin, cout) in zip((4, 6, 8, 10), ((128, 128), (128, 64), (64, 32), (32, 16))):
    shapes.update({f"decoder.{i}.weight": (cin, cout, 4, 4), f"decoder.{i}.bias": (cout,)})
  for i, (cin, cout) in zip((0, 2, 4, 6), ((1, 16), (16, 32), (32, 64), (64, 128))):
    shapes.update({f"encoder.{i}.weight": (cout, cin, 4, 4), f"encoder.{i}.bias": (cout,)})
  shapes.update({**_res("encoder.8", 128), **_res("encoder.9", 128),
                 "encoder.10.weight": (E, 128, 1, 1), "encoder.10.bias": (E,)})
  return shapes


def _random_weights(seed=0):
  rng = np.random.default_rng(seed)
  out = {}
  for k, shape in _layout().items():
    fan_in = np.prod(shape[1:]) if len(shape) == 4 else 1
    if ".decoder." in f".{k}" and len(shape) == 4 and shape[2] == 4:
      fan_in = shape[0] * 16  # transposed conv: weight [I, O, k, k]
    out[k] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)
  return out


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("vae") / "vae-oid.npz")
  weights = _random_weights()
  np.savez(path, **weights)
  return path, weights


class _Res(nn.Module):

  def __init__(self, c):
    super().__init__()
    self.net = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 1))

  def forward(self, x):
    return x + self.net(x)


def _torch_vae():
  up = lambda i, o: [nn.ConvTranspose2d(i, o, 4, stride=2, padding=1), nn.ReLU()]
  down = lambda i, o: [nn.Conv2d(i, o, 4, stride=2, padding=1), nn.ReLU()]  # = TF SAME here
  vae = nn.Module()
  vae.decoder = nn.Sequential(nn.Conv2d(E, 128, 1), nn.ReLU(), _Res(128), _Res(128), *up(128, 128),
                              *up(128, 64), *up(64, 32), *up(32, 16), nn.Conv2d(16, 1, 1))
  vae.encoder = nn.Sequential(*down(1, 16), *down(16, 32), *down(32, 64), *down(64, 128),
                              _Res(128), _Res(128), nn.Conv2d(128, E, 1))
  return vae


def _load_torch(weights):
  vae = _torch_vae()
  state = {k: torch.from_numpy(v) for k, v in weights.items() if k != "_vq_vae._embedding"}
  vae.load_state_dict(state, strict=True)
  return vae


def test_decoder_matches_torch_on_the_same_weights(npz):
  path, weights = npz
  params = seg.load_mask_decoder(path)
  codes = np.random.default_rng(1).integers(0, 128, size=(3, 16))
  got = seg.decode_masks(params, codes)
  assert got.shape == (3, 64, 64) and got.dtype == np.float32 and np.isfinite(got).all()
  emb = torch.from_numpy(weights["_vq_vae._embedding"])
  x = emb[torch.from_numpy(codes)].reshape(3, 4, 4, E).permute(0, 3, 1, 2)  # code i at (i//4, i%4)
  with torch.no_grad():
    want = _load_torch(weights).decoder(x)[:, 0].numpy()
  assert got.std() > 0.1  # not a degenerate all-equal output
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_encoder_matches_torch_argmin(npz):
  path, weights = npz
  module, params = seg.load_mask_encoder(path)
  assert (module.widths, module.kernels, module.res_kernel, module.code_dim) == (
      (16, 32, 64, 128), (4, 4, 4, 4), 3, E)
  masks = np.zeros((2, 64, 64), np.float32)
  masks[0, 10:40, 5:60] = 1.0
  masks[1, 30:, :20] = 0.5
  got = seg.encode_masks(module, params, masks)
  with torch.no_grad():
    z = _load_torch(weights).encoder(torch.from_numpy(2 * masks[:, None] - 1))  # [B,E,4,4]
  flat = z.permute(0, 2, 3, 1).reshape(2, 16, E).numpy().astype(np.float64)
  emb = weights["_vq_vae._embedding"].astype(np.float64)
  want = ((flat[:, :, None] - emb[None, None]) ** 2).sum(-1).argmin(-1)
  np.testing.assert_array_equal(got, want)


def test_load_lists_every_bad_key_in_one_error(tmp_path):
  weights = _random_weights()
  del weights["decoder.6.bias"]
  weights["decoder.4.weight"] = weights["decoder.4.weight"][:, :, :3]
  weights["decoder.99.weight"] = np.zeros(3, np.float32)
  path = str(tmp_path / "bad.npz")
  np.savez(path, **weights)
  with pytest.raises(ValueError) as e:
    seg.load_mask_decoder(path)
  msg = str(e.value)
  assert "['decoder.6.bias']" in msg and "['decoder.99.weight']" in msg
  assert "decoder.4.weight: (128, 128, 3, 4) (want (128, 128, 4, 4))" in msg


def test_decode_rejects_bad_codes(npz):
  params = seg.load_mask_decoder(npz[0])
  with pytest.raises(ValueError, match="0..127"):
    seg.decode_masks(params, np.full((1, 16), 128))
  with pytest.raises(ValueError, match=r"\[B, 16\]"):
    seg.decode_masks(params, np.zeros((1, 15), int))


def test_paste_mask_into_boxes():
  full = np.ones((64, 64), np.float32)
  got = seg.paste_mask(full, (0.25, 0.5, 0.75, 1.0), (8, 16))  # pixels rows 2..5, cols 8..15
  want = np.zeros((8, 16), bool)
  want[2:6, 8:16] = True
  np.testing.assert_array_equal(got, want)
  # int() truncates: 0.39 * 10 = 3.9 -> 3, 0.91 * 10 = 9.1 -> 9.
  got = seg.paste_mask(full, (0.39, 0.0, 0.91, 0.5), (10, 4))
  assert got[3:9, 0:2].all() and got.sum() == 6 * 2
  # Left half +1, right half -1, scaled x2: output column 63 samples input 31.25 -> 0.5 (in),
  # column 64 samples 31.75 -> -0.5 (out); so exactly the left 64 of 128 columns.
  halves = np.where(np.arange(64) < 32, 1.0, -1.0)[None].repeat(64, 0).astype(np.float32)
  got = seg.paste_mask(halves, (0.0, 0.0, 1.0, 1.0), (128, 128))
  assert got[:, :64].all() and not got[:, 64:].any()
  assert not seg.paste_mask(full, (0.5, 0.2, 0.5, 0.9), (20, 20)).any()  # no rows
  assert not seg.paste_mask(-full, (0.0, 0.0, 1.0, 1.0), (20, 20)).any()  # all <= 0


def test_parse_answer():
  codes = "".join(f"<seg{i * 8:03d}>" for i in range(16))
  box, got = seg.parse_answer(f"<loc0000><loc0102><loc1023><loc0511>{codes} cat ; <loc0001>")
  assert box == pytest.approx((0.0, 102 / 1023, 1.0, 511 / 1023))
  assert got == [i * 8 for i in range(16)]
  assert seg.parse_answer(f"<loc0000><loc0102><loc1023>{codes}") is None  # 3 locs
  assert seg.parse_answer("<loc0000><loc0102><loc1023><loc0511>" + codes[:-8]) is None  # 15 codes
  assert seg.parse_answer("a cat <loc0000><loc0102><loc1023><loc0511>" + codes) is None
  assert seg.parse_answer("<loc0000><loc0102><loc1023><loc0511>" + codes[:-8] + "<seg128>") is None
