"""Our PaliGemma training example against transformers' PaliGemmaProcessor on the same inputs.

HF side: GemmaTokenizer converted from the same extended tiny `.model`, SiglipImageProcessor (PIL
bicubic resize, x/255, (x - 0.5)/0.5). HF prepends the image tokens; we compare its text part only.
Pixels: `resize(s, method="bicubic", antialias=True)` agrees with PIL bicubic within two uint8 levels
(4/255 in [-1, 1]), mostly within one: PIL rounds to uint8 between its horizontal and vertical passes,
and big_vision's resize truncates its result to uint8. big_vision's default (bilinear, antialias) differs by up to
~16/255 on these images (~32/255 in [-1, 1]), so it is a different pre-processing, not a bug.
"""

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import pp
from tools.make_tokenizer import load_hf_gemma_tokenizer

transformers = pytest.importorskip("transformers")
SIZE = 32
PROMPTS = [("answer en what is on the mat?", "a red cat"),
           ("detect cat ; dog", "<loc0012><loc0100><loc0500><loc1023> cat ; <loc0000><loc0001><loc0002><loc0003> dog"),
           ("caption en", "  two  people\nplaying ball 2024 é")]


def smooth_image(h, w, seed):
  small = np.random.RandomState(seed).randint(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8)
  return np.asarray(PIL.Image.fromarray(small).resize((w, h), PIL.Image.BILINEAR))


@pytest.fixture(scope="module")
def setup(paligemma_tokenizer_path):
  path = paligemma_tokenizer_path
  tokenizer = load_hf_gemma_tokenizer(path)
  image_processor = transformers.SiglipImageProcessor(size={"height": SIZE, "width": SIZE})
  image_processor.image_seq_length = 4
  processor = transformers.PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
  return path, processor


@pytest.mark.parametrize("prefix, suffix", PROMPTS)
def test_text_and_masks_match_processor(setup, prefix, suffix):
  path, processor = setup
  image = smooth_image(40, 48, 0)
  hf = processor(images=PIL.Image.fromarray(image), text="<image>" + prefix, suffix=suffix)
  n_img = processor.image_seq_length
  ids = np.asarray(hf["input_ids"])[0]
  assert (ids[:n_img] == processor.image_token_id).all()
  ids, types, labels = ids[n_img:], np.asarray(hf["token_type_ids"])[0, n_img:], np.asarray(hf["labels"])[0, n_img:]

  text_len = len(ids) + 2  # the texts hold text_len + 1 tokens (big_vision's +1)
  spec = pp.paligemma_train_pp(SIZE, text_len, "{question}", "answer")
  ex = pp.get_preprocess_fn(spec, tokenizer_path=path)(
      {"image": tf.io.encode_png(image), "question": tf.constant(prefix), "answer": tf.constant(suffix)})
  n = len(ids)
  np.testing.assert_array_equal(ex["text"].numpy()[:n], ids)
  np.testing.assert_array_equal(ex["text"].numpy()[n:], [0, 0, 0])
  np.testing.assert_array_equal(ex["mask_ar"].numpy()[:n], types)
  np.testing.assert_array_equal(ex["mask_loss"].numpy()[:n], labels != -100)
  np.testing.assert_array_equal(ex["mask_input"].numpy(), [1] * n + [0] * 3)


@pytest.mark.parametrize("h, w", [(48, 64), (60, 50), (20, 24)])
def test_bicubic_pixels_match_processor(setup, h, w):
  _, processor = setup
  image = smooth_image(h, w, h + w)
  hf = np.asarray(processor.image_processor(PIL.Image.fromarray(image))["pixel_values"])[0].transpose(1, 2, 0)
  resize = f'resize({SIZE}, method="bicubic", antialias=True)'
  as_float = "value_range(0, 255, 0, 255)"  # float32, same values: resize then keeps float
  for spec in [f"decode|{as_float}|{resize}|value_range(-1, 1)", f"decode|{resize}|value_range(-1, 1)"]:
    ours = pp.get_preprocess_fn(spec)({"image": tf.io.encode_png(image)})["image"].numpy()
    assert ours.shape == hf.shape == (SIZE, SIZE, 3)
    diff = np.abs(ours - hf) * 255 / 2  # in uint8 levels
    assert diff.max() <= 2 + 1e-4 and diff.mean() < 0.75, (spec, diff.max(), diff.mean())
