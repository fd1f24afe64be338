"""Converts model weights between HF transformers directories, big_vision .npz files and our runs.

  python -m tools.convert --src SRC --dst DST [--to {hf,npz}]
      [--preset NAME | --config FILE.py[:args]] [--step N] [--dtype {float32,bfloat16,float16}]
      [--overwrite]

--src, told apart by what is there:
  an HF directory (config.json + safetensors): `hf.load_hf`; its config.json gives the model.
  a big_vision .npz file: `big_vision.load_npz`; the file holds no model config, so --preset (a
    presets.names() name) or --config (a trainer config; its `model` entry) gives it.
  one of our runs (a workdir holding ckpt/, a checkpoint dir, or a LoRA run's workdir/merged):
    `checkpoint.restore_params` of the latest step (or --step); needs --preset or --config too.
--dst: a big_vision .npz when it ends in .npz (PaliGemma and Gemma models, `big_vision.save_npz`),
else an HF directory (`hf_save.save_hf`: PaliGemma, Gemma 3 multimodal, Gemma 1/2/3 text); --to
overrides the guess. An HF PaliGemma source keeps its image_token_index in an HF destination.
--dtype casts every tensor (default: as the loaders read them, float32 for HF directories, the
model config's param dtype otherwise). An existing --dst (other than an empty directory) is
replaced only with --overwrite, and only by the same format (an .npz file, an HF directory);
both savers write to a temporary path and rename it into place. Prints one line: the kind,
parameter count, dtypes and destination. A wrong source, option or model kind exits with status 2
and a message that names the value and the fix.
"""
import argparse
import json
import math
import os

import jax
import jax.numpy as jnp

from big_paligemma import checkpoint
from big_paligemma import config as config_lib
from big_paligemma import fs
from big_paligemma.interop import big_vision
from big_paligemma.interop import hf
from big_paligemma.interop import hf_save
from big_paligemma.models import build
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import presets
import evaluators  # noqa: F401  (registers the evaluator types a --config's evals name)

DTYPES = ("float32", "bfloat16", "float16")
# What each destination format writes (the kinds load_hf returns; .npz and run sources get theirs
# from their config, see KIND_OF_CONFIG).
WRITES = {"hf": hf_save.KINDS, "npz": ("paligemma", "gemma")}
FORMAT_NAMES = {"hf": "an HF directory", "npz": "a big_vision .npz file", "run": "one of our runs"}
KIND_OF_CONFIG = {paligemma.PaliGemmaConfig: "paligemma", gemma3.Gemma3Config: "gemma3",
                  gemma.GemmaConfig: "gemma"}
_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError)


class ConvertError(ValueError):
  """A source, destination or option the tool cannot use (the message says what to change)."""


# ---------------------------------------------------------------- formats


def source_format(src: str) -> str:
  """'hf', 'npz' or 'run' for what is at `src`."""
  if not fs.exists(src):
    raise ConvertError(f"--src {src!r} does not exist.")
  if fs.isfile(src):
    return "npz"  # load_npz says so when the file is not an .npz.
  if fs.exists(fs.join(src, "config.json")):
    return "hf"
  if fs.isdir(fs.join(src, "ckpt")) or any(d.isdigit() for d in fs.listdir(src)):
    return "run"
  raise ConvertError(f"--src {src!r} is a directory with neither config.json (an HF checkpoint) "
                     "nor ckpt/ or step directories (one of our runs); give an HF directory, a "
                     "big_vision .npz file, or a run's workdir / checkpoint dir.")


def destination_format(dst: str, to: str | None) -> str:
  """--to, else 'npz' for a path ending in .npz, else 'hf'."""
  fmt = to or ("npz" if dst.endswith(".npz") else "hf")
  if fmt == "npz" and not dst.endswith(".npz"):
    raise ConvertError(f"--to npz but --dst {dst!r} does not end in .npz (big_vision recognises "
                       "its checkpoints by name); use --dst PATH.npz.")
  return fmt


