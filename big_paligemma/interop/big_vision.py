"""big_vision .npz checkpoints (the released PaliGemma files): `load_npz` and `save_npz`.

The file (big_vision/utils.py: save_checkpoint, npload, load_params, recover_dtype) is a zip of
one .npy member per leaf, named by the leaf's slash path. Training checkpoints and the released
PaliGemma files put the parameters under `params/` (other top-level keys, e.g. `opt/...`, are
optimizer state); load_params takes the `params` subtree when there is one, else `opt/target`
(old Flax optimizers), else the whole file; so does `load_npz`. numpy has no bfloat16, so bfloat16
leaves are stored as 2-byte void ('<V2') and read back as bfloat16.

Our tree is big_vision's PaliGemma tree (img/... = vit.py, img/head = the projector, llm/... =
ppp/gemma.py). Layouts accepted besides ours, and how they map (every 'i' a layer index; the
per-layer values are stacked on a leading L axis, one layer at a time):
  .../Transformer/encoderblock_{i}/...   vit.py with scan=False (its pyloop_to_scan stacks them)
  .../layers/{i}/...                     ppp/gemma.py with scan=False (scope "layers"/"{i}")
  .../layers_{i}/..., .../layer_{i}/...  per-layer Gemma trees (the Orbax release's "layer_{i}")
  .../attn/qkv_einsum/w [(L,)3,N,D,H]    ppp/gemma.py when N == K: -> q_einsum/w [(L,)N,D,H] and
                                         kv_einsum/w [(L,)2,K,D,H]
  .../mlp/gating_einsum/w, .../mlp/linear/w   the Orbax Gemma names of mlp/gating_einsum, mlp/linear
A MAPHead (img/MAPHead_0, SigLIP's pooling head) is not part of PaliGemma (pool_type "none") and
is reported as unexpected, like any other leaf the model does not have.
"""
import dataclasses
import re
import zipfile
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma import fs
from big_paligemma import tree as tree_lib
from big_paligemma.interop import hf_io
from big_paligemma.models import build
from big_paligemma.models import siglip

_PARAM_PREFIXES = ("params/", "opt/target/")
# (regex over a path without prefix, the stacked path): group "i" is the layer index.
_PER_LAYER = (
    (re.compile(r"(?P<pre>(.*/)?Transformer/)encoderblock_(?P<i>\d+)/(?P<rest>.+)"),
     "encoderblock"),
    (re.compile(r"(?P<pre>(.*/)?)layers/(?P<i>\d+)/(?P<rest>.+)"), "layers"),
    (re.compile(r"(?P<pre>(.*/)?)layers?_(?P<i>\d+)/(?P<rest>.+)"), "layers"),
)
_ORBAX_MLP = re.compile(r"(?P<path>(.*/)?mlp/(gating_einsum|linear))/w")
_QKV = re.compile(r"(?P<pre>(.*/)?attn/)qkv_einsum/w")
_QKV_AXIS = -4  # The 3 (q, k, v) axis of qkv_einsum/w [(L,)3,N,D,H].


@dataclasses.dataclass(frozen=True)
class _Source:
  """Where one of our params comes from: file keys by layer (None = one key, already stacked)
  and a function applied to each array read (e.g. the q half of qkv_einsum)."""
  keys: dict[int | None, str]
  take: Callable[[np.ndarray], np.ndarray] = lambda x: x


