"""Training speed: our jitted train step vs transformers + torch.optim.AdamW, same model and batch.

  python -m tools.bench_train --batch 8 --text_len 32 --steps 4 --warmup 2 --rounds 3

Model (random weights, float32): transformers' PaliGemmaConfig of SigLIP width 384, depth 6, 6
heads, MLP 1536, patch 16 at 224 px (P = 196) + Gemma 2 width 768, `--layers` layers (default 4),
8 heads / 4 kv heads of dim 96, MLP 3072, vocab 32768, soft-caps 50 / 30; ours is built from the
same config dict by `hf_paligemma.paligemma_config_from_hf`. Batch: B images + T text tokens
(first half prefix, second half suffix; the loss is on the suffix), so the decoder sees P + T.

Ours: `trainers.step.make_train_step` + `jit_train_step` with `optim.make_optimizer` (adamw,
constant lr, wd, clip 1.0), as the trainer runs it, with both towers' layers fully unrolled
(`scan_unroll` = the number of layers, same parameter tree; `--scan` keeps the scanned loop that
`unroll=False` configs use: 3.7 s against 3.16 s a step here). HF: model.train() forward with labels
(-100 outside the suffix) and token_type_ids (prefix-LM mask), backward, AdamW step (+ clip 1.0).
Protocol: `--rounds` (default 3) rounds, each a fresh process timing ours (`--warmup` untimed
steps, then `--steps` timed ones) followed by a fresh process timing HF, so slow drifts in the
machine's load hit both, and neither library runs in a process the other has used: in one process
a step taken after the other library's steps ran up to ~50% slower for several steps (our step
3.5-4.9 s after HF steps, 3.16 s in a process of its own, on the quiet 2-core machine), even with
a 1 s pause between them, which measures the hand-over rather than either library.
`--same_process` keeps the old in-process alternation (with `--pause` seconds before each step).
The medians over all rounds' steps and each round's ratio are reported. FLOP/s use the
trainer's own count (`trainers.logging.train_flops_per_example`, fwd + bwd matmuls) for both
sides and are given as a fraction of the float32 matmul peak measured here in jax and in torch
(the best of 10 [2048,2048] @ [2048,2048] products).
"""
import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers

from big_paligemma import optim
from big_paligemma import sharding as sharding_lib
from big_paligemma.interop import hf_paligemma
from big_paligemma.models import paligemma
from big_paligemma.models import build
from trainers import logging as log_lib
from trainers import state as state_lib
from trainers import step as step_lib

_VOCAB, _IMAGE_TOKEN = 32768, 32767
_OPTIM = dict(optax_name="adamw", optax=dict(b1=0.9, b2=0.999, eps=1e-8), lr=1e-4, wd=1e-4,
              grad_clip_norm=1.0, schedule=dict(decay_type="constant"))


def hf_config(layers: int) -> transformers.PaliGemmaConfig:
  vision = transformers.SiglipVisionConfig(
      hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
      image_size=224, patch_size=16, vision_use_head=False, projection_dim=768)
  text = transformers.Gemma2Config(
      vocab_size=_VOCAB, hidden_size=768, intermediate_size=3072, num_hidden_layers=layers,
      num_attention_heads=8, num_key_value_heads=4, head_dim=96, query_pre_attn_scalar=96,
      sliding_window=4096, pad_token_id=0, eos_token_id=1, bos_token_id=2)
  return transformers.PaliGemmaConfig(vision_config=vision, text_config=text,
                                      image_token_index=_IMAGE_TOKEN, vocab_size=_VOCAB,
                                      projection_dim=768, hidden_size=768)


def with_overrides(cfg: paligemma.PaliGemmaConfig, spec: str) -> paligemma.PaliGemmaConfig:
  """`spec` "field=value,img.field=value,...": GemmaConfig fields, or SigLIPConfig ones after
  "img."; integer values are parsed."""
  fields = {"llm": {}, "img": {}}
  for item in filter(None, spec.split(",")):
    key, sep, value = item.partition("=")
    if not sep:
      raise ValueError(f"--ours item {item!r} is not field=value.")
    part, _, name = key.rpartition(".")
    if part not in ("", "img"):
      raise ValueError(f"--ours key {key!r}: use a GemmaConfig field or img.<SigLIPConfig field>.")
    fields[part or "llm"][name] = int(value) if value.lstrip("-").isdigit() else value
  return dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, **fields["llm"]),
                             img=dataclasses.replace(cfg.img, **fields["img"]))


