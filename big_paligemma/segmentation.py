"""PaliGemma segmentation masks: the VQ-VAE of big_vision's `vae-oid.npz` (no TensorFlow).

A "segment <object>" answer is 4 `<locNNNN>` tokens (y0 x0 y1 x1, each round(v * 1023)) and 16
`<segNNN>` codes (0..127). The codes index a codebook [128, E] (E = 512 in vae-oid.npz as public
ports load it; the loader reads E from the file); the 16 vectors form a 4x4 grid that the decoder
upsamples to a 64x64 mask, which is resized into the box.

Parameters keep the file's PyTorch names and layouts: the key `decoder.2.net.0.weight` is the path
`decoder/2/net/0/weight`; conv weights are [O, I, kh, kw], transposed-conv weights [I, O, kh, kw].
Decoder (the published layer structure; channels 128 -> 128 -> 64 -> 32 -> 16 -> 1):
  decoder.0 1x1 conv E -> 128, relu; decoder.2, decoder.3 residual blocks
  (x + conv1x1(relu(conv3x3(relu(conv3x3(x)))))); decoder.4/6/8/10 transposed convs 4x4, stride 2,
  padding 1 (4 -> 8 -> 16 -> 32 -> 64 px), each followed by relu; decoder.12 1x1 conv -> 1.
The decoder's output is not clipped; big_vision documents it as in [-1, 1] (the encoder sees masks
as 2 * m - 1) and counts a pixel as inside the object iff its value is > 0.

Encoder (mask -> 16 codes, for training targets), as big_vision computes it: the 64x64 mask in
[0, 1] mapped to 2 * m - 1; encoder.0/2/4/6 convs with stride 2 and TF "SAME" padding, each followed
by relu (64 -> 4 px); residual blocks encoder.8, encoder.9; conv encoder.10 to E channels; each of
the 4x4 vectors -> index of the nearest codebook row (squared L2). The encoder's kernel sizes and
widths are not published next to the code, so `load_mask_encoder` reads them from the file.
"""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from big_paligemma import fs
from big_paligemma import loc_tokens
from big_paligemma import tree as tree_lib

NUM_CODES = loc_tokens.NUM_SEG  # <seg000> .. <seg127>
NUM_MASK_TOKENS = 16  # a 4x4 grid of codes per mask
MASK_SIZE = 64
CODE_DIM = 512  # codebook vector width E in vae-oid.npz
_DN = ("NHWC", "OIHW", "NHWC")
_ANSWER = re.compile(r"\s*" + r"<loc(\d{4})>" * 4 + r"((?:\s*<seg\d{3}>)*)")


class TorchConv(nn.Module):
  """2-D conv over NHWC with PyTorch-layout params `weight` [O, I, k, k] and `bias` [O].

  transpose=True is torch's ConvTranspose2d (weight [I, O, k, k]; torch padding p is XLA padding
  k - 1 - p of the dilated input). `padding` is torch's integer padding or "SAME" (TF rule).
  """
  features: int
  kernel: int
  stride: int = 1
  padding: int | str = 0
  transpose: bool = False

  @nn.compact
  def __call__(self, x):  # [B,H,W,C] -> [B,H',W',features]
    c, k = x.shape[-1], self.kernel
    shape = (c, self.features, k, k) if self.transpose else (self.features, c, k, k)
    init = nn.initializers.lecun_normal(in_axis=0 if self.transpose else 1,
                                        out_axis=1 if self.transpose else 0, batch_axis=(2, 3))
    w = self.param("weight", init, shape)
    b = self.param("bias", nn.initializers.zeros, (self.features,))
    strides = (self.stride, self.stride)
    if self.transpose:
      p = k - 1 - self.padding
      y = jax.lax.conv_transpose(x, w, strides, ((p, p), (p, p)), dimension_numbers=_DN,
                                 transpose_kernel=True)
    else:
      pad = self.padding if isinstance(self.padding, str) else ((self.padding,) * 2,) * 2
      y = jax.lax.conv_general_dilated(x, w, strides, pad, dimension_numbers=_DN)
    return y + b


