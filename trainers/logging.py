"""Run metrics: workdir/metrics.jsonl, TensorBoard event files, a console line, FLOPs and MFU.

`train_flops_per_example` counts the matmul FLOPs of one training example, forward + backward =
3 x forward, 2 x m x k x n per forward matmul: 6 x (matmul weights) per token, plus the dense
attention scores and values (12 x layers x queries x keys x width), plus the output logits
(6 x D x V per position that gets logits). Biases, norms, pooling and softmax are not counted.
  PaliGemma: the image encoder over its P patches (of each of M images); the decoder over the
    M*P image tokens ahead of the T text tokens; logits on the T text tokens only.
  Gemma 3: the image encoder over the P patches of each image and the projector over each image's
    tokens_per_image pooled tokens; the decoder over the T tokens of the text, which already holds
    the image placeholders; logits on all T positions.
"""
import json
import math
import time
from typing import Any

import jax

from big_paligemma import fs
from big_paligemma import tree as tree_lib
from big_paligemma.models import gemma3
from trainers import tb_events

# Dense peak FLOP/s per device by `device_kind` as jax reports it (bf16 tensor cores), for the
# MFU estimate. TPUs are named by generation: v5e is "TPU v5 lite", v5p "TPU v5", v6e
# "TPU v6 lite" (one device a chip; libtpu's compile-only devices carry the same names).
PEAK_FLOPS = {"NVIDIA H100 80GB HBM3": 989e12, "NVIDIA H200": 989e12,
              "NVIDIA A100-SXM4-80GB": 312e12, "TPU v4": 275e12, "TPU v5 lite": 197e12,
              "TPU v5": 459e12, "TPU v6 lite": 918e12}


def _matmul_params(params_tree: Any, prefix: str) -> int:
  """Weights of `prefix`'s matmuls (a stacked [L, ...] weight counts once per layer): every leaf
  but biases, norm scales, the token embedder and position embeddings."""
  total = 0
  for path, x in tree_lib.flatten(params_tree).items():
    name = path.rsplit("/", 1)[-1]
    if path.startswith(prefix) and name not in ("bias", "scale") and "embedder" not in path \
        and "pos_embedding" not in path:
      total += math.prod(x.shape)
  return total


def _attention_flops(layers: int, queries: int, keys: int, width: int) -> int:
  """Scores and values of dense attention (width = heads x head dim), forward + backward."""
  return 12 * layers * queries * keys * width


def train_flops_per_example(model_cfg, abstract_params: Any, text_len: int,
                            num_images: int = 1) -> float:
  """Training FLOPs (fwd + bwd) of one example of `text_len` text tokens and `num_images` images
  (see the docstring; Gemma 3: text_len includes the placeholders of its images; PaliGemma: M*P
  image tokens in front of the text)."""
  img, llm = model_cfg.img, model_cfg.llm
  p = img.num_patches
  vision = 6 * _matmul_params(abstract_params, "img/") * p
  vision += _attention_flops(img.depth, p, p, img.width)
  if isinstance(model_cfg, gemma3.Gemma3Config):
    vision += 6 * _matmul_params(abstract_params, "mm/") * model_cfg.tokens_per_image
    vision *= num_images
    seq = logit_positions = text_len
  else:
    vision *= num_images
    seq, logit_positions = num_images * model_cfg.num_image_tokens + text_len, text_len
  decoder = 6 * _matmul_params(abstract_params, "llm/") * seq
  decoder += _attention_flops(llm.num_layers, seq, seq, llm.num_heads * llm.head_dim)
  logits = 6 * llm.width * llm.vocab_size * logit_positions
  return float(vision + decoder + logits)


def decoder_tokens_per_example(model_cfg, text_len: int, num_images: int = 1) -> int:
  """Tokens the decoder sees per example: PaliGemma's image tokens (of `num_images` images) + text,
  Gemma 3's text (its image placeholders included)."""
  if isinstance(model_cfg, gemma3.Gemma3Config):
    return text_len
  return num_images * model_cfg.num_image_tokens + text_len


def peak_flops(config_value: float | None) -> float | None:
  """config.peak_flops, else the table's value for this device kind (times the devices), else None."""
  if config_value:
    return float(config_value) * jax.device_count()
  kind = jax.devices()[0].device_kind
  return PEAK_FLOPS[kind] * jax.device_count() if kind in PEAK_FLOPS else None


