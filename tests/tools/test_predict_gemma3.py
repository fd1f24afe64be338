"""tools.predict on a tiny random HF Gemma3ForConditionalGeneration saved by transformers.

The HF side is built independently: Gemma3Processor (its GemmaTokenizer converted from the same
tiny `.model`, tools/make_tokenizer.py --gemma3) makes the image block, the ids and the pixels
(a 32 px image, so neither side resizes it); `<bos>` and the "\\n" separator are added around
them as predict's prompt format says; transformers' greedy generate must give predict's ids.
"""
import shutil

import numpy as np
from PIL import Image
import pytest
import torch
import transformers

from big_paligemma.tokenizer import Tokenizer
from tools import make_tokenizer
from tools import predict

N, SIZE, NEW = 4, 32, 8  # tokens per image, pixels, new tokens


def _hf_processor(tok_path: str, directory) -> transformers.Gemma3Processor:
  hf_dir = str(directory / "hf_tok")
  make_tokenizer.load_hf_gemma_tokenizer(tok_path).save_pretrained(hf_dir)
  tokenizer = transformers.GemmaTokenizer.from_pretrained(hf_dir, extra_special_tokens={
      "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
      "image_token": "<image_soft_token>"})
  image_processor = transformers.Gemma3ImageProcessorPil(size={"height": SIZE, "width": SIZE})
  return transformers.Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                      image_seq_length=N)


def _hf_model(vocab: int, processor) -> transformers.Gemma3ForConditionalGeneration:
  tok = processor.tokenizer
  text = transformers.Gemma3TextConfig(
      vocab_size=vocab, hidden_size=32, intermediate_size=48, num_attention_heads=2,
      num_key_value_heads=1, head_dim=16, num_hidden_layers=2, query_pre_attn_scalar=16,
      sliding_window=8, layer_types=["sliding_attention", "full_attention"], pad_token_id=0,
      eos_token_id=1, bos_token_id=2)
  vision = transformers.SiglipVisionConfig(  # 4x4 patches pooled to 2x2 = N soft tokens
      hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
      image_size=SIZE, patch_size=8, vision_use_head=False)
  config = transformers.Gemma3Config(
      vision_config=vision.to_dict(), text_config=text.to_dict(), mm_tokens_per_image=N,
      image_token_index=tok.image_token_id, boi_token_index=tok.boi_token_id,
      eoi_token_index=tok.eoi_token_id)
  config._attn_implementation = "eager"
  torch.manual_seed(0)
  model = transformers.Gemma3ForConditionalGeneration(config).eval()
  with torch.no_grad():  # clear argmax margins; the answer depends on the image and the prompt
    for name, p in model.named_parameters():
      if "post_" in name and "norm" in name:
        p.fill_(2.0)
      else:
        p.normal_(0.0, 0.3 if "norm" in name else 0.03 if "embed_tokens" in name else 0.15)
  return model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("g3")
  tok_path = str(root / "gemma3.model")
  vocab = make_tokenizer.make_gemma3_tokenizer(tok_path).vocab_size
  processor = _hf_processor(tok_path, root)
  model = _hf_model(vocab, processor)
  path = root / "model"
  model.save_pretrained(str(path))
  shutil.copy(tok_path, path / "tokenizer.model")
  pixels = np.random.RandomState(0).randint(0, 256, (SIZE, SIZE, 3), np.uint8)
  Image.fromarray(pixels).save(root / "image.png")
  return str(path), str(root / "image.png"), model, processor


def _hf_greedy(model, processor, image_path: str, prompt: str) -> list[int]:
  tok = processor.tokenizer
  inputs = processor(images=[[Image.open(image_path)]], text=[prompt], return_tensors="pt")
  ids = torch.tensor([[tok.bos_token_id] + inputs["input_ids"][0].tolist()
                      + tok.encode("\n", add_special_tokens=False)])
  with torch.no_grad():
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                         token_type_ids=(ids == tok.image_token_id).long(),
                         pixel_values=inputs["pixel_values"], max_new_tokens=NEW,
                         do_sample=False, eos_token_id=1, pad_token_id=0, min_new_tokens=0)
  return out[0, ids.shape[1]:].tolist()


@pytest.mark.parametrize("prompt, hf_prompt", [
    ("answer en what is it?", "<start_of_image>answer en what is it?"),  # image put first
    ("caption en <start_of_image> now", "caption en <start_of_image> now")])
def test_greedy_ids_equal_transformers_generate(setup, capsys, prompt, hf_prompt):
  path, image, model, processor = setup
  want = _hf_greedy(model, processor, image, hf_prompt)
  result = predict.main(["--ckpt", path, "--image", image, "--prompt", prompt,
                         "--max_decode_len", str(NEW)])
  assert result["tokens"] == want
  assert len(set(want)) > 2, "degenerate model: repeats one token"
  tok = Tokenizer.load(f"{path}/tokenizer.model")
  assert capsys.readouterr().out.splitlines()[-1] == tok.to_str(want)


def test_two_images_in_the_prompt_is_an_error(setup):
  path, image, _, _ = setup
  with pytest.raises(ValueError, match="has 2 <start_of_image>"):
    predict.main(["--ckpt", path, "--image", image,
                  "--prompt", "<start_of_image><start_of_image>compare"])
