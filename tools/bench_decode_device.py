"""Greedy decoding of a published-size PaliGemma on an accelerator: step time vs the HBM bound.

  python -m tools.bench_decode_device --preset pali_gemma2_pt_3b_224 --dtype bfloat16 \
      --batches 1,64

Ours only (no reference library): random weights of the preset, created on the device in `--dtype`
(parameters and compute), a prompt of the preset's image tokens + `--prompt_len` text tokens, EOS
disabled. Per batch: prefill (time to the first token) and per token = (time for N tokens -
prefill) / (N - 1), best of `--trials`, with the per-layer decoder weights made once
(`decode.layer_weights`, as the evaluators do). The per-token time at each batch is compared with
the decoder's weight bytes divided by the device's read bandwidth, measured in the same run (a jnp
sum over a `--read_gib` GiB array): the time a memory-bound step can not beat. Prints one line per
batch and, with `--json FILE`, writes all figures there.

For a quick check on CPU, shrink the preset: `--override llm.num_layers=2 --override img.depth=1`.
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma import decode
from big_paligemma import fs
from big_paligemma.models import paligemma
from big_paligemma.models import presets
from big_paligemma import config as config_lib


def model_config(preset: str, dtype: str, overrides: list[str]) -> paligemma.PaliGemmaConfig:
  """The preset with both towers in `dtype` and `part.field=value` overrides (part img or llm)."""
  fields = {"img": {"dtype": dtype, "param_dtype": dtype},
            "llm": {"dtype": dtype, "param_dtype": dtype}}
  for item in overrides:
    key, sep, value = item.partition("=")
    part, dot, field = key.partition(".")
    if not (sep and dot and part in fields and field):
      raise SystemExit(f"--override {item!r}: use img.FIELD=VALUE or llm.FIELD=VALUE.")
    fields[part][field] = config_lib.parse_value(value)
  kind = type(presets.get_preset(preset)).__name__
  if kind != "PaliGemmaConfig":
    raise SystemExit(f"--preset {preset!r} is a {kind}; pick a PaliGemma preset (pali_gemma_* "
                     "or pali_gemma2_*).")
  return presets.get_preset(preset, **fields)


def read_bandwidth(gib: float, trials: int = 5) -> float:
  """Bytes/s of the best of `trials` jitted sums over a float32 array of `gib` GiB."""
  x = jnp.ones((int(gib * 2**30) // 4,), jnp.float32)
  total = jax.jit(jnp.sum)
  return x.nbytes / best_time(lambda: total(x).block_until_ready(), trials)


def best_time(fn, trials: int) -> float:
  fn()  # warm-up (compilation)
  times = []
  for _ in range(trials):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def prompt(cfg: paligemma.PaliGemmaConfig, batch: int, prompt_len: int) -> dict:
  rng = np.random.RandomState(0)
  text = rng.randint(3, cfg.llm.vocab_size, (batch, prompt_len)).astype(np.int32)
  image = rng.uniform(-1, 1, (batch, cfg.image_size, cfg.image_size, 3)).astype(np.float32)
  return {"image": image, "text": text, "mask_ar": np.zeros_like(text),
          "mask_input": np.ones_like(text)}


def measure(model, params, batch: dict, new_tokens: int, trials: int) -> tuple[float, float]:
  """(prefill seconds, seconds per further token) with the loop's layers made once."""
  weights = decode.layer_weights(model, params, batch["text"].shape[0])

  def run(n):
    return lambda: jax.block_until_ready(decode.generate(
        model, params, batch, max_decode_len=n, eos_id=-1, layer_weights=weights).tokens)
  first = best_time(run(1), trials)
  total = best_time(run(new_tokens), trials)
  return first, (total - first) / (new_tokens - 1)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="pali_gemma2_pt_3b_224")
  parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
  parser.add_argument("--batches", default="1,64")
  parser.add_argument("--new_tokens", type=int, default=32)
  parser.add_argument("--prompt_len", type=int, default=10)
  parser.add_argument("--trials", type=int, default=3)
  parser.add_argument("--read_gib", type=float, default=4.0,
                      help="size of the array the read bandwidth is measured on")
  parser.add_argument("--override", action="append", default=[], metavar="PART.FIELD=VALUE")
  parser.add_argument("--json", default="", help="write the figures to this file")
  args = parser.parse_args(argv)
  if args.new_tokens < 2:
    parser.error(f"--new_tokens={args.new_tokens}: needs at least 2 (prefill + 1 step).")
  cfg = model_config(args.preset, args.dtype, args.override)
  model = paligemma.PaliGemma(cfg)
  params = jax.jit(lambda key, b: model.init(key, b)["params"])(
      jax.random.key(0), prompt(cfg, 1, args.prompt_len))
  decoder_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(params["llm"]))
  bandwidth = read_bandwidth(args.read_gib)
  floor = decoder_bytes / bandwidth
  n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
  result = {"preset": args.preset, "dtype": args.dtype, "device": str(jax.devices()[0]),
            "params": n_params, "decoder_bytes": decoder_bytes, "read_bytes_per_s": bandwidth,
            "floor_s": floor, "batches": {}}
  print(f"{args.preset} {args.dtype} on {result['device']}: {n_params / 1e9:.3f}B params, decoder "
        f"{decoder_bytes / 2**30:.2f} GiB; read bandwidth {bandwidth / 1e9:.0f} GB/s -> "
        f"weight-read floor {floor * 1e3:.2f} ms/token", flush=True)
  for b in [int(x) for x in args.batches.split(",")]:
    first, per_token = measure(model, params, prompt(cfg, b, args.prompt_len), args.new_tokens,
                               args.trials)
    result["batches"][b] = {"prefill_s": first, "per_token_s": per_token,
                            "tokens_per_s": b / per_token, "x_floor": per_token / floor}
    print(f"batch {b}: prefill {first * 1e3:.1f} ms, per token {per_token * 1e3:.2f} ms "
          f"({per_token / floor:.2f}x the floor), {b / per_token:.0f} tokens/s", flush=True)
  if args.json:
    fs.write_text(args.json, json.dumps(result, indent=1))
  return result


if __name__ == "__main__":
  main()