class _Npz:
  """An .npz read one member at a time; `headers` gives every member's (shape, dtype) unread."""

  def __init__(self, path: str):
    if not fs.isfile(path):
      raise FileNotFoundError(f"big_vision checkpoint {path!r} does not exist.")
    self.file = fs.open(path, "rb")  # gs://: members are ranged reads
    if not zipfile.is_zipfile(self.file):
      self.file.close()
      raise ValueError(f"{path!r} is not an .npz file (not a zip archive of .npy arrays, as "
                       "np.savez writes); big_vision checkpoints are .npz files.")
    self.path = path
    self.zip = zipfile.ZipFile(self.file)
    self.headers = {}
    for name in self.zip.namelist():
      if not name.endswith(".npy"):
        raise ValueError(f"{path!r} is not an .npz file: member {name!r} is not an .npy array.")
      with self.zip.open(name) as f:
        self.headers[name[:-len(".npy")]] = _read_header(f, path, name)

  def read(self, key: str) -> np.ndarray:
    with self.zip.open(key + ".npy") as f:
      array = np.lib.format.read_array(f, allow_pickle=False)
    return _recover_dtype(array)

  def close(self):
    self.zip.close()
    self.file.close()


def _read_header(f, path: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
  readers = {(1, 0): np.lib.format.read_array_header_1_0,
             (2, 0): np.lib.format.read_array_header_2_0}
  version = np.lib.format.read_magic(f)
  if version not in readers:
    raise ValueError(f"{path!r}: member {name!r} has .npy format version {version}; supported: "
                     f"{sorted(readers)}.")
  shape, _, dtype = readers[version](f)
  if dtype.hasobject:
    raise ValueError(f"{path!r}: member {name!r} holds Python objects (pickle); refused.")
  return tuple(shape), _recover_dtype(np.empty(0, dtype)).dtype


def _recover_dtype(array: np.ndarray) -> np.ndarray:
  """2-byte void (how np.save stores bfloat16) -> bfloat16 (big_vision's utils.recover_dtype)."""
  if array.dtype.type is np.void:
    if array.dtype.itemsize != 2:
      raise ValueError(f"Array of unknown void dtype {array.dtype} (only bfloat16 '<V2' known).")
    return array.view(jnp.bfloat16)
  return array


# ---------------------------------------------------------------- file keys -> our paths


def _param_keys(keys) -> dict[str, str]:
  """{path without the params prefix: file key} for the keys that hold parameters."""
  for prefix in _PARAM_PREFIXES:
    chosen = [k for k in keys if k.startswith(prefix)]
    if chosen:
      return {k[len(prefix):]: k for k in chosen}
  return {k: k for k in keys}


def _split_layer(path: str) -> tuple[str, int | None]:
  """('a/layers_3/b') -> ('a/layers/b', 3); paths without a layer index -> (path, None)."""
  for pattern, stacked in _PER_LAYER:
    m = pattern.fullmatch(path)
    if m:
      return f"{m['pre']}{stacked}/{m['rest']}", int(m["i"])
  return path, None


def _targets(path: str) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
  """Our path(s) for one (layer-free) file path, with the function giving each from the array."""
  if m := _ORBAX_MLP.fullmatch(path):
    return [(m["path"], lambda x: x)]
  if m := _QKV.fullmatch(path):
    # Basic slicing (views): [(L,)3,N,D,H] -> q [(L,)N,D,H], kv [(L,)2,N,D,H].
    q = lambda x: x[..., 0, :, :, :]  # noqa: E731
    kv = lambda x: x[..., 1:, :, :, :]  # noqa: E731
    return [(m["pre"] + "q_einsum/w", q), (m["pre"] + "kv_einsum/w", kv)]
  return [(path, lambda x: x)]


def _sources(keys) -> dict[str, _Source]:
  """Our path -> its _Source, for every parameter key of the file."""
  found: dict[str, dict[int | None, str]] = {}
  takes = {}
  for path, key in _param_keys(keys).items():
    stacked_path, layer = _split_layer(path)
    for target, take in _targets(stacked_path):
      by_layer = found.setdefault(target, {})
      if layer in by_layer or (None in by_layer) or (layer is None and by_layer):
        raise ValueError(f"Param {target!r} is given twice in the file: by {key!r} and by "
                         f"{sorted(v for v in by_layer.values())}.")
      by_layer[layer] = key
      takes[target] = take
  return {p: _Source(keys, takes[p]) for p, keys in found.items()}


def _source_shape(src: _Source, headers) -> tuple[int, ...]:
  """The shape `src` gives (layers stacked, take applied), read from the headers only."""
  def one(key):  # take() slices a zero-strided view: nothing is allocated.
    shape, dtype = headers[key]
    try:
      return src.take(np.broadcast_to(np.zeros((), dtype), shape)).shape
    except IndexError as e:
      raise ValueError(f"File key {key!r} has shape {shape}; a qkv_einsum/w is "
                       "[(L,)3,N,D,H].") from e
  if None in src.keys:
    return one(src.keys[None])
  layers = sorted(src.keys)
  shapes = {one(src.keys[i]) for i in layers}
  if layers != list(range(len(layers))) or len(shapes) != 1:
    raise ValueError(f"Per-layer keys {sorted(src.keys.values())} are not layers "
                     f"0..{len(layers) - 1} of one shape (layers {layers}, shapes "
                     f"{sorted(shapes)}).")
  return (len(layers),) + shapes.pop()


# ---------------------------------------------------------------- checks


def _resamples(path: str, got: tuple[int, ...], want: tuple[int, ...]) -> bool:
  """True where a SigLIP position embedding [1,P,D] needs its square grid resampled."""
  if not path.endswith("pos_embedding") or len(got) != 3 or len(want) != 3:
    return False
  square = lambda p: round(p ** 0.5) ** 2 == p  # noqa: E731
  return got[0] == want[0] == 1 and got[2] == want[2] and square(got[1]) and square(want[1])


def _check(sources, shapes, expected, path: str) -> None:
  """One ValueError listing every missing, unexpected and wrongly shaped param."""
  rows = []
  for p in sorted(set(expected) - set(sources)):
    rows.append(f"missing: {p} (model shape {tuple(expected[p].shape)})")
  for p in sorted(set(sources) - set(expected)):
    rows.append(f"unexpected: {p} (file keys {sorted(sources[p].keys.values())[:3]}"
                f"{' ...' if len(sources[p].keys) > 3 else ''}, shape {shapes[p]})")
  for p in sorted(set(sources) & set(expected)):
    want = tuple(expected[p].shape)
    if shapes[p] != want and not _resamples(p, shapes[p], want):
      rows.append(f"shape: {p}: file {shapes[p]}, model {want}")
  if rows:
    raise ValueError(f"big_vision checkpoint {path!r} does not fit the model:\n  " +
                     "\n  ".join(rows))


# ---------------------------------------------------------------- load


def _value(npz: _Npz, src: _Source, want):
  """The host value of one param: an np.ndarray, or hf_io.Stacked (read layer by layer)."""
  if None not in src.keys:
    return hf_io.stacked(len(src.keys), lambda i: src.take(npz.read(src.keys[i])))
  array = src.take(npz.read(src.keys[None]))
  if want is not None and array.shape != tuple(want.shape):  # _check allowed only a posemb grid.
    grid = round(want.shape[1] ** 0.5)
    array = np.asarray(siglip.resample_posemb(jnp.asarray(array, jnp.float32), grid))
  return array


def load_npz(path: str, model_cfg=None, *, dtype=None, sharding=None) -> dict[str, Any]:
  """Params from a big_vision .npz (see the module docstring for the layouts read).

  model_cfg: our config (PaliGemmaConfig, GemmaConfig, ...; e.g. presets.get_preset(name)); every
    leaf is checked against its model's shapes (one ValueError lists all missing, unexpected and
    wrongly shaped params) and a position embedding of another square grid is resampled to the
    model's image size (siglip.resample_posemb: bilinear, half-pixel centres; big_vision's
    vit.resample_posemb uses scipy.ndimage.zoom, order 1, which differs slightly). None: the file's
    tree as it is (normalised to our layout), unchecked.
  dtype: the dtype of every leaf; None: the model's param dtypes (without model_cfg, the file's).
  sharding: None (first device), a jax.sharding.Sharding, a tree of them like the params, or a
    callable path -> Sharding. Leaves are read and placed one at a time (stacked per-layer ones one
    layer at a time), so the host holds about one leaf.
  """
  npz = _Npz(path)
  try:
    sources = _sources(npz.headers)
    shapes = {p: _source_shape(s, npz.headers) for p, s in sources.items()}
    expected = None
    if model_cfg is not None:
      expected = tree_lib.flatten(build.abstract_params(model_cfg))
      _check(sources, shapes, expected, path)
    params = _read_all(npz, sources, shapes, expected, dtype, sharding)
  finally:
    npz.close()
  return tree_lib.unflatten(params)


def _read_all(npz: _Npz, sources, shapes, expected, dtype, sharding) -> dict[str, jax.Array]:
  """{our path: placed array}, one leaf read, cast and placed at a time."""
  # pylint: disable=protected-access  (hf's placement helpers, shared with load_hf)
  place_of = hf_io.sharding_fn(sharding, None)
  params = {}
  for p, src in sources.items():
    want = expected[p] if expected is not None else None
    file_dtype = npz.headers[next(iter(src.keys.values()))][1]
    leaf = jax.ShapeDtypeStruct(shapes[p] if want is None else want.shape,
                                jnp.dtype(dtype or (file_dtype if want is None else want.dtype)))
    value = _value(npz, src, want)
    params[p] = hf_io.place(value, leaf, place_of(p))
    del value
  return params


# ---------------------------------------------------------------- save


def _fuse_qkv(flat: dict[str, Any]) -> dict[str, Any]:
  """q_einsum/w + kv_einsum/w -> qkv_einsum/w [(L,)3,N,D,H] where K == N (big_vision's Gemma
  Attention has only qkv_einsum then); others unchanged. Values stay lazy (callables)."""
  out = dict(flat)
  for p in flat:
    m = re.fullmatch(r"(?P<pre>(.*/)?attn/)q_einsum/w", p)
    kv_path = m and m["pre"] + "kv_einsum/w"
    if not m or kv_path not in flat:
      continue
    q_shape, kv_shape = np.shape(flat[p]), np.shape(flat[kv_path])
    if kv_shape[-3] != q_shape[-3]:  # K != N (q [..,N,D,H], kv [..,2,K,D,H]): two einsums.
      continue
    q, kv = out.pop(p), out.pop(kv_path)
    out[m["pre"] + "qkv_einsum/w"] = lambda q=q, kv=kv: np.concatenate(
        [np.expand_dims(_host(q), _QKV_AXIS), _host(kv)], axis=_QKV_AXIS)
  return out


def _host(x) -> np.ndarray:
  return np.asarray(jax.device_get(x))


def save_npz(params, path: str) -> None:
  """Writes `params` as a big_vision .npz that big_vision's load_params / paligemma.load read.

  Keys are 'params/' + our slash path (as in big_vision's training checkpoints and the released
  files), layers stacked (scan=True, the layout of big_vision's PaliGemma configs), Gemma layers
  with as many kv heads as query heads written as one qkv_einsum/w [L,3,N,D,H]. bfloat16 is stored
  as '<V2' (as np.savez does). One leaf at a time is copied to the host; the file is written
  through fs.atomic_writer (local or gs://), so `path` is either the old file or the complete
  new one.
  """
  if not path.endswith(".npz"):
    raise ValueError(f"save_npz path {path!r} must end in '.npz' (big_vision's load_params "
                     "recognises .npz checkpoints by name).")
  flat = _fuse_qkv(tree_lib.flatten(params))
  with fs.atomic_writer(path) as out:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
      for p, value in flat.items():
        array = value() if callable(value) else _host(value)
        with zf.open(f"params/{p}.npy", "w", force_zip64=True) as f:
          np.lib.format.write_array(f, array, allow_pickle=False)
        del array
