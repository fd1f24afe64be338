"""Will it fit? Compiles the trainer's own train step (or the evaluators' decode) for a TPU slice on
any CPU machine and reports memory per chip, FLOPs, collectives and a roofline step time.

  python -m tools.plan --config configs/transfer/docvqa.py:res=224,model=pg2_3b --topology v5e:4x4
  python -m tools.plan --config ... --topology v5e:2x2 --search     # largest batch per remat
  python -m tools.plan --config ... --topology v5e:4x4 --decode     # the evaluators' decode
  python -m tools.plan --config ... --topology local                # the devices of this machine

Named topologies (`v4:2x2x1`, `v5e:4x4`, `v5p:2x2x2`, `v6e:4x4`) come from libtpu's compile-only
client (`pip install -r requirements-tpu.txt`; no TPU needed): the real TPU compiler runs on the CPU.
What is compiled is what `trainers.train` runs: the same model config (its "auto" fields chosen for
the topology's backend, models/build.BACKEND_CHOICES), optimizer, mesh (over the topology's devices), parameter and optimizer-state shardings, donation and `jit_train_step`; only
the data is abstract: the batch shapes come from the config's pp spec (`tolen` text length,
`resize` image size, the kept model fields) and its batch size, without reading any data. The
schedule's length (which needs the dataset size) is a stand-in: it changes no shape.

Reported per chip: parameters, optimizer state and batch (their shards), the compiler's temporaries,
the total (arguments + outputs - donated + temporaries + code) against the chip's HBM, and FITS /
DOES NOT FIT (a compile-time HBM OOM is reported, not raised); the matmul FLOPs of the compiled
HLO (dots and convolutions, and what a Pallas kernel declares in its cost estimate; loop bodies
times their trip counts) against the model FLOPs that the trainer logs (trainers/logging.py: their ratio is the remat overhead); the bytes of the collectives
in the compiled HLO (all-gather, reduce-scatter, all-reduce, all-to-all, collective-permute: the
larger of each op's operands and result, times the trip counts of the loops around it); and a
roofline: step time = max(compiled FLOPs / peak, HBM traffic / HBM bandwidth, collective bytes /
ICI bandwidth), where HBM traffic sums the operands and results of the top-level ops (a fusion is
one op; of a buffer that an op or fusion slices or updates in place, or passes through, only the
bytes it touches; arrays that the compiler keeps in VMEM, memory space S(1) in their layout
(jax-ml.github.io/scaling-book/profiling/#how-to-read-an-xla-op), not at all: hlo_stats),
and MFU = model FLOPs / (step time x peak). The roofline assumes perfect overlap: a lower
bound on the step time, an upper bound on MFU. (XLA's own cost analysis counts a loop body once,
so a scanned model would look cheaper than it is; hence the HLO is read here.)

Chip figures (CHIPS, per chip; a topology whose devices are TensorCores divides them per device):
  v4:  275 TFLOP/s bf16, 32 GiB HBM, 1200 GB/s  (cloud.google.com/tpu/docs/v4); ICI 6 links x 50
       GB/s = 300 GB/s (Jouppi et al., "TPU v4: An Optically Reconfigurable Supercomputer", 2023).
  v5e: 197 TFLOP/s, 16 GB HBM of which libtpu's compiler allots 15.75 GiB, 819 GB/s, ICI 400 GB/s
       bidirectional (cloud.google.com/tpu/docs/v5e).
  v5p: 459 TFLOP/s, 95 GiB, 2765 GB/s, ICI 1200 GB/s bidirectional (cloud.google.com/tpu/docs/v5p).
  v6e: 918 TFLOP/s, 32 GB, 1638 GB/s, ICI 800 GB/s bidirectional (cloud.google.com/tpu/docs/v6e).
  local: peak FLOP/s from trainers/logging.PEAK_FLOPS by device kind, HBM from the device's
       memory_stats, HBM bandwidth from LOCAL_HBM_BW by device kind (NVIDIA's datasheets: H100
       SXM 3.35 TB/s, H200 4.8 TB/s, A100 80GB SXM 2,039 GB/s; other kinds leave that term of the
       roofline out); no interconnect figures (one device: no collectives).
On a GPU the compiled matmuls are cuBLAS custom calls (`__cublas$gemm`, `__cublas$lt$matmul`) or
fusions around a dot (Triton, cuDNN): both are counted. `python -m tools.bench_plan` runs the
compiled step on the local devices and sets the measured peak memory and step time beside these.
"""
import argparse
import copy
import dataclasses
import hashlib
import importlib.util
import math
import os
import re
import sys
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from big_paligemma import config as config_lib
from big_paligemma import decode
from big_paligemma import fs
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from evaluators import common as eval_common
import pp as pp_lib
from trainers import logging as log_lib
from trainers import train as train_lib

GIB = 2**30
# The version of hlo_stats' counting, recorded with the figures it gave (configs/slices.json):
# 4 reads a loop's trip count from its counter (init, limit and step), counts HBM only (not the
# arrays the compiler keeps in VMEM) and a slice's bytes where a fusion or loop reads or writes
# one; 1 took the limit for the trip count (libtpu's windowed matmuls step by 2: twice their
# FLOPs) and counted whole buffers in any memory (PaliGemma 2 3B at 224 on v5e-16: 1.46e14 FLOPs
# and 1.45 TB a step where 4 counts 0.96e14 and 0.21 TB).
ROOFLINE_VERSION = 4
# The version of the evaluators' decode as `plan_decode` compiles it, part of tools.plan_table's
# decode signature (a change to the decode's program leaves the old figures to measure again):
# 2 keeps the prompt's pass on the batch axes, decodes an eval batch smaller than the slice on its
# own mesh, splits the logits over the vocabulary and counts the train state kept in HBM; 3 scans
# the decoder's layers in the prompt's pass (Gemma 3 12B at 896 on v5e-64: 13.30 -> 4.26 GiB)
# and reorders beams within their example (a change to beam programs only: greedy ones lower to
# the same text as before it).
DECODE_VERSION = 3
REQUIREMENTS_TPU = "requirements-tpu.txt"


@dataclasses.dataclass(frozen=True)
class Chip:
  """One chip's figures (see the module docstring for their sources)."""
  name: str
  peak_flops: float | None  # bf16 FLOP/s
  hbm_bytes: float | None
  hbm_bw: float | None  # bytes/s
  ici_bw: float | None  # bytes/s, bidirectional, per chip

  def per_device(self, devices_per_chip: int) -> "Chip":
    div = lambda v: None if v is None else v / devices_per_chip  # noqa: E731
    return Chip(self.name, div(self.peak_flops), div(self.hbm_bytes), div(self.hbm_bw),
                div(self.ici_bw))