def make_batch(batch: int, text_len: int, res: int) -> dict[str, np.ndarray]:
  """image [B,res,res,3] in [-1,1]; text [B,T+1] (no image token; the train step's model reads
  T of them, build.teacher_forcing); masks [B,T+1]: suffix = 2nd half."""
  rng = np.random.default_rng(0)
  suffix = (np.arange(text_len + 1) >= text_len // 2).astype(np.int32)[None].repeat(batch, 0)
  return {"image": rng.uniform(-1, 1, (batch, res, res, 3)).astype(np.float32),
          "text": rng.integers(3, _IMAGE_TOKEN, (batch, text_len + 1)).astype(np.int32),
          "mask_ar": suffix, "mask_loss": suffix, "mask_input": np.ones_like(suffix)}


def step_times(steps_by_name: dict, warmup: int, steps: int,
               pause: float = 0.0) -> dict[str, list[float]]:
  """Seconds of each timed step per name, after `warmup` untimed ones; the names alternate, with
  `pause` idle seconds (untimed) before every timed step."""
  for step in steps_by_name.values():
    for _ in range(warmup):
      step()
  times = {name: [] for name in steps_by_name}
  for _ in range(steps):
    for name, step in steps_by_name.items():
      time.sleep(pause)
      times[name].append(_timed(step))
  return times


def ours(cfg: paligemma.PaliGemmaConfig, batch: dict):
  """The trainer's jitted step (adamw) as a blocking closure."""
  mesh = sharding_lib.make_mesh([("data", -1), ("fsdp", 1), ("tensor", 1)])
  p_shardings = sharding_lib.infer_param_shardings(build.abstract_params(cfg), [(".*", "fsdp")],
                                                   mesh)
  tx, lr_fn = optim.make_optimizer(_OPTIM, build.abstract_params(cfg))
  abstract = state_lib.abstract_state(cfg, tx, 0)
  shardings = state_lib.state_shardings(abstract, p_shardings, mesh)
  params = build.init_params(cfg, build.init_rng(0), p_shardings)
  state = state_lib.create_state(params, tx, 0, shardings)
  model = step_lib.model_for_mesh(paligemma.PaliGemma(cfg), mesh)
  step_fn = step_lib.make_train_step(model, tx, lr_fn, {"normalisation": "per_example"})
  data_sharding = sharding_lib.batch_sharding(mesh)
  jitted = step_lib.jit_train_step(step_fn, shardings, data_sharding, mesh)
  device_batch = jax.device_put(batch, data_sharding)
  holder = [state]

  def step():
    holder[0], metrics = jitted(holder[0], device_batch)
    metrics["loss"].block_until_ready()

  return step


def hf_inputs(batch: dict, num_patches: int) -> dict[str, torch.Tensor]:
  """PaliGemma inputs: P image tokens ++ the T text tokens ours reads (HF shifts its labels
  inside); token_type_ids 1 on the suffix; labels there."""
  b = batch["text"].shape[0]
  image_tokens = np.full((b, num_patches), _IMAGE_TOKEN, np.int64)
  ids = np.concatenate([image_tokens, batch["text"][:, :-1]], 1)
  suffix = np.concatenate([np.zeros((b, num_patches), np.int64), batch["mask_loss"][:, :-1]], 1)
  labels = np.where(suffix == 1, ids, -100)
  return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.ones(ids.shape, dtype=torch.long),
          "token_type_ids": torch.from_numpy(suffix), "labels": torch.from_numpy(labels),
          "pixel_values": torch.from_numpy(batch["image"].transpose(0, 3, 1, 2).copy())}


def hf(config: transformers.PaliGemmaConfig, batch: dict, num_patches: int, attn: str):
  """(HF forward + backward + AdamW step as a closure, parameter count)."""
  torch.manual_seed(0)
  config._attn_implementation = attn  # pylint: disable=protected-access
  model = transformers.PaliGemmaForConditionalGeneration(config).float().train()
  opt = torch.optim.AdamW(model.parameters(), lr=_OPTIM["lr"], betas=(0.9, 0.999), eps=1e-8,
                          weight_decay=_OPTIM["wd"])
  inputs = hf_inputs(batch, num_patches)

  def step():
    loss = model(**inputs).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)

  return step, sum(p.numel() for p in model.parameters())