def check_destination(dst: str, fmt: str, overwrite: bool) -> None:
  """Refuses an existing --dst without --overwrite, and one of another format even with it."""
  if not fs.exists(dst) or (fs.isdir(dst) and not fs.listdir(dst)):
    return
  if not overwrite:
    raise ConvertError(f"--dst {dst!r} exists; pass --overwrite to replace it, or pick another "
                       "--dst.")
  if fmt == "npz" and not fs.isfile(dst):
    raise ConvertError(f"--dst {dst!r} is not a file; --overwrite replaces an .npz file only: "
                       "remove it yourself or pick another --dst.")
  if fmt == "hf" and not fs.exists(fs.join(dst, "config.json")):
    raise ConvertError(f"--dst {dst!r} is not an HF directory (no config.json); --overwrite "
                       "replaces HF directories only: remove it yourself or pick another --dst.")


def check_writable(kind: str, fmt: str, src: str) -> None:
  """Refuses a model kind that the destination format does not hold."""
  if kind in WRITES[fmt]:
    return
  others = [f"--to {f}" for f, kinds in WRITES.items() if f != fmt and kind in kinds]
  fix = f"use {others[0]}" if others else "this tool writes it in neither format"
  raise ConvertError(f"--src {src!r} holds a {kind!r} model, which {FORMAT_NAMES[fmt]} does not "
                     f"hold (kinds {list(WRITES[fmt])}); {fix}.")


# ---------------------------------------------------------------- reading


def model_config(preset: str | None, config_spec: str | None, src: str, fmt: str):
  """The model config from --preset or --config (needed by .npz and run sources only)."""
  if fmt == "hf":
    if preset or config_spec:
      raise ConvertError(f"--src {src!r} is an HF directory: its config.json gives the model; "
                         "drop --preset / --config.")
    return None
  if preset and config_spec:
    raise ConvertError("give one of --preset and --config, not both.")
  if preset:
    return presets.get_preset(preset)
  if config_spec:
    return build.model_config(config_lib.load_config(config_spec))
  raise ConvertError(f"--src {src!r} is {FORMAT_NAMES[fmt]}, which holds no model config: pass "
                     "--preset NAME "
                     "(presets.names() lists them, e.g. pali_gemma_3b_224) or --config "
                     "FILE.py[:args] (a trainer config, e.g. configs/transfer/docvqa.py:res=224).")


def _abstract(model_cfg, dtype: str | None):
  shapes = build.abstract_params(model_cfg)
  if dtype is None:
    return shapes
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, jnp.dtype(dtype)), shapes)


def read(src: str, fmt: str, model_cfg, step: int | None, dtype: str | None):
  """(kind, model config, params) of the source."""
  if step is not None and fmt != "run":
    raise ConvertError(f"--step {step} picks a step of one of our runs; --src {src!r} is "
                       f"{FORMAT_NAMES[fmt]}: drop --step.")
  if fmt == "hf":
    return hf.load_hf(src, dtype=dtype)
  kind = KIND_OF_CONFIG[type(model_cfg)]
  if fmt == "npz":
    return kind, model_cfg, big_vision.load_npz(src, model_cfg, dtype=dtype)
  return kind, model_cfg, checkpoint.restore_params(src, _abstract(model_cfg, dtype), step)


def hf_image_token(src: str, fmt: str) -> int | None:
  """An HF PaliGemma source's image_token_index (for an HF destination), else None."""
  if fmt != "hf":
    return None
  config = json.loads(fs.read_text(fs.join(src, "config.json")))
  return config.get("image_token_index") if config.get("model_type") == "paligemma" else None


# ---------------------------------------------------------------- writing