class ResNet(nn.Module):
  """The residual branch `net`: conv3x3 (`0`), relu, conv3x3 (`2`), relu, conv1x1 (`4`)."""
  kernel: int = 3

  @nn.compact
  def __call__(self, x):  # [B,H,W,C] -> [B,H,W,C]
    c, k = x.shape[-1], self.kernel
    x = nn.relu(TorchConv(c, k, padding=k // 2, name="0")(x))
    x = nn.relu(TorchConv(c, k, padding=k // 2, name="2")(x))
    return TorchConv(c, 1, name="4")(x)


class ResBlock(nn.Module):
  """x + net(x)."""
  kernel: int = 3

  @nn.compact
  def __call__(self, x):  # [B,H,W,C]
    return x + ResNet(self.kernel, name="net")(x)


class Codebook(nn.Module):
  """The VQ codebook `_vq_vae/_embedding` [NUM_CODES, E]."""
  num_codes: int = NUM_CODES
  dim: int = CODE_DIM

  @nn.compact
  def __call__(self):  # -> [NUM_CODES, E]
    return self.param("_embedding", nn.initializers.normal(1.0), (self.num_codes, self.dim))


class DecoderNet(nn.Module):
  """`decoder.*`: a [B,4,4,E] grid of code vectors -> [B,64,64,1] mask logits."""
  width: int = 128

  @nn.compact
  def __call__(self, x):
    x = nn.relu(TorchConv(self.width, 1, name="0")(x))
    x = ResBlock(name="3")(ResBlock(name="2")(x))
    dim = self.width
    for i in (4, 6, 8, 10):  # 4 -> 8 -> 16 -> 32 -> 64 px
      x = nn.relu(TorchConv(dim, 4, stride=2, padding=1, transpose=True, name=str(i))(x))
      dim //= 2
    return TorchConv(1, 1, name="12")(x)


class MaskDecoder(nn.Module):
  """Seg codes [B,16] (0..127) -> mask logits [B,64,64] (> 0 inside); params as in vae-oid.npz."""
  code_dim: int = CODE_DIM
  width: int = 128

  @nn.compact
  def __call__(self, codes):
    emb = Codebook(dim=self.code_dim, name="_vq_vae")()  # [NUM_CODES,E]
    b = codes.shape[0]
    x = jnp.take(emb, codes, axis=0).reshape(b, 4, 4, self.code_dim)  # row-major 4x4 grid
    return DecoderNet(self.width, name="decoder")(x)[..., 0]


class EncoderNet(nn.Module):
  """`encoder.*`: [B,64,64,1] in [-1, 1] -> [B,4,4,E]; sizes as read from the checkpoint."""
  widths: tuple[int, ...]  # out channels of encoder.0/2/4/6
  kernels: tuple[int, ...]  # kernel sizes of encoder.0/2/4/6
  res_kernel: int
  code_dim: int

  @nn.compact
  def __call__(self, x):
    for n, (w, k) in enumerate(zip(self.widths, self.kernels)):
      x = nn.relu(TorchConv(w, k, stride=2, padding="SAME", name=str(2 * n))(x))
    x = ResBlock(self.res_kernel, name="9")(ResBlock(self.res_kernel, name="8")(x))
    return TorchConv(self.code_dim, 1, name="10")(x)


class MaskEncoder(nn.Module):
  """Masks [B,64,64] in [0, 1] -> seg codes [B,16] (nearest codebook row of each 4x4 cell)."""
  widths: tuple[int, ...]  # read from the checkpoint by load_mask_encoder
  kernels: tuple[int, ...]
  res_kernel: int
  code_dim: int

  @nn.compact
  def __call__(self, masks):
    emb = Codebook(dim=self.code_dim, name="_vq_vae")()  # [NUM_CODES,E]
    x = EncoderNet(self.widths, self.kernels, self.res_kernel, self.code_dim, name="encoder")(
        2.0 * (masks[..., None] - 0.5))
    flat = x.reshape(masks.shape[0], NUM_MASK_TOKENS, self.code_dim)  # [B,16,E]
    dist = (jnp.sum(flat**2, -1, keepdims=True) + jnp.sum(emb**2, -1)
            - 2.0 * jnp.einsum("BTE,VE->BTV", flat, emb))  # [B,16,V]
    return jnp.argmin(dist, axis=-1).astype(jnp.int32)


def _flat(tree) -> dict:
  """{dotted key: leaf} (the checkpoint's PyTorch-style names) of a nested param tree."""
  return {path.replace("/", "."): leaf for path, leaf in tree_lib.flatten(tree).items()}


def _nest(flat: dict) -> dict:
  """The nested param tree (jnp arrays) of {dotted key: array}."""
  return tree_lib.unflatten({k.replace(".", "/"): jnp.asarray(v) for k, v in flat.items()})


def _read_npz(path: str) -> dict[str, np.ndarray]:
  with fs.open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
    return {k: f[k] for k in f.files}


def _check_and_nest(path: str, arrays: dict, module: nn.Module, example, own: str) -> dict:
  """Params of `module` from the checkpoint's `arrays`; one error lists every mismatch.

  Keys of the other half of the VQ-VAE (`encoder.` for the decoder and `decoder.` for the
  encoder) are skipped; any other key the module lacks is an extra key.
  """
  want = _flat(jax.eval_shape(module.init, jax.random.key(0), example)["params"])
  other = "encoder." if own == "decoder" else "decoder."
  have = {k: v for k, v in arrays.items() if not k.startswith(other)}
  missing = sorted(set(want) - set(have))
  extra = sorted(set(have) - set(want))
  shapes = sorted(f"{k}: {have[k].shape} (want {tuple(want[k].shape)})"
                  for k in set(want) & set(have) if have[k].shape != tuple(want[k].shape))
  if missing or extra or shapes:
    raise ValueError(f"{path} is not a vae-oid.npz mask {own}: missing keys {missing}, extra keys "
                     f"{extra}, wrong shapes {shapes}. Give big_vision's vae-oid.npz (PyTorch key "
                     "names such as decoder.2.net.0.weight).")
  return _nest({k: np.asarray(have[k], np.float32) for k in want})


def load_mask_decoder(path: str) -> dict:
  """The `_vq_vae` codebook and `decoder.*` params of vae-oid.npz, nested by the keys' dots.

  The codebook width E is read from `_vq_vae._embedding`; every other shape is the published one.
  """
  arrays = _read_npz(path)
  emb = arrays.get("_vq_vae._embedding")
  code_dim = emb.shape[1] if emb is not None and emb.ndim == 2 else CODE_DIM
  module = MaskDecoder(code_dim=code_dim)
  return _check_and_nest(path, arrays, module, jnp.zeros((1, NUM_MASK_TOKENS), jnp.int32),
                         "decoder")


def _encoder_from_shapes(path: str, arrays: dict) -> MaskEncoder:
  names = [f"encoder.{i}.weight" for i in (0, 2, 4, 6, 10)] + ["encoder.8.net.0.weight"]
  bad = [n for n in names if n not in arrays or arrays[n].ndim != 4]
  if bad:
    raise ValueError(f"{path} lacks the mask encoder weights {bad} (4-D conv weights); give "
                     "big_vision's vae-oid.npz.")
  convs = [arrays[n].shape for n in names[:4]]
  return MaskEncoder(widths=tuple(s[0] for s in convs), kernels=tuple(s[2] for s in convs),
                     res_kernel=arrays[names[5]].shape[2], code_dim=arrays[names[4]].shape[0])


def load_mask_encoder(path: str) -> tuple[MaskEncoder, dict]:
  """(module, params) of the `_vq_vae` codebook and `encoder.*` of vae-oid.npz.

  The encoder's widths and kernel sizes are read from the weights' shapes (not published).
  """
  arrays = _read_npz(path)
  module = _encoder_from_shapes(path, arrays)
  example = jnp.zeros((1, MASK_SIZE, MASK_SIZE), jnp.float32)
  return module, _check_and_nest(path, arrays, module, example, "encoder")


def _check_codes(codes) -> np.ndarray:
  codes = np.asarray(codes)
  if (codes.ndim != 2 or codes.shape[1] != NUM_MASK_TOKENS
      or not np.issubdtype(codes.dtype, np.integer)):
    raise ValueError(f"Seg codes must be integers [B, {NUM_MASK_TOKENS}], got {codes.dtype} "
                     f"{codes.shape}.")
  if codes.size and (codes.min() < 0 or codes.max() >= NUM_CODES):
    raise ValueError(f"Seg codes must lie in 0..{NUM_CODES - 1}, got {codes.min()}..{codes.max()}.")
  return codes.astype(np.int32)


@jax.jit
def _decode(params, codes):
  code_dim = params["_vq_vae"]["_embedding"].shape[1]
  width = params["decoder"]["0"]["weight"].shape[0]
  return MaskDecoder(code_dim, width).apply({"params": params}, codes)


def decode_masks(params: dict, codes) -> np.ndarray:
  """Seg codes [B,16] in 0..127 -> mask logits [B,64,64] float32 (about [-1, 1]; > 0 inside)."""
  codes = _check_codes(codes)
  if not codes.shape[0]:
    return np.zeros((0, MASK_SIZE, MASK_SIZE), np.float32)
  return np.asarray(_decode(params, codes))


def encode_masks(module: MaskEncoder, params: dict, masks) -> np.ndarray:
  """Masks [B,64,64] in [0, 1] -> seg codes [B,16] int32.

  big_vision's training targets: the ground-truth mask cropped to its box (pixel corners
  round(v * size)), resized to 64x64 with antialiased bilinear, divided by 255.
  """
  masks = np.asarray(masks, np.float32)
  if masks.ndim != 3 or masks.shape[1:] != (MASK_SIZE, MASK_SIZE):
    raise ValueError(f"Masks must be [B, {MASK_SIZE}, {MASK_SIZE}], got {masks.shape}.")
  return np.asarray(jax.jit(module.apply)({"params": params}, masks))


def box_pixels(box, image_hw) -> tuple[int, int, int, int]:
  """Normalised (y0, x0, y1, x1) -> pixel (y0, x0, y1, x1), each int(v * size) (truncated)."""
  h, w = image_hw
  y0, x0, y1, x1 = box
  return int(y0 * h), int(x0 * w), int(y1 * h), int(x1 * w)


def paste_mask(mask64, box, image_hw) -> np.ndarray:
  """A decoded [64,64] mask pasted into its box of an image [H,W] -> [H,W] bool.

  As big_vision's RefCOCO evaluator: the box's pixel corners are int(v * size) of the normalised
  coordinates (end exclusive); the float mask is resized to the box with PIL's bilinear filter
  (which also smooths when it shrinks) and a pixel is inside iff the resized value is > 0.0.
  Outside the box, and for a box with no pixels (y1 <= y0 or x1 <= x0), nothing is inside.
  """
  mask64 = np.asarray(mask64, np.float32)
  if mask64.shape != (MASK_SIZE, MASK_SIZE):
    raise ValueError(f"paste_mask takes one [{MASK_SIZE}, {MASK_SIZE}] mask, got {mask64.shape}.")
  h, w = image_hw
  out = np.zeros((h, w), bool)
  y0, x0, y1, x1 = box_pixels(box, image_hw)
  if y1 <= y0 or x1 <= x0:
    return out
  resized = Image.fromarray(mask64, mode="F").resize((x1 - x0, y1 - y0), Image.BILINEAR)
  out[y0:y1, x0:x1] = np.asarray(resized)[:h - y0, :w - x0] > 0.0
  return out


def parse_answer(text: str):
  """A "segment" answer -> (normalised box (y0, x0, y1, x1), 16 codes), or None if malformed.

  The answer must start with 4 loc tokens followed by at least 16 seg codes in 0..127 (as
  big_vision reads the first 4 + 16 tokens; later tokens, e.g. further objects, are ignored).
  """
  m = _ANSWER.match(text)
  if not m:
    return None
  codes = [int(c) for c in re.findall(r"<seg(\d{3})>", m.group(5))][:NUM_MASK_TOKENS]
  if len(codes) < NUM_MASK_TOKENS or max(codes) >= NUM_CODES:
    return None
  box = tuple(int(g) / (loc_tokens.NUM_LOC - 1) for g in m.groups()[:4])
  return box, codes