CHIPS = {
    "v4": Chip("TPU v4", 275e12, 32 * GIB, 1200e9, 300e9),
    "v5e": Chip("TPU v5e", 197e12, 15.75 * GIB, 819e9, 400e9),
    "v5p": Chip("TPU v5p", 459e12, 95 * GIB, 2765e9, 1200e9),
    "v6e": Chip("TPU v6e", 918e12, 32e9, 1638e9, 800e9),
}
# The policies that --search tries, on both towers (the names of models/choices.py).
REMAT = ("none", "dots_saveable", "nothing_saveable")
COLLECTIVES = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "collective-permute")
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2, "s32": 4,
                "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8}


class PlanError(ValueError):
  """A topology or config that cannot be planned; the message says why and what to do."""


# ----------------------------------------------------------------------------- devices

@dataclasses.dataclass(frozen=True)
class Topology:
  name: str
  devices: tuple
  chip: Chip  # per device


def topology(name: str) -> Topology:
  """`local` or `<gen>:<AxB[xC]>` (gen in CHIPS) -> its devices and per-device chip figures."""
  if name == "local":
    return Topology("local", tuple(jax.devices()), local_chip(jax.devices()[0]))
  gen, _, dims = name.partition(":")
  if gen not in CHIPS or not re.fullmatch(r"\d+(x\d+){1,2}", dims):
    raise PlanError(f"--topology {name!r}: use 'local' or <gen>:<AxB[xC]> with gen in "
                    f"{sorted(CHIPS)}, e.g. v5e:4x4 or v5p:2x2x2.")
  if importlib.util.find_spec("libtpu") is None:
    raise PlanError(f"--topology {name!r} compiles with libtpu, which is not installed: "
                    f"pip install -r {REQUIREMENTS_TPU} (no TPU needed), or use --topology local.")
  # Compile-only: no chip to guard, so another process holding libtpu's lock file is no obstacle.
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  from jax.experimental import topologies  # pylint: disable=import-outside-toplevel
  devices = tuple(topologies.get_topology_desc(topology_name=name, platform="tpu").devices)
  chips = math.prod(int(d) for d in dims.split("x"))
  return Topology(name, devices, CHIPS[gen].per_device(max(1, len(devices) // chips)))


# HBM bandwidth in bytes/s of the local device kinds (the names jax gives; sources above).
LOCAL_HBM_BW = {"NVIDIA H100 80GB HBM3": 3.35e12, "NVIDIA H200": 4.8e12,
                "NVIDIA A100-SXM4-80GB": 2.039e12}


# The TPU generations (CHIPS) by the device_kind jax reports on them.
TPU_KINDS = {"TPU v4": "v4", "TPU v5 lite": "v5e", "TPU v5": "v5p", "TPU v6 lite": "v6e"}


def local_chip(device) -> Chip:
  """The local device's figures: on a TPU its generation's (CHIPS: bandwidths), HBM from its
  memory_stats where it reports them; elsewhere PEAK_FLOPS and LOCAL_HBM_BW by device kind."""
  stats = device.memory_stats() or {}
  kind = device.device_kind
  if kind in TPU_KINDS:
    chip = CHIPS[TPU_KINDS[kind]]
    return dataclasses.replace(chip, name=kind, hbm_bytes=stats.get("bytes_limit") or chip.hbm_bytes)
  return Chip(kind, log_lib.PEAK_FLOPS.get(kind), stats.get("bytes_limit"),
              LOCAL_HBM_BW.get(kind), None)


# ----------------------------------------------------------------------------- batch shapes

@dataclasses.dataclass(frozen=True)
class BatchShape:
  """What a pp spec outputs to the model: text length, image size, images per example (0: one
  "image", else "images" [M, ...])."""
  text_len: int
  res: int
  num_images: int
  fields: tuple[str, ...]


def batch_shape(spec: str, key: str) -> BatchShape:
  """The model fields of the pp `spec` (config key `key`): `tolen(N, key="text")`, the first
  `resize(R)`, `stack_images` (images) and `keep(...)`."""
  ops = pp_lib.parse_spec(spec)
  text_len = [op.args[0] for op in ops if op.name == "tolen" and op.kwargs.get("key") == "text"]
  res = [op.args[0] for op in ops if op.name == "resize"]
  if not text_len or not res:
    raise PlanError(f"{key}: no tolen(N, key=\"text\") or resize(R) op, so the batch shape is "
                    "unknown; give the texts a fixed length and the images a fixed size.")
  stacks = [op for op in ops if op.name == "stack_images"]
  num_images = len(stacks[0].args[0]) if stacks and stacks[0].args else int(bool(stacks))
  keep = [op for op in ops if op.name == "keep"]
  fields = tuple(keep[-1].args) if keep else build.DEVICE_KEYS
  res = res[0][0] if isinstance(res[0], (list, tuple)) else res[0]
  return BatchShape(int(text_len[-1]), int(res), num_images,
                    tuple(f for f in fields if f in build.DEVICE_KEYS))


def abstract_batch(shape: BatchShape, batch_size: int, sharding) -> dict[str, Any]:
  """ShapeDtypeStructs of a global batch (images float32, texts and masks int32)."""
  out = {}
  for field in shape.fields:
    if field == "image":
      dims, dtype = (batch_size, shape.res, shape.res, 3), jnp.float32
    elif field == "images":
      dims, dtype = (batch_size, max(1, shape.num_images), shape.res, shape.res, 3), jnp.float32
    else:
      dims, dtype = (batch_size, shape.text_len), jnp.int32
    out[field] = jax.ShapeDtypeStruct(dims, dtype, sharding=sharding)
  return out


# ----------------------------------------------------------------------------- compiling

@dataclasses.dataclass
class Report:
  """What one compile says, per device (bytes, FLOPs, seconds)."""
  what: str
  topology: str
  batch_size: int
  chip: Chip
  fits: bool
  params: float = 0.0
  opt_state: float = 0.0
  batch: float = 0.0
  temporaries: float = 0.0
  total: float = 0.0
  compiled_flops: float = 0.0
  model_flops: float = 0.0
  bytes_accessed: float = 0.0
  collectives: dict[str, float] = dataclasses.field(default_factory=dict)
  compile_s: float = 0.0
  error: str = ""
  hlo: str = ""  # the compiled module's text
  mesh: str = ""  # e.g. "fsdp 32 x tensor 2" (axes of size 1 left out)
  # The compiled program, kept only when asked (`plan_train(..., keep=True)`): tools.bench_plan
  # runs it.
  executable: Any = dataclasses.field(default=None, repr=False, compare=False)

  @property
  def roofline(self) -> dict[str, float]:
    """Seconds per step of each bound the chip figures allow (compute, memory, collectives)."""
    c, out = self.chip, {}
    if c.peak_flops and self.compiled_flops:
      out["compute"] = self.compiled_flops / c.peak_flops
    if c.hbm_bw and self.bytes_accessed:
      out["memory"] = self.bytes_accessed / c.hbm_bw
    if c.ici_bw and self.collectives:
      out["collectives"] = sum(self.collectives.values()) / c.ici_bw
    return out

  @property
  def step_s(self) -> float | None:
    return max(self.roofline.values()) if self.roofline else None

  @property
  def mfu(self) -> float | None:
    if not (self.step_s and self.chip.peak_flops and self.model_flops):
      return None
    return self.model_flops / (self.step_s * self.chip.peak_flops)


def mesh_text(mesh) -> str:
  """"fsdp 32 x tensor 2": the mesh's axes larger than 1 (all of them if none is)."""
  axes = [f"{name} {size}" for name, size in mesh.shape.items() if size > 1]
  return " x ".join(axes or [f"{name} {size}" for name, size in mesh.shape.items()])


def per_device_bytes(abstract: Any) -> float:
  """Bytes of one device's shards of a tree of ShapeDtypeStructs carrying shardings."""
  total = 0
  for leaf in jax.tree.leaves(abstract):
    shape = leaf.sharding.shard_shape(leaf.shape) if leaf.sharding is not None else leaf.shape
    total += math.prod(shape) * jnp.dtype(leaf.dtype).itemsize
  return float(total)


def _is_oom(error: Exception) -> bool:
  text = str(error)
  return any(s in text for s in ("RESOURCE_EXHAUSTED", "HbmOom", "Ran out of memory",
                                 "exceeds the memory", "Exceeded hbm capacity"))


# Programs compiled in this process with `compile_report(..., share=True)`: (topology, sha256 of
# the lowered program) -> the compiled figures. tools.plan_table's rows whose evals lower to the
# same decode (same model, mesh, parameter shardings, batch and decode length; another optimizer,
# loss or learning rate) share one compile: only the train state kept beside it differs.
_COMPILED: dict[tuple[str, str], dict] = {}
_SHARED_FIELDS = ("temporaries", "total", "compiled_flops", "bytes_accessed", "collectives",
                  "fits", "error")


def compile_report(report: Report, jitted, *args, share: bool = False,
                   keep: bool = False) -> Report:
  """Lowers and compiles `jitted(*args)`; fills the memory, FLOPs and collectives of `report`
  (a compile-time out-of-memory error gives fits=False with the compiler's message). With
  `share`, a program that this process already compiled for the same topology (the same lowered
  text) is not compiled again: its figures are copied, with compile_s 0 and no HLO text. With
  `keep`, the compiled program is kept in `report.executable`."""
  start = time.perf_counter()
  lowered = jitted.lower(*args)
  key = None
  if share:
    key = (report.topology, hashlib.sha256(lowered.as_text().encode()).hexdigest())
    if key in _COMPILED:
      for name, value in _COMPILED[key].items():
        setattr(report, name, copy.deepcopy(value))
      report.compile_s, report.hlo = 0.0, ""
      return report
  report = _compile(report, lowered, start, keep)
  if key is not None:
    _COMPILED[key] = {name: copy.deepcopy(getattr(report, name)) for name in _SHARED_FIELDS}
  return report


def _compile(report: Report, lowered, start: float, keep: bool = False) -> Report:
  try:
    compiled = lowered.compile()
  except Exception as e:  # pylint: disable=broad-except  (XlaRuntimeError has no stable type)
    if not _is_oom(e):
      raise
    report.compile_s = time.perf_counter() - start
    report.fits, report.error = False, str(e).strip().splitlines()[0][:400]
    used = (re.search(r"Used ([\d.]+)([GMK]) of [\d.]+[GMK] hbm", str(e)) or
            re.search(r"\(([\d.]+)([GMK])\) exceeds available HBM", str(e)))
    if used:
      report.total = float(used.group(1)) * {"G": GIB, "M": 2**20, "K": 2**10}[used.group(2)]
    return report
  report.compile_s = time.perf_counter() - start
  mem = compiled.memory_analysis()
  report.temporaries = float(mem.temp_size_in_bytes)
  report.total = float(mem.argument_size_in_bytes + mem.output_size_in_bytes
                       - mem.alias_size_in_bytes + mem.temp_size_in_bytes
                       + mem.generated_code_size_in_bytes)
  report.hlo = compiled.as_text()
  stats = hlo_stats(report.hlo)
  report.compiled_flops, report.bytes_accessed = stats.matmul_flops, stats.traffic
  report.collectives = stats.collectives
  hbm = report.chip.hbm_bytes
  report.fits = hbm is None or report.total <= hbm
  report.executable = compiled if keep else None
  return report


# ----------------------------------------------------------------------------- the compiled HLO

_HEADER = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.*?)\s+([\w\-]+)\((.*)$")
_SHAPE = re.compile(r"\b(pred|[suf]\d+|bf16|c64)\[([\d,]*)\]")
_SHAPE_LAYOUT = re.compile(r"\b(pred|[suf]\d+|bf16|c64)\[([\d,]*)\](\{[^}]*\})?")
_NO_TRAFFIC = ("parameter", "get-tuple-element", "tuple", "constant", "bitcast", "while",
               "conditional", "call", "after-all", "partition-id", "replica-id")


def _dims(shape_text: str) -> list[int]:
  m = _SHAPE.search(shape_text)
  return [int(d) for d in m.group(2).split(",") if d] if m else []


def _bytes(shape_text: str, hbm: bool = False) -> int:
  """Bytes of the arrays in `shape_text`; with `hbm`, of those in HBM only (a layout's S(n), n > 0,
  puts an array in another memory: the TPU's on-chip VMEM, or SMEM for scalars)."""
  return sum(_DTYPE_BYTES.get(dt, 4) * math.prod(int(d) for d in dims.split(",") if d)
             for dt, dims, layout in _SHAPE_LAYOUT.findall(shape_text)
             if not (hbm and re.search(r"S\([1-9]\d*\)", layout)))


@dataclasses.dataclass
class HloStats:
  """Per device and step: matmul FLOPs (dots and convolutions), HBM traffic (the operands and
  results of the top-level ops, fusions as one op) and {collective: bytes}."""
  matmul_flops: float = 0.0
  traffic: float = 0.0
  collectives: dict[str, float] = dataclasses.field(default_factory=dict)


# The GPU compiler's matmuls outside fusions: cuBLAS calls, their dimension numbers in the
# backend_config ("lhs_contracting_dimensions":["1"]), their result the first of a tuple beside
# the workspace.
_GEMM_CALL = re.compile(r'custom_call_target="__cublas\$(gemm|lt\$matmul[\w$]*)"')
# A Pallas kernel on TPU (Mosaic): its work is opaque to the HLO, so it counts what the kernel
# declares (`pl.CostEstimate`, in its backend_config): its FLOPs as matmul FLOPs (the kernels of
# models/attention_tpu.py are matmuls and declare only theirs) and its bytes as its HBM traffic.
_KERNEL_CALL = re.compile(r'custom_call_target="tpu_custom_call"')
_KERNEL_COST = re.compile(r'"cost_estimate":\{"flops":"(\d+)","transcendentals":"\d+",'
                          r'"bytes_accessed":"(\d+)"')


def _matmul_flops(op: str, out: str, args: str, shapes: dict[str, str]) -> float:
  names = re.findall(r"%([\w.\-]+)", args.split(")")[0])
  if len(names) < 2 or names[0] not in shapes or names[1] not in shapes:
    return 0.0
  out_elems = math.prod(_dims(out))
  if op == "custom-call":
    lhs = _dims(shapes[names[0]])
    m = re.search(r'"lhs_contracting_dimensions":\[([^\]]*)\]', args)
    dims = re.findall(r"\d+", m.group(1)) if m else []
    return 2.0 * out_elems * math.prod(lhs[int(d)] for d in dims)
  if op == "dot":
    lhs = _dims(shapes[names[0]])
    m = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", args)
    k = math.prod(lhs[int(d)] for d in m.group(1).split(",") if d) if m else 1
    return 2.0 * out_elems * k
  # A convolution: each output element reads `i` input features at each window tap. The TPU
  # compiler writes a batched matmul's batch dims as window dims that are padded, lhs-dilated or
  # reversed, where one tap per output is real; a plain window (the patch embedding) counts whole.
  labels = re.search(r"dim_labels=\w+_(\w+)->", args)
  rhs = _dims(shapes[names[1]])
  if not labels or "i" not in labels.group(1) or len(rhs) != len(labels.group(1)):
    return 0.0
  window = re.search(r"window=\{([^}]*)\}", args)
  fields = dict(f.split("=", 1) for f in window.group(1).split()) if window else {}
  size = [int(v) for v in fields["size"].split("x")] if "size" in fields else []
  per_dim = lambda key, plain: fields.get(key, "x".join([plain] * len(size))).split("x")  # noqa: E731
  taps = math.prod(w for w, pad, dil, rev in zip(size, per_dim("pad", "0_0"),
                                                  per_dim("lhs_dilate", "1"),
                                                  per_dim("rhs_reversal", "0"))
                   if pad == "0_0" and dil == "1" and rev == "0")
  return 2.0 * out_elems * rhs[labels.group(1).index("i")] * taps


# Ops whose operands a fused slice of their result needs only the matching elements of.
_ELEMENTWISE = frozenset((
    "bitcast", "convert", "pad", "reshape", "transpose", "copy", "broadcast", "add", "subtract",
    "multiply", "divide", "maximum", "minimum", "select", "compare", "negate", "exponential", "log",
    "tanh", "and", "or", "not", "xor", "abs", "sqrt", "rsqrt", "power", "clamp", "sign", "floor",
    "ceil", "round-nearest-even", "exponential-minus-one", "log-plus-one", "logistic", "sine",
    "cosine", "is-finite", "remainder", "atan2"))
# Custom calls that move no data themselves: a buffer allocation, and the start and end of an
# asynchronous collective (whose bytes are counted as the collective's).
_NO_TRAFFIC_CALL = re.compile(r'custom_call_target="(AllocateBuffer|AsyncCollective\w*)"')


def _is_collective(op: str) -> bool:
  return any(op in (c, c + "-start", c + "-done") for c in COLLECTIVES)


def _operands(args: str) -> list[str]:
  return re.findall(r"%([\w.\-]+)", args.split("), ")[0])


def _fusion_io(body: list[tuple], root: str | None,
               nested=lambda comp: {}) -> tuple[dict[int, float], float | None]:
  """What a fusion really moves, from its fused computation: {parameter number: bytes read}
  (a parameter that is only sliced reads the slices, one updated in place or passed through to
  the result or sent by a collective (counted as such) reads nothing, one handed to a nested
  fusion reads what that fusion reads of it (`nested(computation)`), else the whole of it) and
  the bytes written when the root updates a parameter in place (the update's) or passes
  buffers through (None: the whole output). A dynamic-update-slice fusion in a loop writes one
  slice per iteration, not its buffer."""
  shapes = {n: out for n, out, _, _ in body}
  origin = {}  # a bitcast's name -> the name it views
  params = {}
  uses: dict[str, list[tuple[str, int, str, str]]] = {}
  for n, out, op, args in body:
    if op == "parameter":
      params[n] = int(re.match(r"(\d+)\)", args).group(1))
    names = _operands(args)
    if op == "bitcast" and names:
      origin[n] = origin.get(names[0], names[0])
    callee = re.search(r"calls=%([\w.\-]+)", args) if op == "fusion" else None
    quiet = op == "custom-call" and _NO_TRAFFIC_CALL.search(args)
    for pos, a in enumerate(names):
      uses.setdefault(a, []).append(("all-gather" if quiet else op, pos, n,
                                     callee.group(1) if callee else ""))
  demanded: dict[str, float] = {}

  def demand(name: str, depth: int = 0) -> float:
    """The bytes of value `name` that the fusion needs: a fused slice computes only its elements,
    so the elementwise ops before it need only theirs."""
    if name in demanded:
      return demanded[name]
    full = float(_bytes(shapes.get(name, "")))
    total = full if name == root else 0.0
    for op, pos, user, callee in uses.get(name, []):
      if depth > 64 or total >= full:
        break
      if _is_collective(op) or (op == "tuple" and user == root and name in params) or (
          op == "dynamic-update-slice" and pos == 0 and user == root):
        continue
      if op in ("slice", "dynamic-slice") and pos == 0:
        total += demand(user, depth + 1)
      elif op in _ELEMENTWISE:
        # Its result's elements need as many of this value's (a broadcast: fewer), in its dtype;
        # a pad's result has more elements, and a slice of it needs as many of the operand's.
        out = _bytes(shapes.get(user, ""))
        per = lambda v: _bytes(shapes.get(v, "")) / max(1, math.prod(_dims(shapes.get(v, ""))))  # noqa: E731
        ratio = per(name) / per(user) if op == "pad" else full / out if out else 1.0
        total += demand(user, depth + 1) * ratio
      elif op == "fusion":
        total += nested(callee).get(pos, full)
      else:
        total = full
    demanded[name] = min(full, total)
    return demanded[name]

  read = {number: demand(n) for n, number in params.items()}

  def written(name: str) -> float | None:
    line = next((r for r in body if r[0] == name), None)
    if line is None:
      return None
    _, _, op, args = line
    names = _operands(args)
    if op == "bitcast" and names:
      return written(names[0])
    if _is_collective(op) or (op == "custom-call" and _NO_TRAFFIC_CALL.search(args)):
      return 0.0  # the collective's bytes are counted as such
    if op == "dynamic-update-slice" and len(names) > 1 and origin.get(names[0], names[0]) in params:
      in_hbm = _bytes(shapes.get(name, ""), hbm=True) > 0
      return float(_bytes(shapes.get(names[1], ""))) if in_hbm else 0.0
    if op == "tuple":
      parts = [0.0 if origin.get(a, a) in params else written(a) for a in names]
      return float(sum(_bytes(shapes.get(a, ""), hbm=True) if w is None else w
                       for a, w in zip(names, parts)))
    return None

  return read, written(root) if root else None


def _callee(args: str, key: str) -> str:
  m = re.search(key + r"=%([\w.\-]+)", args)
  return m.group(1) if m else ""


def _constant(body: list[tuple], name: str) -> int | None:
  line = next((r for r in body if r[0] == name and r[2] == "constant"), None)
  m = re.match(r"(-?\d+)\)", line[3]) if line else None
  return int(m.group(1)) if m else None


def _counted_loop(cond: list[tuple], cond_root: str | None, body: list[tuple],
                  body_root: str | None, caller: list[tuple], while_args: str) -> int | None:
  """The trip count of a while loop `for (i = init; i < limit; i += step)`, read from its
  condition (a compare of tuple element k with a constant), its body (element k's update: an add
  of a constant) and its init tuple in `caller`; None if the loop is not of that form. (libtpu's
  windowed matmuls step by 2 towards their limit: the limit alone would count twice.)"""
  line = next((r for r in cond if r[0] == cond_root and r[2] == "compare"), None)
  if line is None:
    return None
  names, direction = _operands(line[3]), re.search(r"direction=(\w+)", line[3])
  index = {n: int(m.group(1)) for n, _, op, a in cond if op == "get-tuple-element"
           for m in [re.search(r"index=(\d+)", a)] if m}
  if len(names) != 2 or not direction:
    return None
  if names[0] in index and _constant(cond, names[1]) is not None and direction.group(1) == "LT":
    k, limit = index[names[0]], _constant(cond, names[1])
  elif names[1] in index and _constant(cond, names[0]) is not None and direction.group(1) == "GT":
    k, limit = index[names[1]], _constant(cond, names[0])
  else:
    return None
  root = next((r for r in body if r[0] == body_root and r[2] == "tuple"), None)
  update = _operands(root[3])[k] if root and k < len(_operands(root[3])) else None
  add = next((r for r in body if r[0] == update and r[2] == "add"), None)
  body_index = {n: int(m.group(1)) for n, _, op, a in body if op == "get-tuple-element"
                for m in [re.search(r"index=(\d+)", a)] if m}
  step = None
  if add:
    x, y = (_operands(add[3]) + [None, None])[:2]
    for var, const in ((x, y), (y, x)):
      if body_index.get(var) == k and _constant(body, const) is not None:
        step = _constant(body, const)
  if not step or step <= 0:
    return None
  init_tuple = _operands(while_args)
  init_line = next((r for r in caller if init_tuple and r[0] == init_tuple[0] and
                    r[2] == "tuple"), None)
  init_name = _operands(init_line[3])[k] if init_line and k < len(_operands(init_line[3])) else None
  init = _constant(caller, init_name) if init_name else None
  init = 0 if init is None else init
  return max(1, -(-(limit - init) // step))


def hlo_stats(hlo: str) -> HloStats:
  """HloStats of a compiled module's text. A while loop's body counts its trip count times (the
  known_trip_count, else the largest integer constant of its condition); an async collective
  counts once (its copies in the start/done fusions share a channel_id). HBM traffic: each
  top-level op reads its operands and writes its result, except that a slice reads and an
  in-place dynamic-update-slice writes only the slice (also inside a fusion, _fusion_io), an
  async copy counts once (at its start) and a loop body's operand stacked over the loop's
  iterations ([trip, ...]) counts one iteration's slice."""
  comps: dict[str, list[tuple]] = {}
  roots: dict[str, str] = {}
  entry = name = None
  for line in hlo.splitlines():
    header = _HEADER.match(line)
    if header and not line.startswith(" "):
      name = header.group(1)
      comps[name] = []
      entry = name if line.startswith("ENTRY") else entry
      continue
    instr = _INSTR.match(line) if name else None
    if instr:
      comps[name].append(instr.groups())
      if line.lstrip().startswith("ROOT "):
        roots[name] = instr.group(1)
  stats, seen, io = HloStats(), set(), {}

  def trips(line_args: str, caller: list[tuple]) -> int:
    known = re.search(r'"known_trip_count":\{"n":"(\d+)"', line_args)
    if known:
      return int(known.group(1))
    cond = re.search(r"condition=%([\w.\-]+)", line_args)
    cond_body = comps.get(cond.group(1) if cond else "", [])
    counted = _counted_loop(cond_body, roots.get(cond.group(1)) if cond else None,
                            comps.get(_callee(line_args, "body"), []),
                            roots.get(_callee(line_args, "body")), caller, line_args)
    if counted is not None:
      return counted
    consts = [int(m.group(1)) for _, _, op, a in cond_body
              for m in [re.match(r"(\d+)\)", a)] if op == "constant" and m]
    return max(consts, default=1)

  def per_iteration(shape_text: str, trip: int) -> float:
    # A loop body reads and writes one layer's slice of a stacked [L, ...] buffer per iteration.
    dims = _dims(shape_text)
    return _bytes(shape_text, hbm=True) / (trip if trip > 1 and dims and dims[0] == trip else 1)

  def fusion_io(comp: str) -> tuple[dict[int, float], float | None]:
    if comp not in io:
      io[comp] = _fusion_io(comps.get(comp, []), roots.get(comp),
                            lambda c: fusion_io(c)[0])
    return io[comp]

  def traffic(out: str, op: str, args: str, shapes: dict[str, str], trip: int) -> float:
    names = _operands(args)
    if op.endswith("-done"):
      return 0.0  # counted at its -start
    ins = [shapes.get(a, "") for a in names]
    from_hbm = any(_bytes(i, hbm=True) for i in ins[:1])
    if op.endswith("-start"):  # out: (operands, result, context); the result's bytes are copied
      context = sum(_DTYPE_BYTES.get(dt, 4) for dt, dims, _ in _SHAPE_LAYOUT.findall(out)
                    if not dims)  # scalars
      result = _bytes(out) - sum(_bytes(i) for i in ins) - context
      return max(0, _bytes(out, hbm=True) - sum(_bytes(i, hbm=True) for i in ins)) + (
          result if from_hbm else 0)
    if op == "custom-call" and _NO_TRAFFIC_CALL.search(args):
      return 0.0
    kernel = _KERNEL_COST.search(args) if op == "custom-call" else None
    if kernel and _KERNEL_CALL.search(args):
      return float(kernel.group(2))
    if op in ("slice", "dynamic-slice"):
      return (_bytes(out) if from_hbm else 0) + _bytes(out, hbm=True)
    if op == "dynamic-update-slice" and len(ins) > 1:
      return _bytes(ins[1], hbm=True) + (_bytes(ins[1]) if _bytes(out, hbm=True) else 0)
    read, wrote = {}, None
    callee = re.search(r"calls=%([\w.\-]+)", args) if op == "fusion" else None
    if callee:
      read, wrote = fusion_io(callee.group(1))
    return (per_iteration(out, trip) if wrote is None else wrote) + sum(
        min(read.get(i, math.inf), per_iteration(a, trip)) for i, a in enumerate(ins))

  def visit(comp: str, times: float, fused: bool, depth: int = 0, trip: int = 1) -> None:
    body = comps.get(comp, [])
    shapes = {n: out for n, out, _, _ in body}
    for n, out, op, args in body:
      if op in ("dot", "convolution") or (op == "custom-call" and _GEMM_CALL.search(args)):
        stats.matmul_flops += times * _matmul_flops(op, out, args, shapes)
      elif op == "custom-call" and _KERNEL_CALL.search(args):
        kernel = _KERNEL_COST.search(args)
        stats.matmul_flops += times * (float(kernel.group(1)) if kernel else 0.0)
      coll = next((c for c in COLLECTIVES if op in (c, c + "-start", c + "-done")), None)
      channel = re.search(r"channel_id=(\d+)", args)
      if coll and not op.endswith("-done") and not (channel and channel.group(1) in seen):
        seen.add(channel.group(1) if channel else None)
        operands = sum(_bytes(shapes.get(a, "")) for a in re.findall(r"%([\w.\-]+)",
                                                                      args.split(")")[0]))
        stats.collectives[coll] = stats.collectives.get(coll, 0.0) + times * max(
            _bytes(out), operands)
      if not fused and op not in _NO_TRAFFIC and not coll:
        stats.traffic += times * traffic(out, op, args, shapes, trip)
      if depth > 64:
        continue
      if op == "while":
        loop = re.search(r"body=%([\w.\-]+)", args)
        if loop:
          n = trips(args, body)
          visit(loop.group(1), times * n, False, depth + 1, n)
      for callee in re.findall(r"calls=%([\w.\-]+)", args):
        visit(callee, times, fused or op == "fusion", depth + 1, trip)
      for branches in re.findall(r"branch_computations=\{([^}]*)\}", args):
        for callee in re.findall(r"%([\w.\-]+)", branches):
          visit(callee, times, fused, depth + 1, trip)

  if entry is not None:
    visit(entry, 1.0, False)
  return stats


# ----------------------------------------------------------------------------- train and decode

STAND_IN_STEPS_PER_EPOCH = 1000  # for the schedule's length only: it changes no shape


def plan_train(config, topo: Topology, batch_size: int | None = None,
               keep: bool = False) -> Report:
  """Compiles `trainers.train`'s step for `config` (at `batch_size`, default its own) on `topo`
  (with `keep`, the compiled program stays in the report's `executable`)."""
  batch_size = batch_size or config.input.batch_size
  mesh = train_lib.build_mesh(config, topo.devices)
  sharding_lib.check_batch_size(mesh, batch_size, "the batch size")
  model_cfg = build.model_config(config, topo.devices[0].platform)
  model = build.make_model(model_cfg)
  plan = train_lib.make_plan(config, STAND_IN_STEPS_PER_EPOCH * config.input.batch_size)
  tx, lr_fn = train_lib.build_optimizer(config, model_cfg, plan)
  abstract, shardings = train_lib.abstract_state(config, model_cfg, tx, mesh)
  step = train_lib.build_train_step(config, model, tx, lr_fn, shardings, mesh)
  shape = batch_shape(config.input.pp, "config.input.pp")
  batch = abstract_batch(shape, batch_size, sharding_lib.batch_sharding(mesh))
  # The model reads one text token less than the batch holds (build.teacher_forcing).
  flops = log_lib.train_flops_per_example(model_cfg, build.abstract_params(model_cfg),
                                          shape.text_len - 1, max(1, shape.num_images))
  n = len(topo.devices)
  report = Report("train step", topo.name, batch_size, topo.chip, True,
                  params=per_device_bytes(abstract.params),
                  opt_state=per_device_bytes(abstract.opt_state) + per_device_bytes(abstract.lora),
                  batch=per_device_bytes(batch), model_flops=flops * batch_size / n,
                  mesh=mesh_text(mesh))
  return compile_report(report, step, abstract, batch, keep=keep)


def plan_decode(config, topo: Topology) -> list[Report]:
  """Compiles the decode (prefill + token loop, `decode.generate`) of every decoding eval of
  `config` (those with max_decode_len) at its batch size, as the trainer's evaluators run it: on
  the train mesh, or the one over the same devices that the eval batch splits over
  (`sharding.mesh_for_batch`, the params moved onto it), the activations and KV cache on its batch
  axes. The total also counts what stays in HBM meanwhile: the train state (optimizer state, LoRA
  adapters, and the params themselves when the decode reads a copy: moved or LoRA-merged)."""
  mesh = train_lib.build_mesh(config, topo.devices)
  model_cfg = build.model_config(config, topo.devices[0].platform)
  model = build.make_model(model_cfg)
  plan = train_lib.make_plan(config, STAND_IN_STEPS_PER_EPOCH * config.input.batch_size)
  tx, _ = train_lib.build_optimizer(config, model_cfg, plan)
  state, _ = train_lib.abstract_state(config, model_cfg, tx, mesh)
  train_params = state.params
  others = per_device_bytes(state.opt_state) + per_device_bytes(state.lora)
  reports, seen = [], {}
  for name, cfg in (config.get("evals") or {}).items():
    if not cfg.get("max_decode_len"):
      continue
    kwargs, _ = eval_common.sampler_kwargs(cfg.get("sampler", "greedy"))
    shape = batch_shape(cfg.pp, f"evals.{name}.pp")
    key = repr((shape, cfg.batch_size, cfg.max_decode_len, sorted(kwargs.items())))
    if key in seen:  # the same program as an earlier eval's (e.g. POPE's three sets)
      reports.append(dataclasses.replace(seen[key], what=f"decode {name} ({cfg.max_decode_len} "
                                         f"tokens; the program of {seen[key].what})",
                                         compile_s=0.0))  # not compiled again
      continue
    eval_mesh = sharding_lib.mesh_for_batch(mesh, cfg.batch_size, f"evals.{name}.batch_size")
    params = sharding_lib.onto_mesh(train_params, eval_mesh)
    batch = abstract_batch(shape, cfg.batch_size, sharding_lib.batch_sharding(eval_mesh))
    fn = jax.jit(lambda p, b, kw=kwargs, n=cfg.max_decode_len, m=eval_mesh: decode.generate(
        model, p, b, max_decode_len=n, platform=topo.devices[0].platform, mesh=m, **kw).tokens)
    copy = eval_mesh is not mesh or state.lora is not None
    resident = others + (per_device_bytes(train_params) if copy else 0.0)
    report = Report(f"decode {name} ({cfg.max_decode_len} tokens)", topo.name, cfg.batch_size,
                    topo.chip, True, params=per_device_bytes(params), opt_state=resident,
                    batch=per_device_bytes(batch), mesh=mesh_text(eval_mesh))
    report = compile_report(report, fn, params, batch, share=True)
    if report.total and not report.error:  # the train state stays in HBM during the decode
      report.total += resident
      report.fits = report.chip.hbm_bytes is None or report.total <= report.chip.hbm_bytes
    reports.append(report)
    seen[key] = reports[-1]
  return reports


def set_remat(config, policy: str) -> None:
  """Both towers' remat policy (one of models/choices.py's names) on a preset or explicit model
  config."""
  target = config.model.overrides if config.model.get("preset") else config.model
  with config.unlocked():
    for tower in ("llm", "img"):
      fields = target.get(tower) or {}
      target[tower] = {**(fields.to_dict() if hasattr(fields, "to_dict") else fields),
                       "remat_policy": policy}


class NoFit(PlanError):
  """Not even one example a device fits."""


def largest_batch(config, topo: Topology, compile_fn=None, start: int | None = None,
                  limit: int = 1 << 16, keep: bool = False, max_compiles: int = 16,
                  tried: list[Report] | None = None, budget_s: float | None = None) -> Report:
  """The report at the largest global batch (a multiple of the devices, at most `limit`) that
  fits `topo`'s memory: compiles (`compile_fn`, default plan_train) at `start` (default 8
  examples a device; a quarter of it while it does not fit) and twice it, then where a line
  through the totals reaches the chip's memory (`_next_size`: through the largest batch known to
  fit and the smallest known not to), kept inside that bracket (its middle where two guesses in a
  row land on one side), until the two are one step apart: ~4-6 compiles where doubling and
  bisection take ~2 log2(batch). With `keep`, the returned report keeps its compiled program;
  `tried` (a list) gets every compile's report. With `budget_s`, no compile starts after that
  many seconds: the largest batch known to fit by then is returned, and said to be unpinned.
  Raises NoFit where one example a device does not fit, PlanError where the chip reports no
  memory limit or `max_compiles` do not pin it."""
  compile_fn = compile_fn or plan_train
  memory = topo.chip.hbm_bytes
  if not memory:
    raise PlanError(f"{topo.chip.name} reports no memory limit, so no batch is too large: give "
                    "the batch instead of searching.")
  unit = len(topo.devices)
  cap = max(unit, limit // unit * unit)
  reports: dict[int, Report] = {}
  fit = nofit = None  # the largest batch known to fit, the smallest known not to

  def probe(size: int) -> bool:
    if len(reports) >= max_compiles:
      raise PlanError(f"{max_compiles} compiles did not pin the largest batch (fits at {fit}, "
                      f"not at {nofit}); give the batch instead.")
    r = reports[size] = compile_fn(config, topo, size, keep=keep)
    if tried is not None:
      tried.append(r)
    print(f"  global batch {size}: {'fits' if r.fits else 'does not fit'} ({_gib(r.total)} of "
          f"{_gib(memory)}; compiled in {r.compile_s:.0f} s)", flush=True)
    return r.fits

  size = min(cap, max(unit, (start or 8 * unit) // unit * unit))
  while fit is None:
    if probe(size):
      fit = size
    elif size == unit:
      raise NoFit(f"not even one example a device fits ({_gib(reports[size].total)} of "
                  f"{_gib(memory)}).")
    else:
      nofit, size = size, max(unit, size // 4 // unit * unit)
  sides: list[bool] = []  # whether each probe after the first fit fitted
  deadline = time.monotonic() + budget_s if budget_s is not None else math.inf
  while fit < cap and (nofit is None or nofit - fit > unit):
    if time.monotonic() > deadline:
      print(f"  the search's {budget_s:.0f} s are spent: batch {fit} fits, "
            f"{'none larger was compiled' if nofit is None else f'{nofit} does not'}; the "
            "largest that fits lies between.", flush=True)
      break
    size = _next_size(reports, fit, nofit, memory, unit, cap)
    if nofit is not None and len(sides) > 1 and sides[-1] == sides[-2]:
      size = (fit + nofit) // 2 // unit * unit  # the line keeps landing on one side: halve
    sides.append(probe(size))
    fit, nofit = (size, nofit) if sides[-1] else (fit, size)
  for other in reports.values():  # only the returned report keeps its compiled program
    if other is not reports[fit]:
      other.executable = None
  return reports[fit]


def _next_size(reports: dict[int, Report], fit: int, nofit: int | None, memory: float,
               unit: int, cap: int) -> int:
  """Where a line reaches `memory`: through the totals at `fit` and `nofit` (or the two largest
  that fit; twice `fit` with one point), rounded down to a multiple of `unit`, strictly inside
  the bracket and at most `cap`."""
  points = [s for s in (fit, nofit) if s is not None and reports[s].total > 0]
  if len(points) < 2:
    points = sorted(s for s, r in reports.items() if r.fits and r.total > 0)[-2:]
  size = 2 * fit
  if len(points) == 2:
    (s0, s1), (t0, t1) = points, (reports[points[0]].total, reports[points[1]].total)
    if t1 > t0:
      size = int(s0 + (memory - t0) * (s1 - s0) / (t1 - t0)) // unit * unit
  upper = cap if nofit is None else min(cap, nofit - unit)
  return min(max(size, fit + unit), upper)


def search_batch(config, topo: Topology, policy: str, limit: int = 1 << 16,
                 tried: list[Report] | None = None) -> Report | None:
  """`largest_batch` with remat `policy` on both towers; None where one example a device does
  not fit."""
  set_remat(config, policy)
  try:
    return largest_batch(config, topo, limit=limit, tried=tried)
  except NoFit:
    return None


def search_line(best: Report | None, tried: Sequence[Report]) -> str:
  """What --search prints of one remat policy: the largest batch that fits, its roofline time
  an example, and the largest batch among `tried` that fits with the shortest time an example
  (within 1%), where that is at least 2% shorter (at the edge of the memory the compiler rematerialises on its own to fit: more
  compiled FLOPs for the same model FLOPs, so a smaller batch can be faster per example)."""
  if best is None:
    return "not even one example per device fits"
  line = f"largest global batch {best.batch_size}"
  if not best.step_s:
    return line

  def per(r: Report) -> float:
    return r.step_s / r.batch_size

  def overhead(r: Report) -> str:
    return f", compiled FLOPs {r.compiled_flops / r.model_flops:.2f}x the model's" \
        if r.model_flops else ""

  line += f" (roofline {1e3 * per(best):.2f} ms an example"
  fits = [r for r in tried if r.fits and r.step_s]
  quickest = min((per(r) for r in fits), default=per(best))
  fastest = max((r for r in fits if per(r) <= 1.01 * quickest), key=lambda r: r.batch_size,
                default=best)  # the largest of those within 1% of the fastest
  if per(fastest) < 0.98 * per(best):
    line += (f"{overhead(best)}; batch {fastest.batch_size} is faster per example: "
             f"{1e3 * per(fastest):.2f} ms{overhead(fastest)}")
  return line + ")"


# ----------------------------------------------------------------------------- output

def _gib(value: float) -> str:
  return f"{value / GIB:.2f} GiB" if value >= GIB / 10 else f"{value / 2**20:.1f} MiB"


def format_report(r: Report) -> str:
  """The report as a few lines of text."""
  hbm = f" of {_gib(r.chip.hbm_bytes)}" if r.chip.hbm_bytes else ""
  verdict = "FITS" if r.fits else "DOES NOT FIT"
  mesh = f", mesh {r.mesh}" if r.mesh else ""
  head = (f"{r.what} on {r.topology} ({r.chip.name}{mesh}), global batch {r.batch_size}: "
          f"{verdict} ({_gib(r.total)}{hbm} per chip; compiled in {r.compile_s:.0f} s)")
  lines = [head]
  if r.error:
    lines.append(f"  compiler: {r.error}")
    return "\n".join(lines)
  kept = "train state kept" if r.what.startswith("decode") else "optimizer state"
  lines.append(f"  per chip: params {_gib(r.params)}, {kept} {_gib(r.opt_state)}, "
               f"batch {_gib(r.batch)}, temporaries {_gib(r.temporaries)}, total {_gib(r.total)}")
  if r.model_flops:
    lines.append(f"  FLOPs per chip: compiled {r.compiled_flops:.3g}, model {r.model_flops:.3g} "
                 f"(remat overhead {r.compiled_flops / r.model_flops:.2f}x)")
  else:
    lines.append(f"  FLOPs per chip: compiled {r.compiled_flops:.3g}")
  coll = ", ".join(f"{k} {_gib(v)}" for k, v in sorted(r.collectives.items())) or "none"
  lines.append(f"  collectives per chip per step: {coll}")
  if r.step_s:
    bounds = ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in r.roofline.items())
    mfu = f", MFU {100 * r.mfu:.1f}%" if r.mfu is not None else ""
    lines.append(f"  roofline: step {1e3 * r.step_s:.1f} ms ({bounds}){mfu}")
  return "\n".join(lines)


def parse_flags(argv: Sequence[str]):
  parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", required=True, help="FILE.py[:arg], e.g. docvqa.py:res=448")
  parser.add_argument("--topology", default="local",
                      help="local, or <gen>:<AxB[xC]> with gen in " + ", ".join(sorted(CHIPS)))
  parser.add_argument("--search", action="store_true",
                      help="the largest global batch that fits for each remat policy")
  parser.add_argument("--decode", action="store_true", help="the evaluators' decode instead")
  parser.add_argument("--hlo_out", default=None,
                      help="also write each compiled module's text to HLO_OUT.<n>.txt")
  flags, rest = parser.parse_known_args(argv)
  try:
    return flags, config_lib.parse_overrides(rest)
  except config_lib.ConfigError as e:
    parser.error(str(e))


def main(argv: Sequence[str] | None = None) -> list[Report]:
  flags, overrides = parse_flags(sys.argv[1:] if argv is None else argv)
  config = config_lib.load_config(flags.config, overrides)
  try:
    topo = topology(flags.topology)
  except PlanError as e:
    raise SystemExit(f"error: {e}") from None
  if flags.decode:
    reports = plan_decode(config, topo)
    if not reports:
      print("config.evals has no decoding eval (none with max_decode_len).")
  elif flags.search:
    reports = []
    for policy in REMAT:
      print(f"remat {policy}:", flush=True)
      tried: list[Report] = []
      try:
        best = search_batch(config, topo, policy, tried=tried)
      except PlanError as e:
        raise SystemExit(f"error: {e}") from None
      print(f"remat {policy}: {search_line(best, tried)}", flush=True)
      reports += [best] if best else []
  else:
    reports = [plan_train(config, topo)]
  for i, r in enumerate(reports):
    print(format_report(r), flush=True)
    if flags.hlo_out and r.hlo:
      fs.write_bytes(f"{flags.hlo_out}.{i}.txt", r.hlo.encode())
  return reports


if __name__ == "__main__":
  main()
