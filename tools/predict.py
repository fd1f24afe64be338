"""Answers one prompt about one image with a PaliGemma or Gemma 3 multimodal checkpoint.

  python -m tools.predict --ckpt PATH [--config CFG[:args]] [--tokenizer PATH] --image IMG
      --prompt "answer en what is the title?" [--max_decode_len 32] [--sampler greedy|sample|beam
      --temperature T --top_k K --top_p P --beam_size W --seed S] [--json] [--out boxes.png]

--ckpt: an HF PaliGemma or Gemma3ForConditionalGeneration directory (its tokenizer.model is used
unless --tokenizer is given) or one of our runs (workdir or checkpoint dir; needs --config for the
model and the tokenizer). The prompt is encoded as in evaluation: <bos> prompt "\\n". Gemma 3: the
prompt's one `<start_of_image>` (put first when the prompt has none) is expanded as
pp/ops_gemma3.py does (Gemma3Processor's image block with the model's tokens_per_image
placeholders) and the image goes in as "images" [1,1,h,w,3]. The image is resized to the model's
resolution and scaled to [-1, 1] with the eval pp ops. Prints the answer, or with --json
{"text", "tokens" (generated ids, incl. the EOS when produced), "boxes"}. For `detect ...`
prompts the boxes are parsed from the loc tokens; --out draws them on the image.
"""
import argparse
import io
import json

import jax
import numpy as np
from PIL import Image
from PIL import ImageDraw
import tensorflow as tf

from big_paligemma import config as config_lib
from big_paligemma import decode
from big_paligemma import fs
from big_paligemma import loading
from big_paligemma import loc_tokens
from big_paligemma.models import gemma3
from big_paligemma.tokenizer import Tokenizer
import evaluators  # noqa: F401  (registers the evaluator types a --config's evals name)
import pp
from pp import ops_gemma3


def load(ckpt: str, config_spec: str | None, tokenizer_path: str | None):
  """(model, params, Tokenizer) from an HF directory or our run + config."""
  config = config_lib.load_config(config_spec) if config_spec else None
  model, params = loading.load_model(ckpt, config)
  if tokenizer_path is None:
    if config is not None:
      tokenizer_path = config.tokenizer
    elif fs.exists(fs.join(ckpt, "tokenizer.model")):
      tokenizer_path = fs.join(ckpt, "tokenizer.model")
    else:
      raise ValueError(f"{ckpt} has no tokenizer.model: pass --tokenizer PATH.")
  if getattr(model.config, "img", None) is None:
    raise ValueError(f"{ckpt} holds a text-only {type(model.config).__name__}; predict answers "
                     "about an image: give a PaliGemma or Gemma 3 multimodal checkpoint.")
  return model, params, Tokenizer.load(tokenizer_path)


def _image(image_bytes: bytes, res: int) -> np.ndarray:
  """[res,res,3] float32 in [-1,1], resized by the eval pp ops."""
  image_pp = pp.get_preprocess_fn(f"decode|resize({res}, antialias=True)|value_range(-1, 1)")
  return image_pp({"image": tf.constant(image_bytes)})["image"].numpy().astype(np.float32)


def _text_batch(ids: list[int]) -> dict:
  text = np.asarray([ids], np.int32)
  return {"text": text, "mask_ar": np.zeros_like(text), "mask_input": np.ones_like(text)}


def make_batch(image_bytes: bytes, prompt: str, tokenizer: Tokenizer, res: int) -> dict:
  """PaliGemma: image [1,res,res,3] in [-1,1], text = <bos> prompt "\\n" [1,T], masks."""
  ids = tokenizer.encode(prompt, bos=True) + tokenizer.encode("\n")
  return {"image": _image(image_bytes, res)[None], **_text_batch(ids)}