def memory_stats() -> dict[str, float]:
  """Peak device memory in GiB of the first local device, when the backend reports it."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return {"mem_peak_gib": stats["peak_bytes_in_use"] / 2**30}
  return {}


class MetricsLogger:
  """Writes metrics of process 0 to metrics.jsonl, TensorBoard and the console."""

  def __init__(self, workdir: str, total_steps: int, flops_per_step: float,
               peak: float | None, enabled: bool | None = None, examples_per_step: int = 0,
               tokens_per_step: int = 0):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.total_steps = total_steps
    self.flops_per_step = flops_per_step
    self.examples_per_step = examples_per_step  # global batch
    self.tokens_per_step = tokens_per_step  # global batch x (image tokens + text length)
    self.peak = peak
    self._last = None  # (step, time) of the last train log
    self._path = fs.join(workdir, "metrics.jsonl")
    self._tb = tb_events.EventFileWriter(fs.join(workdir, "tb")) if self.enabled else None

  def start(self, step: int) -> None:
    """Marks the time of `step` (the loop's first step) for throughput and ETA."""
    self._last = (step, time.time())

  def log_train(self, step: int, metrics: dict[str, Any]) -> dict[str, float]:
    """Logs the train metrics of `step` with speed, MFU, ETA and memory; returns what it wrote."""
    now = time.time()
    values = {k: float(v) for k, v in metrics.items()}
    if self._last is not None and step > self._last[0]:
      seconds = (now - self._last[1]) / (step - self._last[0])
      values["steps_per_s"] = 1.0 / seconds
      values["flops_per_s"] = self.flops_per_step / seconds
      values["examples_per_s"] = self.examples_per_step / seconds
      values["tokens_per_s"] = self.tokens_per_step / seconds
      if self.peak:
        values["mfu"] = values["flops_per_s"] / self.peak
      eta = seconds * (self.total_steps - step)
    else:
      eta = None
    values.update(memory_stats())
    self._last = (step, now)
    self.write(step, values)
    self._console(step, values, eta)
    return values

  def write(self, step: int, values: dict[str, float]) -> None:
    """One metrics.jsonl line {"step": step, **values} and TensorBoard scalars."""
    if not self.enabled:
      return
    fs.append_text(self._path, json.dumps({"step": step, **values}) + "\n")
    self._tb.write(step, values)

  def log_eval(self, step: int, values: dict[str, float]) -> None:
    """Evaluator results: metrics.jsonl, TensorBoard and one console line."""
    self.write(step, values)
    if self.enabled:
      print(f"step {step}/{self.total_steps} eval: " +
            ", ".join(f"{k} {v:.4g}" for k, v in sorted(values.items())), flush=True)

  def logged_keys(self, step: int) -> set[str]:
    """The metric names that metrics.jsonl holds for `step` (empty where not enabled: only
    process 0 writes it). A line cut by a kill counts as not written."""
    if not self.enabled or not fs.exists(self._path):
      return set()
    keys = set()
    for line in fs.read_text(self._path).splitlines():
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue
      if row.get("step") == step:
        keys.update(row)
    return keys - {"step"}

  def _console(self, step: int, values: dict[str, float], eta: float | None) -> None:
    if not self.enabled:
      return
    parts = [f"step {step}/{self.total_steps} ({100 * step / self.total_steps:.1f}%)",
             f"loss {values.get('loss', float('nan')):.4f}", f"lr {values.get('lr', 0):.3g}"]
    if "steps_per_s" in values:
      parts.append(f"{values['steps_per_s']:.2f} steps/s")
      parts.append(f"{values['flops_per_s'] / 1e12:.3g} TFLOP/s")
    if "mfu" in values:
      parts.append(f"MFU {100 * values['mfu']:.1f}%")
    if "mem_peak_gib" in values:
      parts.append(f"mem {values['mem_peak_gib']:.2f} GiB")
    if eta is not None:
      parts.append(f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")
    print(" | ".join(parts), flush=True)

  def close(self) -> None:
    """Nothing is buffered: every write is in the files when it returns."""
