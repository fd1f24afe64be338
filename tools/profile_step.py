"""Times the jitted forward+backward of the SigLIP and Gemma parts of bench_train's model apart,
and counts the copy / transpose ops XLA:CPU leaves in each compiled program.

  python -m tools.profile_step --reps 3 --ours scan_unroll=4
"""
import argparse
import re

import jax
import jax.numpy as jnp
import numpy as np

from big_paligemma.interop import hf_paligemma
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from tools import bench_train
from tools import timing


def _time(fn, args, reps):
  return min(timing.call_times(fn, args, reps))


def _hlo_ops(fn, args) -> dict[str, int]:
  text = fn.lower(*args).compile().as_text()
  ops = {}
  for op in ("copy", "transpose", "dot", "fusion"):
    ops[op] = len(re.findall(rf"= \S+ {op}\(", text))
  return ops


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument("--reps", type=int, default=3)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--ours", default="")
  parser.add_argument("--parts", default="img,llm")
  args = parser.parse_args(argv)
  cfg = hf_paligemma.paligemma_config_from_hf(bench_train.hf_config(4).to_dict())
  cfg = bench_train.with_overrides(cfg, args.ours)
  batch = bench_train.make_batch(args.batch, 32, cfg.image_size)
  model = paligemma.PaliGemma(cfg)
  params = jax.jit(model.init)(jax.random.key(0), batch)
  p_img, p_llm = params["params"]["img"], params["params"]["llm"]
  img_model = paligemma.ImageEncoder(cfg.img, cfg.llm.width)
  llm_model = gemma.Gemma(cfg.llm)
  b, t = args.batch, cfg.num_image_tokens + 32
  x = jax.random.normal(jax.random.key(1), (b, t, cfg.llm.width))
  pos = jnp.broadcast_to(jnp.arange(t), (b, t))
  mask_ar = np.zeros((b, t), np.int32)
  mask_ar[:, -16:] = 1
  mask = gemma.make_attn_mask(jnp.ones((b, t), bool), jnp.asarray(mask_ar))
  img = jnp.asarray(batch["image"])

  def img_loss(p):
    return jnp.mean(img_model.apply({"params": p}, img) ** 2)

  def llm_loss(p):
    h, _ = llm_model.apply({"params": p}, x, pos, mask, method="hidden")
    return jnp.mean(llm_model.apply({"params": p}, h[:, -32:], method="logits") ** 2)

  parts = {"img": (img_loss, p_img), "llm": (llm_loss, p_llm)}
  for name in args.parts.split(","):
    loss, p = parts[name]
    fwd, bwd = jax.jit(loss), jax.jit(jax.grad(loss))
    print(f"{name}: fwd {_time(fwd, (p,), args.reps):.3f}s {_hlo_ops(fwd, (p,))}  "
          f"fwd+bwd {_time(bwd, (p,), args.reps):.3f}s {_hlo_ops(bwd, (p,))}", flush=True)


if __name__ == "__main__":
  main()