def make_gemma3_batch(image_bytes: bytes, prompt: str, tokenizer: Tokenizer,
                      model_cfg: gemma3.Gemma3Config) -> dict:
  """Gemma 3: images [1,1,res,res,3] in [-1,1]; text [1,T] = <bos> prompt (its one
  `<start_of_image>`, put first when absent, expanded as pp/ops_gemma3.py does) "\\n"; masks."""
  boi = ops_gemma3.BOI
  if prompt.count(boi) > 1:
    raise ValueError(f"--prompt {prompt!r} has {prompt.count(boi)} {boi}; predict takes one "
                     "image: keep one (or none, to put the image first).")
  if boi not in prompt:
    prompt = boi + prompt
  ids = ops_gemma3.gemma3_ids(prompt, tokenizer, ops_gemma3.special_ids(tokenizer),
                              model_cfg.tokens_per_image, model_cfg.image_token_id)
  ids = [tokenizer.bos_id] + ids + tokenizer.encode("\n")
  return {"images": _image(image_bytes, model_cfg.img.image_size)[None, None], **_text_batch(ids)}


def predict(model, params, tokenizer: Tokenizer, image_bytes: bytes, prompt: str, *,
            max_decode_len: int = 32, seed: int = 0, **sampler) -> dict:
  """{"text": answer, "tokens": generated ids (with the EOS when produced)}."""
  if isinstance(model.config, gemma3.Gemma3Config):
    batch = make_gemma3_batch(image_bytes, prompt, tokenizer, model.config)
  else:
    batch = make_batch(image_bytes, prompt, tokenizer, model.config.image_size)
  out = decode.generate(model, params, batch, max_decode_len=max_decode_len,
                        rng=jax.random.key(seed), eos_id=tokenizer.eos_id,
                        pad_id=tokenizer.pad_id, **sampler)
  tokens = [int(t) for t in np.asarray(out.tokens[0])[:int(out.lengths[0])]]
  beyond = [t for t in tokens if t >= tokenizer.vocab_size]
  if beyond:
    raise ValueError(f"The model produced ids {beyond} outside the tokenizer's "
                     f"{tokenizer.vocab_size} pieces; is --tokenizer the model's?")
  return {"text": tokenizer.to_str(tokens), "tokens": tokens}


def draw_boxes(image: Image.Image, boxes: list, path: str) -> None:
  """Draws normalised (y0, x0, y1, x1) boxes with their labels on `image` and saves it."""
  image = image.convert("RGB")
  draw = ImageDraw.Draw(image)
  w, h = image.size
  for label, (y0, x0, y1, x1) in boxes:
    draw.rectangle((x0 * w, y0 * h, x1 * w, y1 * h), outline=(255, 0, 0), width=2)
    draw.text((x0 * w + 2, y0 * h + 1), label, fill=(255, 0, 0))
  with fs.atomic_writer(path) as f:
    image.save(f, format="PNG")


def _parser():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--ckpt", required=True, help="HF directory, or our workdir (+ --config)")
  parser.add_argument("--config", default=None, help="path/to/config.py[:args] for our runs")
  parser.add_argument("--tokenizer", default=None, help="SentencePiece .model")
  parser.add_argument("--image", required=True)
  parser.add_argument("--prompt", required=True)
  parser.add_argument("--max_decode_len", type=int, default=32)
  parser.add_argument("--sampler", default="greedy", choices=decode.SAMPLERS)
  parser.add_argument("--temperature", type=float, default=1.0)
  parser.add_argument("--top_k", type=int, default=None)
  parser.add_argument("--top_p", type=float, default=None)
  parser.add_argument("--beam_size", type=int, default=1)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", action="store_true", help="print {text, tokens, boxes} as JSON")
  parser.add_argument("--out", default=None, help="PNG with the detected boxes drawn")
  return parser


def main(argv=None) -> dict:
  args = _parser().parse_args(argv)
  model, params, tokenizer = load(args.ckpt, args.config, args.tokenizer)
  image_bytes = fs.read_bytes(args.image)
  result = predict(model, params, tokenizer, image_bytes, args.prompt,
                   max_decode_len=args.max_decode_len, seed=args.seed, sampler=args.sampler,
                   temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                   beam_size=args.beam_size)
  result["boxes"] = [[label, list(box)] for label, box in loc_tokens.parse_boxes(result["text"])]
  if args.out:
    draw_boxes(Image.open(io.BytesIO(image_bytes)), result["boxes"], args.out)
  print(json.dumps(result) if args.json else result["text"], flush=True)
  return result


if __name__ == "__main__":
  main()
