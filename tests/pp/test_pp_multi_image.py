"""pp for several images per example (stack_images, image_keys of the PaliGemma specs) and
shuffle_choices, on hand-made examples."""
import io

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import pp


@pytest.fixture(scope="module")
def tok_path(paligemma_tokenizer_path):
  return paligemma_tokenizer_path


def run(spec, example, tok_path=None):
  fn = pp.get_preprocess_fn(spec, tokenizer_path=tok_path)
  out = fn({k: tf.constant(v) for k, v in example.items()})
  return {k: v.numpy() for k, v in out.items()}


def _png(value, h, w):
  buf = io.BytesIO()
  PIL.Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


def test_stack_images_in_the_order_of_the_keys():
  a, b = np.zeros((2, 3, 3), np.uint8), np.full((2, 3, 3), 9, np.uint8)
  out = run('stack_images(["b", "a"])', {"a": a, "b": b})["images"]
  assert out.shape == (2, 2, 3, 3)
  np.testing.assert_array_equal(out[0], b)
  np.testing.assert_array_equal(out[1], a)
  out = run("stack_images", {"image": a})["images"]  # one field: M = 1 (Gemma 3)
  assert out.shape == (1, 2, 3, 3)


def test_stack_images_of_two_sizes_names_the_fields():
  with pytest.raises(ValueError, match=r"fields \['a', 'b'\] have the shapes \[\(2, 3, 3\), "
                     r"\(4, 3, 3\)\]; resize them"):
    run('stack_images(["a", "b"])', {"a": np.zeros((2, 3, 3), np.uint8),
                                     "b": np.zeros((4, 3, 3), np.uint8)})
  with pytest.raises(pp.SpecError, match="non-empty list"):
    pp.get_preprocess_fn("stack_images([])")


def test_train_and_eval_specs_with_two_images(tok_path):
  """NLVR2's pair: each field decoded and resized (sizes differ), images [2,res,res,3] in [-1, 1]
  in key order; the text as with one image."""
  example = {"image_left": _png(0, 10, 14), "image_right": _png(255, 20, 8),
             "sentence": "two dogs", "label": "True", "example_id": "dev-1-0-0"}
  keys = ("image_left", "image_right")
  train = run(pp.paligemma_train_pp(8, 16, "answer en {sentence}", "label", image_keys=keys),
              example, tok_path)
  one = run(pp.paligemma_train_pp(8, 16, "answer en {sentence}", "label"),
            {**example, "image": example["image_left"]}, tok_path)
  assert sorted(train) == ["_truncated", "images", "mask_ar", "mask_input", "mask_loss", "text"]
  assert train["images"].shape == (2, 8, 8, 3) and train["images"].dtype == np.float32
  np.testing.assert_allclose(train["images"][0], -1.0, atol=0.01)  # resize may truncate 255 to 254
  np.testing.assert_allclose(train["images"][1], 1.0, atol=0.01)
  for k in ("text", "mask_ar", "mask_loss", "mask_input"):
    np.testing.assert_array_equal(train[k], one[k])
  ev = run(pp.paligemma_eval_pp(8, 16, "answer en {sentence}", keep_keys=("label",),
                                image_keys=keys, antialias=False), example, tok_path)
  assert sorted(ev) == ["_truncated", "images", "label", "mask_ar", "mask_input", "text"]
  assert ev["images"].shape == (2, 8, 8, 3)


def test_extra_ops_run_before_the_prompt(tok_path):
  spec = pp.paligemma_train_pp(8, 16, "answer en {question}", "target",
                               before=('strfmt("{answer}", outkey="target")',))
  assert 'strfmt("{answer}", outkey="target")|strfmt(' in spec
  out = run(spec, {"image": _png(3, 8, 8), "question": "how many?", "answer": 7}, tok_path)
  want = run(pp.paligemma_train_pp(8, 16, "answer en {question}", "answer"),
             {"image": _png(3, 8, 8), "question": "how many?", "answer": "7"}, tok_path)
  np.testing.assert_array_equal(out["text"], want["text"])


def test_shuffle_choices_letters_follow_the_answer():
  choices = np.array([b"apple", b"banana", b"cherry", b"date"])
  orders = set()
  for i in range(12):
    out = run("shuffle_choices(seed=3)", {"choices": choices, "answer": 2, "_id": f"ex{i}"})
    text, letter = out["indexed_choices"].decode(), out["indexed_answer"].decode()
    parts = text.split(", ")
    assert [p[:4] for p in parts] == ["(A) ", "(B) ", "(C) ", "(D) "]
    order = tuple(p[4:] for p in parts)
    assert sorted(order) == ["apple", "banana", "cherry", "date"]
    assert order["ABCD".index(letter)] == "cherry"
    orders.add(order)
    again = run("shuffle_choices(seed=3)", {"choices": choices, "answer": 2, "_id": f"ex{i}"})
    assert again["indexed_choices"].decode() == text  # a function of (seed, example)
  assert len(orders) > 3


def test_shuffle_choices_rejects_an_answer_outside_the_choices():
  with pytest.raises(tf.errors.InvalidArgumentError, match="not a choice index"):
    run("shuffle_choices", {"choices": np.array([b"a", b"b"]), "answer": 2, "_id": "x"})