def write_hf(dst: str, kind: str, model_cfg, params, dtype: str | None,
             image_token_index: int | None) -> None:
  """save_hf into `dst`; an existing HF directory there is swapped out after the new one is
  complete (dst is missing only between two renames) and then deleted. gs://: the renames copy
  object by object, so dst is missing (or partial) for the time of one copy."""
  if not fs.exists(dst) or not fs.listdir(dst):
    hf_save.save_hf(dst, kind, model_cfg, params, dtype=dtype, image_token_index=image_token_index)
    return
  new, old = f"{dst}.convert-new-{os.getpid()}", f"{dst}.convert-old-{os.getpid()}"
  try:
    hf_save.save_hf(new, kind, model_cfg, params, dtype=dtype, image_token_index=image_token_index)
    fs.rename(dst, old)
    try:
      fs.rename(new, dst)
    except BaseException:
      fs.rename(old, dst)
      raise
  finally:
    fs.rmtree(new)
  fs.rmtree(old)


def write(dst: str, fmt: str, kind: str, model_cfg, params, dtype: str | None,
          image_token_index: int | None) -> None:
  if fmt == "hf":
    write_hf(dst, kind, model_cfg, params, dtype, image_token_index)
  else:
    if dtype is not None:  # Gemma 3's vision tower stays float32 in load_hf.
      params = jax.tree.map(lambda x: x if x.dtype == dtype else x.astype(dtype), params)
    big_vision.save_npz(params, dst)


def summary(kind: str, model_cfg, params, fmt: str, dst: str, dtype: str | None) -> dict:
  leaves = jax.tree.leaves(params)
  dtypes = sorted({dtype} if dtype else {jnp.dtype(x.dtype).name for x in leaves})
  return {"kind": kind, "config": type(model_cfg).__name__, "format": fmt, "dst": dst,
          "num_params": sum(math.prod(x.shape) for x in leaves), "dtypes": dtypes}


# ---------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m tools.convert",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("--src", required=True, help="HF directory, big_vision .npz or our run")
  parser.add_argument("--dst", required=True, help="PATH.npz (big_vision) or an HF directory")
  parser.add_argument("--to", choices=("hf", "npz"), default=None,
                      help="destination format (default: npz for a .npz --dst, else hf)")
  parser.add_argument("--preset", default=None, help="model preset, for .npz and run sources")
  parser.add_argument("--config", default=None,
                      help="trainer config FILE.py[:args] giving the model, for .npz and runs")
  parser.add_argument("--step", type=int, default=None, help="run step (default: the latest)")
  parser.add_argument("--dtype", choices=DTYPES, default=None, help="cast every tensor")
  parser.add_argument("--overwrite", action="store_true", help="replace an existing --dst")
  return parser


def convert(args: argparse.Namespace) -> dict:
  """Reads args.src, writes args.dst; returns the summary."""
  src, dst = args.src.rstrip("/") or "/", args.dst.rstrip("/") or "/"
  src_fmt, dst_fmt = source_format(src), destination_format(dst, args.to)
  if fs.same_path(src, dst):
    raise ConvertError(f"--dst {dst!r} is --src; pick another --dst.")
  check_destination(dst, dst_fmt, args.overwrite)
  model_cfg = model_config(args.preset, args.config, src, src_fmt)
  kind, model_cfg, params = read(src, src_fmt, model_cfg, args.step, args.dtype)
  check_writable(kind, dst_fmt, src)
  write(dst, dst_fmt, kind, model_cfg, params, args.dtype, hf_image_token(src, src_fmt))
  return summary(kind, model_cfg, params, dst_fmt, dst, args.dtype)


def _message(e: Exception) -> str:
  return e.args[0] if isinstance(e, KeyError) and e.args else str(e)


def main(argv=None) -> dict:
  parser = _parser()
  args = parser.parse_args(argv)
  try:
    result = convert(args)
  except _USER_ERRORS as e:
    parser.error(_message(e))
  print(f"converted {result['kind']} ({result['config']}, {result['num_params']:,} params, "
        f"{'/'.join(result['dtypes'])}) -> {result['format']} {result['dst']}", flush=True)
  return result


if __name__ == "__main__":
  main()