def matmul_peaks(n: int = 2048, reps: int = 10) -> tuple[float, float]:
  """(jax, torch) float32 FLOP/s of the best of `reps` [n,n] @ [n,n] products."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  mm = jax.jit(lambda x, y: x @ y)
  mm(a, a).block_until_ready()
  best_jax = min(_timed(lambda: mm(a, a).block_until_ready()) for _ in range(reps))
  t = torch.randn(n, n)
  torch.mm(t, t)
  best_torch = min(_timed(lambda: torch.mm(t, t)) for _ in range(reps))
  return 2 * n**3 / best_jax, 2 * n**3 / best_torch


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def _child_times(argv: list[str], name: str) -> list[float]:
  """Step times of `name` measured by a fresh `python -m tools.bench_train --only name` process."""
  cmd = [sys.executable, "-m", "tools.bench_train", *argv, "--only", name, "--json"]
  run = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if run.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
  return json.loads(run.stdout.strip().splitlines()[-1])[name]


def _report(times: dict, flops: float, batch: int, peaks: dict) -> dict:
  out = {name: statistics.median(t) for name, t in times.items()}
  for name, sec in out.items():
    lib, peak = peaks[name]
    print(f"{name}: {sec:.3f} s/step (steps {[round(t, 2) for t in times[name]]})  "
          f"{batch / sec:.3f} examples/s  {flops / sec / 1e9:.1f} GFLOP/s = "
          f"{flops / sec / peak:.1%} of the {lib} matmul peak")
  return out


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--text_len", type=int, default=32)
  parser.add_argument("--layers", type=int, default=4, help="Gemma 2 layers")
  parser.add_argument("--steps", type=int, default=4, help="timed steps per process")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--rounds", type=int, default=3,
                      help="with --only both: (ours, HF) pairs of processes, alternated")
  parser.add_argument("--only", choices=("ours", "hf", "both"), default="both")
  parser.add_argument("--same_process", action="store_true",
                      help="time both in this process, steps alternated (see the docstring)")
  parser.add_argument("--json", action="store_true", help="print the step times as a JSON line")
  parser.add_argument("--hf_attn", default="eager",
                      help="transformers attn_implementation (Gemma 2 supports only eager)")
  parser.add_argument("--ours", default="", help="config overrides, e.g. "
                      "attn_impl=einsum,remat_policy=dots_saveable (applied after --scan)")
  parser.add_argument("--scan", action="store_true", help="run both towers' layers as a scanned "
                      "loop (scan_unroll=1, what unroll=False configs use) instead of unrolled")
  parser.add_argument("--pause", type=float, default=1.0,
                      help="--same_process: idle seconds before each timed step")
  argv = list(sys.argv[1:] if argv is None else argv)
  args = parser.parse_args(argv)
  config = hf_config(args.layers)
  cfg = hf_paligemma.paligemma_config_from_hf(config.to_dict())
  if not args.scan:
    cfg = with_overrides(cfg, f"scan_unroll={cfg.llm.num_layers},img.scan_unroll={cfg.img.depth}")
  cfg = with_overrides(cfg, args.ours)
  batch = make_batch(args.batch, args.text_len, cfg.image_size)
  flops = args.batch * log_lib.train_flops_per_example(cfg, build.abstract_params(cfg),
                                                       args.text_len)
  if args.only == "both" and not args.same_process:
    print(f"load {os.getloadavg()}  cpus {os.cpu_count()}  torch threads "
          f"{torch.get_num_threads()}  XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"ours: {cfg}\nparams (ours) {build.num_params(cfg):,}  model FLOPs/step {flops:.4g}")
    peak_jax, peak_torch = matmul_peaks()
    print(f"matmul peak (f32 2048^3): jax {peak_jax / 1e9:.1f} GFLOP/s, torch "
          f"{peak_torch / 1e9:.1f} GFLOP/s")
    times, per_round = {"ours": [], "hf": []}, []
    for r in range(args.rounds):
      got = {name: _child_times(argv, name) for name in ("ours", "hf")}
      for name, t in got.items():
        times[name] += t
      per_round.append(statistics.median(got["hf"]) / statistics.median(got["ours"]))
      print(f"round {r + 1}: ours {[round(t, 2) for t in got['ours']]} s, hf "
            f"{[round(t, 2) for t in got['hf']]} s, ratio {per_round[-1]:.2f}x", flush=True)
    out = _report(times, flops, args.batch, {"ours": ("jax", peak_jax), "hf": ("torch", peak_torch)})
    print(f"ratio ours/hf examples/s: {out['hf'] / out['ours']:.2f}x of the medians, "
          f"rounds {[round(x, 2) for x in per_round]}  (load now {os.getloadavg()})")
    return out
  steps = {}
  if args.only in ("ours", "both"):
    steps["ours"] = ours(cfg, batch)
  if args.only in ("hf", "both"):
    steps["hf"], _ = hf(config, batch, cfg.num_image_tokens, args.hf_attn)
  times = step_times(steps, args.warmup, args.steps, args.pause if len(steps) > 1 else 0.0)
  if args.json:
    print(json.dumps(times))
    return {name: statistics.median(t) for name, t in times.items()}
  peak_jax, peak_torch = matmul_peaks()
  out = _report(times, flops, args.batch, {"ours": ("jax", peak_jax), "hf": ("torch", peak_torch)})
  if len(out) == 2:
    pairs = statistics.median(h / o for h, o in zip(times["hf"], times["ours"]))
    print(f"ratio ours/hf examples/s: {out['hf'] / out['ours']:.2f}x of the medians, {pairs:.2f}x "
          f"median per pair  (load now {os.getloadavg()})")
  return out


if __name__ == "__main__":
  main()
