"""trainers.logging's training FLOPs against a count by hand, matmul by matmul (2 m k n each,
forward x 3 for forward + backward), for tiny Gemma 3 and PaliGemma configs."""
from big_paligemma.models import gemma
from big_paligemma.models import gemma3
from big_paligemma.models import paligemma
from big_paligemma.models import siglip
from big_paligemma.models import build
from trainers import logging as log_lib

# SigLIP: 32 px, patch 8 -> P = 16 patches of 8*8*3 = 192 values; width E 16, mlp 24, 2 layers.
_IMG = dict(image_size=32, patch_size=8, width=16, depth=2, mlp_dim=24, num_heads=2,
            pool_type="none")
# Decoder: D 32, N 2 heads, K 1 kv head, H 16, F 48, V 100, 3 layers.
_LLM = dict(vocab_size=100, num_layers=3, num_heads=2, num_kv_heads=1, width=32, mlp_dim=48,
            head_dim=16)


def mm(m, k, n):
  return 2 * m * k * n


def vision_forward(p=16, e=16, f=24, layers=2):
  patch_embed = mm(p, 192, e)
  per_layer = (4 * mm(p, e, e)  # query, key, value, out
               + mm(p, e, f) + mm(p, f, e)  # mlp
               + mm(p, e, p) + mm(p, p, e))  # scores q.k over all heads, then the values
  return patch_embed + layers * per_layer


def decoder_forward(t, d=32, n=2, k=1, h=16, f=48, layers=3):
  per_layer = (mm(t, d, n * h) + 2 * mm(t, d, k * h) + mm(t, n * h, d)  # q, k, v, out
               + 2 * mm(t, d, f) + mm(t, f, d)  # gate and up, down
               + mm(t, n * h, t) + mm(t, t, n * h))  # scores and values (dense)
  return layers * per_layer


def test_gemma3_training_flops_by_hand():
  llm = gemma.GemmaConfig(**_LLM, layer_pattern=("local", "global"), sliding_window=64,
                          qk_norm=True, post_attn_norm=True, post_ffw_norm=True)
  cfg = gemma3.Gemma3Config(llm=llm, img=siglip.SigLIPConfig(**_IMG), tokens_per_image=4,
                            image_token_id=100)
  t, images = 20, 2  # the text holds the 2 x 4 placeholders among its 20 tokens
  projector = mm(4, 16, 32)  # 4 pooled tokens per image, E 16 -> D 32
  forward = (images * (vision_forward() + projector) + decoder_forward(t)
             + mm(t, 32, 100))  # logits at every text position
  got = log_lib.train_flops_per_example(cfg, build.abstract_params(cfg), t, num_images=images)
  assert got == 3 * forward
  assert log_lib.decoder_tokens_per_example(cfg, t) == t


def test_paligemma_training_flops_by_hand():
  img = siglip.SigLIPConfig(**_IMG)
  cfg = paligemma.PaliGemmaConfig(img=img, llm=gemma.GemmaConfig(**_LLM))
  t, p = 7, 16
  forward = (vision_forward() + mm(p, 16, 32)  # the projector, inside img/
             + decoder_forward(p + t) + mm(t, 32, 100))  # logits on the text only
  got = log_lib.train_flops_per_example(cfg, build.abstract_params(cfg), t)
  assert got == 3 * forward
  assert log_lib.decoder_tokens_per_example(cfg, t) == p + t


def test_paligemma_two_images_flops_by_hand():
  """NLVR2's two images per example: each encoded alone, 2P image tokens ahead of the text."""
  cfg = paligemma.PaliGemmaConfig(img=siglip.SigLIPConfig(**_IMG), llm=gemma.GemmaConfig(**_LLM))
  t, p = 7, 16
  forward = (2 * (vision_forward() + mm(p, 16, 32)) + decoder_forward(2 * p + t)
             + mm(t, 32, 100))
  got = log_lib.train_flops_per_example(cfg, build.abstract_params(cfg), t, num_images=2)
  assert got == 3 * forward
  assert log_lib.decoder_tokens_per_example(cfg, t, num_images=2) == 2 * p + t
