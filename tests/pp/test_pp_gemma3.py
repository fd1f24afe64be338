"""Gemma 3 prompts (pp/ops_gemma3.py) against transformers' Gemma3Processor on a tiny tokenizer.

HF side: GemmaTokenizer converted from the same tiny `.model` (tools/make_tokenizer.py --gemma3),
with boi/eoi/image tokens declared as Gemma 3's tokenizer_config does; `<image_soft_token>` is an
added token after the model's pieces, so its id is HF's. This converted tokenizer adds no `<bos>`,
so the processor's ids are compared with gemma3_tok(bos="no"); the train spec's layout (bos first,
"\\n", suffix, eos, padding, masks) is then stated by hand from those ids.
"""
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import pp
from pp import builder_gemma3
from tools import make_tokenizer

transformers = pytest.importorskip("transformers")
N = 4  # tokens per image
SIZE = 16
PROMPTS = [("<start_of_image>answer en what is it?", 1),
           ("caption en <start_of_image>", 1),
           ("compare <start_of_image> and<start_of_image> now", 2)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tok")
  path = str(directory / "gemma3.model")
  make_tokenizer.make_gemma3_tokenizer(path)
  hf_dir = str(directory / "hf")
  make_tokenizer.load_hf_gemma_tokenizer(path).save_pretrained(hf_dir)
  tokenizer = transformers.GemmaTokenizer.from_pretrained(hf_dir, extra_special_tokens={
      "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
      "image_token": "<image_soft_token>"})
  image_processor = transformers.Gemma3ImageProcessorPil(size={"height": SIZE, "width": SIZE})
  processor = transformers.Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                           image_seq_length=N)
  return path, processor


def _ours(path, spec, **fields):
  example = {k: tf.constant(v) for k, v in fields.items()}
  return {k: v.numpy() for k, v in pp.get_preprocess_fn(spec, tokenizer_path=path)(example).items()}


@pytest.mark.parametrize("prompt, num_images", PROMPTS)
def test_prompt_ids_and_token_types_match_processor(setup, prompt, num_images):
  path, processor = setup
  images = [[PIL.Image.new("RGB", (20, 12), (i * 40, 90, 200)) for i in range(num_images)]]
  hf = processor(images=images, text=[prompt])
  want_ids = np.asarray(hf["input_ids"])[0]
  image_id = processor.tokenizer.image_token_id
  assert (want_ids == image_id).sum() == N * num_images
  spec = (f"gemma3_tok(key='p', bos='no', tokens_per_image={N}, image_token_id={image_id}, "
          f"num_images={num_images})")
  got = _ours(path, spec, p=prompt)["p"]
  np.testing.assert_array_equal(got, want_ids)
  np.testing.assert_array_equal((got == image_id).astype(int), np.asarray(hf["token_type_ids"])[0])


def test_train_spec_layout(setup):
  path, processor = setup
  image_id = processor.tokenizer.image_token_id
  prompt_ids = list(np.asarray(processor(images=[[PIL.Image.new("RGB", (8, 8))]],
                                         text=["<start_of_image>what is it?"])["input_ids"])[0])
  tok = processor.tokenizer
  sep, suffix = tok.encode("\n", add_special_tokens=False), tok.encode("red", add_special_tokens=False)
  spec = builder_gemma3.gemma3_train_pp(SIZE, 40, "<start_of_image>{q}", "a", N, image_id)
  image = tf.io.encode_png(np.full((10, 14, 3), 255, np.uint8))
  ex = _ours(path, spec, image=image, q="what is it?", a="red")
  assert sorted(ex) == ["_truncated", "images", "mask_ar", "mask_input", "mask_loss", "text"]
  assert ex["_truncated"] == 0
  assert ex["images"].shape == (1, SIZE, SIZE, 3) and np.abs(ex["images"] - 1).max() < 0.02  # white, in [-1, 1]
  prefix = [tok.bos_token_id] + prompt_ids + sep
  answer = suffix + [tok.eos_token_id]
  pad = 41 - len(prefix) - len(answer)  # text_len 40 + 1 (the model reads 40)
  np.testing.assert_array_equal(ex["text"], prefix + answer + [0] * pad)
  np.testing.assert_array_equal(ex["mask_loss"], [0] * len(prefix) + [1] * len(answer) + [0] * pad)
  np.testing.assert_array_equal(ex["mask_ar"], [0] * len(prefix) + [1] * (len(answer) + pad))
  np.testing.assert_array_equal(ex["mask_input"], [1] * (len(prefix) + len(answer)) + [0] * pad)


def test_eval_spec_is_the_prompt(setup):
  path, processor = setup
  image_id = processor.tokenizer.image_token_id
  spec = builder_gemma3.gemma3_eval_pp(SIZE, 30, "<start_of_image>{q}", N, image_id, ("id",))
  ex = _ours(path, spec, image=tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)), q="what", id="7")
  n = int(ex["mask_input"].sum())
  assert (ex["text"][:n] == image_id).sum() == N and ex["text"][0] == processor.tokenizer.bos_token_id
  np.testing.assert_array_equal(ex["text"][n:], 0)
  assert ex["id"] == b"7" and (ex["mask_ar"][:n] == 0).all()


def test_missing_pieces_and_wrong_image_count_are_errors(setup, paligemma_tokenizer_path):
  path, _ = setup
  plain = paligemma_tokenizer_path
  with pytest.raises(pp.SpecError, match="<start_of_image>.*--gemma3"):
    pp.get_preprocess_fn("gemma3_tok(key='p')", tokenizer_path=plain)
  with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="num_images=1"):
    _ours(path, "gemma3_tok(key='p', tokens_per_image=4)", p="no image here")
  with pytest.raises(ValueError, match="must hold one <start_of_image>"):
    builder_gemma3.gemma3_train_pp(SIZE, 40, "{q}", "a", N, 99)
