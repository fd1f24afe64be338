"""Greedy decoding speed: decode.generate vs transformers' generate on the same ~100M PaliGemma.

  python -m tools.bench_decode --new_tokens 32 --batches 1,8

Model (random weights, float32, built by transformers and loaded with load_hf): SigLIP width 384,
depth 6, 6 heads, MLP 1536, patch 16 at 224 px (P = 196) + Gemma 2 width 768, 8 layers, 8 heads /
4 kv heads of dim 96, MLP 3072, vocab 32768, soft-caps 50 / 30 (~108M parameters, ~97M in the
decoder). Prompt: 196 image tokens + 10 text tokens; EOS disabled so both sides write every token.

Prefill = the time to produce the first token (for ours, also with the per-layer weights made once
beforehand by `decode.layer_weights`, as the evaluators do); per token = (time for N tokens -
prefill) / (N - 1), each the best of `--trials` runs. The batch-1 per-token time is compared with the
decoder's weight bytes divided by a read bandwidth measured in the same run (the best of a numpy and
a jnp sum over a 1 GiB float32 array): the time a memory-bound step can not beat.

On XLA:CPU, decode.py runs the decoder layer by layer on per-layer weights made once per call
(none is copied inside the token loop; for 2+ rows the projections are copied to [out, in] and
multiplied on the left of the rows, `decode_cpu.weight_lhs_matmul`, which XLA's few-row fp32 matmuls
read in place, ~1.7x faster at 8 rows than a right-hand weight that they repack at every call),
writes each layer's KV cache buffer [B,K,S,H] in place and attends over it without a transpose
(the cache too on the left of the query product). At batch 1 a step is close to the weight-read
floor; at batch 8 the matmuls stream the weights at ~19 GB/s (`tools.bench_decode_matmul`) and
attention over the cache takes ~4 ms.
"""
import argparse
import os
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers

from big_paligemma import decode
from big_paligemma.interop import hf
from big_paligemma.models import paligemma

_PROMPT_LEN, _IMAGE_TOKEN = 10, 32767


def hf_model() -> transformers.PaliGemmaForConditionalGeneration:
  vision = transformers.SiglipVisionConfig(
      hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
      image_size=224, patch_size=16, vision_use_head=False)
  text = transformers.Gemma2Config(
      vocab_size=32768, hidden_size=768, intermediate_size=3072, num_hidden_layers=8,
      num_attention_heads=8, num_key_value_heads=4, head_dim=96, query_pre_attn_scalar=96,
      sliding_window=4096, pad_token_id=0, eos_token_id=1, bos_token_id=2)
  config = transformers.PaliGemmaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                                        image_token_index=_IMAGE_TOKEN, projection_dim=768)
  config._attn_implementation = "eager"
  torch.manual_seed(0)
  return transformers.PaliGemmaForConditionalGeneration(config).eval()


def best_time(fn, trials: int) -> float:
  fn()  # warm-up (compilation for ours)
  times = []
  for _ in range(trials):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def ours_fn(model, params, batch, new_tokens, weights=None):
  def run():
    out = decode.generate(model, params, batch, max_decode_len=new_tokens, eos_id=-1,
                          layer_weights=weights)
    return jax.block_until_ready(out.tokens)
  return run


def hf_fn(model, inputs, new_tokens):
  def run():
    with torch.no_grad():
      return model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                            do_sample=False, pad_token_id=0, eos_token_id=None)
  return run


def inputs(batch_size: int, seed: int = 0):
  """Our batch and HF's inputs for the same prompts (all of one length: no padding either side)."""
  rng = np.random.RandomState(seed)
  text = rng.randint(3, 32000, (batch_size, _PROMPT_LEN)).astype(np.int32)
  image = rng.uniform(-1, 1, (batch_size, 224, 224, 3)).astype(np.float32)
  ours = {"image": image, "text": text, "mask_ar": np.zeros_like(text),
          "mask_input": np.ones_like(text)}
  ids = torch.tensor(np.concatenate([np.full((batch_size, 196), _IMAGE_TOKEN), text], 1))
  theirs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "token_type_ids": torch.zeros_like(ids),
            "pixel_values": torch.tensor(image).permute(0, 3, 1, 2).contiguous()}
  return ours, theirs


def split(fn_factory, new_tokens, trials):
  """(prefill seconds, seconds per further token)."""
  first = best_time(fn_factory(1), trials)
  total = best_time(fn_factory(new_tokens), trials)
  return first, (total - first) / (new_tokens - 1)


def read_bandwidth(trials: int = 5) -> float:
  """Bytes/s of the best of numpy's and jnp's sum over a 1 GiB float32 array."""
  host = np.ones(2**28, np.float32)
  dev = jnp.asarray(host)
  jsum = jax.jit(jnp.sum)
  t_np = best_time(host.sum, trials)
  t_jnp = best_time(lambda: jsum(dev).block_until_ready(), trials)
  return host.nbytes / min(t_np, t_jnp)


def decoder_bytes(params) -> int:
  return sum(x.nbytes for x in jax.tree_util.tree_leaves(params["llm"]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--new_tokens", type=int, default=32)
  parser.add_argument("--batches", default="1,8")
  parser.add_argument("--trials", type=int, default=2)
  args = parser.parse_args()
  torch_model = hf_model()
  with tempfile.TemporaryDirectory() as tmp:
    torch_model.save_pretrained(tmp)
    kind, cfg, params = hf.load_hf(tmp)
  assert kind == "paligemma"
  model = paligemma.PaliGemma(cfg)
  n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
  print(f"params {n_params / 1e6:.1f}M, decoder {decoder_bytes(params) / 2**20:.0f} MiB float32; "
        f"load average {os.getloadavg()[0]:.1f}; torch threads {torch.get_num_threads()}; "
        f"jax devices {jax.device_count()}")
  for b in [int(x) for x in args.batches.split(",")]:
    ours_in, hf_in = inputs(b)
    ours = split(lambda n: ours_fn(model, params, ours_in, n), args.new_tokens, args.trials)
    theirs = split(lambda n: hf_fn(torch_model, hf_in, n), args.new_tokens, args.trials)
    weights = decode.layer_weights(model, params, b)
    reused = split(lambda n: ours_fn(model, params, ours_in, n, weights), args.new_tokens,
                   args.trials)
    same = np.array_equal(np.asarray(ours_fn(model, params, ours_in, args.new_tokens)()),
                          hf_fn(torch_model, hf_in, args.new_tokens)()[:, -args.new_tokens:])
    print(f"batch {b}: prefill ours {ours[0] * 1e3:.0f} ms, HF {theirs[0] * 1e3:.0f} ms; per token "
          f"ours {ours[1] * 1e3:.1f} ms, HF {theirs[1] * 1e3:.1f} ms; decode tokens/s ours "
          f"{b / ours[1]:.1f}, HF {b / theirs[1]:.1f} ({theirs[1] / ours[1]:.1f}x); "
          f"same tokens: {same}")
    print(f"  with the decoder weights made once (decode.layer_weights, as the evaluators do): "
          f"prefill {reused[0] * 1e3:.0f} ms, per token {reused[1] * 1e3:.1f} ms")
    if b == 1:
      bandwidth = read_bandwidth()
      floor = decoder_bytes(params) / bandwidth
      print(f"  read bandwidth {bandwidth / 1e9:.1f} GB/s -> weight-read floor {floor * 1e3:.1f} "
            f"ms/token; ours is {ours[1] / floor:.2f}x the floor")


if __name__ == "__main__":
  main()
