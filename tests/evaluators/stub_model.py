"""A copying stub model for evaluator tests, and the jsonl eval data it reads.

The stub's decoder outputs the prompt's prefix tokens then EOS, so each prediction is the jsonl
row's `prefix`: expected scores follow by hand from the rows a test writes.
"""
import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
from PIL import Image

from big_paligemma.models import gemma


@dataclasses.dataclass(frozen=True)
class StubConfig:
  llm: gemma.GemmaConfig


class CopyModel(nn.Module):
  """Outputs prompt[1:-1] (the prefix between <bos> and "\\n") then EOS; k cache holds the ids.

  __call__ gives all-zero logits (uniform: NLL log V per token) for the perplexity evaluator.
  """
  config: StubConfig

  def embed_tokens(self, tokens):
    return tokens[..., None].astype(jnp.float32)  # [B,T,1]

  def prepare(self, batch):
    input_mask = batch["mask_input"].astype(bool)
    positions = (jnp.cumsum(input_mask, axis=1) - 1).astype(jnp.int32)
    attn_mask = gemma.make_attn_mask(input_mask, batch["mask_ar"])
    return self.embed_tokens(batch["text"]), positions, attn_mask, input_mask

  def decode(self, x, positions, attn_mask, cache=None, deterministic=True):
    t = x.shape[1]
    # One layer's cache [B,K=1,S,H=1]: k holds the token ids, v[:, 0, 0, 0] the prompt length.
    k = jax.lax.dynamic_update_slice(cache.k[0], x[:, None], (0, 0, cache.index, 0))
    v = cache.v[0]
    if t > 1:  # Prefill: remember the prompt length L in v.
      length = jnp.diagonal(attn_mask[:, :, :t], axis1=1, axis2=2).sum(-1).astype(jnp.float32)
      v = v.at[:, 0, 0, 0].set(length)
    length = v[:, 0, 0, 0].astype(jnp.int32)[:, None]  # [B,1]
    j = positions - length + 2  # [B,T]: the prompt slot to copy.
    prompt = k[:, 0, :, 0].astype(jnp.int32)  # [B,S]
    copied = jnp.take_along_axis(prompt, jnp.clip(j, 0, prompt.shape[1] - 1), axis=1)
    token = jnp.where((j >= 1) & (j <= length - 2), copied, 1)
    logits = 10.0 * jax.nn.one_hot(token, self.config.llm.vocab_size)
    return logits, gemma.KVCache(k=(k,), v=(v,), pos=cache.pos, index=cache.index + t)

  def __call__(self, batch, train=False):
    b, t = batch["text"].shape
    return jnp.zeros((b, t, self.config.llm.vocab_size)), {}


def make_stub(vocab_size):
  llm = gemma.GemmaConfig(vocab_size=vocab_size, num_layers=1, num_heads=1, num_kv_heads=1,
                          width=1, mlp_dim=1, head_dim=1)
  return CopyModel(StubConfig(llm))


def write_jsonl(directory, rows):
  os.makedirs(os.path.join(directory, "images"), exist_ok=True)
  path = os.path.join(directory, "data.jsonl")
  with open(path, "w") as f:
    for i, row in enumerate(rows):
      Image.new("RGB", (8, 8), (10 * i, 50, 200 - 10 * i)).save(
          os.path.join(directory, "images", f"{i}.png"))
      f.write(json.dumps({"image": f"images/{i}.png", **row}) + "\n")
  return path
