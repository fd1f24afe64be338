"""Each pp op on small hand-made examples with hand-derived expectations."""
import io

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import pp
from big_paligemma.tokenizer import Tokenizer
from choice_reference import big_vision_no_replacement


@pytest.fixture(scope="module")
def tok_path(paligemma_tokenizer_path):
  return paligemma_tokenizer_path


def run(spec, example, tok_path=None):
  out = pp.get_preprocess_fn(spec, tokenizer_path=tok_path)({k: tf.constant(v) for k, v in example.items()})
  return {k: v.numpy() for k, v in out.items()}


def _encode(array, fmt):
  buf = io.BytesIO()
  PIL.Image.fromarray(array).save(buf, format=fmt)
  return buf.getvalue()


@pytest.mark.parametrize("fmt, mode", [("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("GIF", "P")])
def test_decode_gives_three_uint8_channels(fmt, mode):
  rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 4
  img = PIL.Image.fromarray(rgb).convert(mode)
  buf = io.BytesIO()
  img.save(buf, format=fmt)
  out = run("decode", {"image": buf.getvalue()})["image"]
  assert out.shape == (4, 5, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, np.asarray(img.convert("RGB")))


def test_resize_keeps_uint8_and_truncates_like_big_vision():
  # Bilinear 1x2 -> 1x4, half-pixel centres: samples at x = 0 (clamped), 0.25, 0.75, 1 (clamped) of
  # the row [0, 101] give 0, 25.25, 75.75, 101 -> truncated (not rounded) to 0, 25, 75, 101.
  image = np.array([[[0], [101]]], np.uint8).repeat(3, -1)
  out = run("resize((1, 4))", {"image": image})["image"]
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out[0, :, 0], [0, 25, 75, 101])
  out = run('resize(2, method="nearest")', {"image": np.float32(image)})["image"]
  assert out.dtype == np.float32 and out.shape == (2, 2, 3)
  np.testing.assert_array_equal(out[:, :, 0], [[0, 101], [0, 101]])


def test_value_range():
  out = run("value_range(-1, 1)", {"image": np.array([0, 51, 255], np.uint8)})["image"]
  np.testing.assert_allclose(out, [-1.0, 51 / 255 * 2 - 1, 1.0], atol=1e-6)
  out = run("value_range(0, 1, in_min=-1, in_max=1)", {"image": np.float32([-1, 0, 3])})["image"]
  np.testing.assert_allclose(out, [0.0, 0.5, 2.0])
  out = run("value_range(0, 1, -1, 1, clip_values=True)", {"image": np.float32([3])})["image"]
  np.testing.assert_allclose(out, [1.0])


def test_choice_is_deterministic_per_example_seed_and_epoch():
  answers = np.array([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"])
  picks = {run(f'choice("answers", "suffix", seed={s})', {"answers": answers})["suffix"] for s in range(12)}
  assert picks <= set(answers) and len(picks) > 1  # different seeds pick different answers
  for s in range(3):
    spec = f'choice("answers", "suffix", seed={s})'
    assert len({run(spec, {"answers": answers, "_seed": [5, 0]})["suffix"] for _ in range(3)}) == 1
  # The input pipeline's `_seed` is [example key, epoch]: each epoch draws anew (with replacement).
  by_epoch = [run('choice("answers")', {"answers": answers, "_seed": [5, e]})["answers"]
              for e in range(12)]
  assert len(set(by_epoch)) > 1
  assert run('choice("answers")', {"answers": answers[:1]})["answers"] == b"a"


def test_choice_no_replacement_cycles_through_the_answers_as_big_vision():
  answers = np.array([b"yes", b"no", b"maybe"])
  spec = 'choice_no_replacement(inkey="answers", outkey="suffix", seed=3)'
  picks = [run(spec, {"answers": answers, "_seed": [77, e]})["suffix"] for e in range(9)]
  # Epochs 0-2, 3-5, 6-8: every answer once per block of 3, the blocks in different orders.
  blocks = [picks[i:i + 3] for i in (0, 3, 6)]
  assert all(sorted(b) == sorted(answers) for b in blocks)
  assert len({tuple(b) for b in blocks}) > 1
  assert picks == [answers[big_vision_no_replacement(3, [3, 77], e)] for e in range(9)]
  # Another example (key) has its own order; the same example and epoch always the same answer.
  other = [run(spec, {"answers": answers, "_seed": [78, e]})["suffix"] for e in range(9)]
  assert other != picks
  assert run(spec, {"answers": answers, "_seed": [77, 4]})["suffix"] == picks[4]


def test_choice_no_replacement_picks_the_same_element_of_several_fields():
  ex = {"boxes": np.float32([[0, 0, 1, 1], [0, 0, 2, 2]]), "refs": np.array([b"small", b"big"])}
  spec = 'choice_no_replacement(inkey=["boxes", "refs"], outkey=["box", "ref"])'
  for e in range(4):
    out = run(spec, {**ex, "_seed": [1, e]})
    assert out["box"][2] == {b"small": 1, b"big": 2}[out["ref"]]
  with pytest.raises(tf.errors.InvalidArgumentError, match="differ in length"):
    run(spec, {**ex, "refs": np.array([b"one"]), "_seed": [1, 0]})
  with pytest.raises(pp.SpecError, match="2 inkeys.*1 outkeys"):
    run('choice_no_replacement(inkey=["boxes", "refs"], outkey="x")', ex)
  with pytest.raises(tf.errors.InvalidArgumentError, match="'refs' is empty"):
    run('choice_no_replacement("refs")', {"refs": np.array([], bytes), "_seed": [1, 0]})


def test_strfmt():
  out = run('strfmt("answer en {question} ({n}) {{x}}", outkey="prefix")', {"question": "why?", "n": 3})
  assert out["prefix"] == b"answer en why? (3) {x}"
  with pytest.raises(KeyError, match=r"'question' is missing.*\['q'\]"):
    run('strfmt("answer en {question}")', {"q": "why?"})


def test_tok_bos_eos_and_constant_text(tok_path):
  t = Tokenizer.load(tok_path)
  body = t.encode("a red car<loc0005>")
  out = run('tok(key="p", bos="yes", eos="yes")|tok(key="s", text="\\n")|tok(inkey="p0", outkey="q")',
            {"p": "a red car<loc0005>", "p0": "cat"}, tok_path)
  assert out["p"].tolist() == [2] + body + [1] and out["p"].dtype == np.int32
  assert body[-1] == t.loc_id(5)
  assert out["s"].tolist() == t.encode("\n") and out["q"].tolist() == t.encode("cat")
  out = run('tok(key="p", eos="sticky", length=2)', {"p": "a red car"}, tok_path)
  assert out["p"].tolist() == [body[0], 1]


def test_tolen_pads_truncates_counts_and_sticky_eos(tok_path):
  out = run('tolen(5, pad_value=9, key="t")', {"t": np.int32([4, 5])})
  assert out["t"].tolist() == [4, 5, 9, 9, 9] and out["_truncated"] == 0
  out = run('tolen(3, key="t")|tolen(4, key="u")', {"t": np.int32([4, 5, 6, 7, 1]), "u": np.int32([1])})
  assert out["t"].tolist() == [4, 5, 6] and out["_truncated"] == 1  # kept from the first cut
  out = run('tolen(3, key="t", sticky_eos=True)', {"t": np.int32([4, 5, 6, 7, 1])}, tok_path)
  assert out["t"].tolist() == [4, 5, 1]
  out = run('tolen(3, key="t", sticky_eos=True)', {"t": np.int32([4, 5, 6, 7, 8])}, tok_path)
  assert out["t"].tolist() == [4, 5, 6]


def test_masked_concat():
  out = run('masked_concat(["a", "b", "c"], mask_ar=[0, 0, 1], mask_loss=[0, 1, 1])',
            {"a": np.int32([2, 7]), "b": np.int32([8]), "c": np.int32([9, 9, 1])})
  assert out["text"].tolist() == [2, 7, 8, 9, 9, 1]
  assert out["mask_ar"].tolist() == [0, 0, 0, 1, 1, 1]
  assert out["mask_loss"].tolist() == [0, 0, 1, 1, 1, 1]
  assert out["mask_input"].tolist() == [1] * 6


def test_keep_drop_flatten():
  ex = {"a": 1, "b": 2, "_truncated": 0}
  assert sorted(run('keep("a")', ex)) == ["_truncated", "a"]
  assert sorted(run('drop("a")', ex)) == ["_truncated", "b"]
  with pytest.raises(KeyError, match="'z' is missing"):
    run('keep("a", "z")', ex)
  fn = pp.get_preprocess_fn("flatten")
  out = fn({"image": tf.constant(1), "objects": {"bbox": tf.zeros([2, 4]), "meta": {"id": tf.constant(3)}}})
  assert sorted(out) == ["image", "objects/bbox", "objects/meta/id"]


def test_lower_strjoin_getidx():
  out = run('lower(key="answers")', {"answers": np.array([b"Yes", b"NEW York"])})
  assert out["answers"].tolist() == [b"yes", b"new york"]
  assert run('lower("q", outkey="l")', {"q": b"Why?"})["l"] == b"why?"
  choices = np.array([b"red", b"big dog", b"two"])
  assert run('strjoin(" \\t ", inkey="c", outkey="s")', {"c": choices})["s"] == b"red \t big dog \t two"
  out = run('getidx(inkey="c", index_key="i", outkey="answer")', {"c": choices, "i": np.int32(1)})
  assert out["answer"] == b"big dog"
  with pytest.raises(tf.errors.InvalidArgumentError, match="'i' is not an index of field 'c'"):
    run('getidx(inkey="c", index_key="i")', {"c": choices, "i": np.int32(3)})


def test_boxes_to_loc():
  boxes = np.float32([[0.0, 0.1, 0.5, 1.0], [0.25, 0.75, 0.3, 0.4]])
  out = run('boxes_to_loc(inkey="bb", labels="lab")', {"bb": boxes, "lab": np.array([b"cat", b"red car"])})
  # round(v * 1023): 0 -> 0, 0.1 -> 102.3 -> 102, 0.5 -> 511.5 -> 512, 0.25 -> 255.75 -> 256,
  # 0.75 -> 767.25 -> 767, 0.3 -> 306.9 -> 307, 0.4 -> 409.2 -> 409.
  assert out["suffix"] == b"<loc0000><loc0102><loc0512><loc1023> cat ; <loc0256><loc0767><loc0307><loc0409> red car"
  empty = run("boxes_to_loc", {"objects/bbox": np.zeros([0, 4], np.float32), "objects/label": np.array([], str)})
  assert empty["suffix"] == b""
  with pytest.raises(tf.errors.InvalidArgumentError, match="> 1"):
    run('boxes_to_loc(inkey="bb", labels="lab")', {"bb": np.float32([[0, 0, 1.5, 1]]), "lab": np.array([b"x"])})


def test_train_spec_layout(tok_path):
  # text_len 12: the text holds 13 tokens, the model reads 12 (big_vision's +1).
  t = Tokenizer.load(tok_path)
  spec = pp.paligemma_train_pp(16, 12, "answer en {question}", "answer")
  jpeg = _encode(np.full((20, 24, 3), 128, np.uint8), "JPEG")
  out = run(spec, {"image": jpeg, "question": "what", "answer": "a cat"}, tok_path)
  prefix, suffix = t.encode("answer en what"), t.encode("a cat")
  n, m = 1 + len(prefix) + 1 + len(suffix) + 1, 13
  assert n <= 12
  assert out["text"].tolist() == [2] + prefix + t.encode("\n") + suffix + [1] + [0] * (m - n)
  assert out["mask_ar"].tolist() == [0] * (len(prefix) + 2) + [1] * (m - len(prefix) - 2)
  assert out["mask_loss"].tolist() == [0] * (len(prefix) + 2) + [1] * (len(suffix) + 1) + [0] * (m - n)
  assert out["mask_input"].tolist() == [1] * n + [0] * (m - n)
  assert out["image"].shape == (16, 16, 3) and out["image"].dtype == np.float32
  assert np.abs(out["image"]).max() <= 1.0


def test_train_spec_keeps_the_eos_of_a_text_len_plus_one_sequence(tok_path):
  # bos + prefix + sep + suffix + eos of text_len + 1 tokens is kept whole: the model reads the
  # first text_len and so learns every target, the eos too (big_vision's layout); one token
  # longer loses its eos.
  t = Tokenizer.load(tok_path)
  jpeg = _encode(np.zeros((8, 8, 3), np.uint8), "JPEG")
  full = [2] + t.encode("a") + t.encode("\n") + t.encode("dog") + [1]
  ex = {"image": jpeg, "q": "a", "a": "dog"}
  out = run(pp.paligemma_train_pp(8, len(full) - 1, "{q}", "a"), ex, tok_path)
  assert out["text"].tolist() == full and out["_truncated"] == 0
  assert out["mask_loss"].tolist()[-1] == 1
  out = run(pp.paligemma_train_pp(8, len(full) - 2, "{q}", "a"), ex, tok_path)
  assert out["text"].tolist() == full[:-1] and out["_truncated"] == 1


def test_train_spec_picks_from_a_list_and_counts_truncation(tok_path):
  t = Tokenizer.load(tok_path)
  spec = pp.paligemma_train_pp(8, 5, "{q}", "answers", suffix_is_list=True)
  jpeg = _encode(np.zeros((8, 8, 3), np.uint8), "JPEG")
  out = run(spec, {"image": jpeg, "q": "a", "answers": np.array([b"cat", b"dog"]), "_id": 7}, tok_path)
  full = [[2] + t.encode("a") + t.encode("\n") + t.encode(s) + [1] for s in ("cat", "dog")]
  expected = [(f + [0] * 6)[:6] for f in full]
  picked = expected.index(out["text"].tolist())  # fails if the text is neither layout
  assert out["_truncated"] == int(len(full[picked]) > 6)
  out = run(pp.paligemma_train_pp(8, 1, "{q}", "a"), {"image": jpeg, "q": "a red car", "a": "dog"}, tok_path)
  assert out["text"].tolist() == [2, t.encode("a red car")[0]] and out["_truncated"] == 1


def test_eval_spec_layout(tok_path):
  t = Tokenizer.load(tok_path)
  spec = pp.paligemma_eval_pp(8, 10, "caption en", keep_keys=("id",))
  jpeg = _encode(np.zeros((8, 8, 3), np.uint8), "JPEG")
  out = run(spec, {"image": jpeg, "id": 3, "other": 1}, tok_path)
  prompt = [2] + t.encode("caption en") + t.encode("\n")
  assert out["text"].tolist() == prompt + [0] * (10 - len(prompt))
  assert out["mask_ar"].tolist() == [0] * len(prompt) + [1] * (10 - len(prompt))
  assert out["mask_input"].tolist() == [1] * len(prompt) + [0] * (10 - len(prompt))
  assert sorted(out) == ["_truncated", "id", "image", "mask_ar", "mask_input", "text"]
  # `before` ops run ahead of the prompt; antialias=False is big_vision's plain resize.
  spec = pp.paligemma_eval_pp(8, 10, "{q}", antialias=False, before=('lower(key="q")',))
  assert "resize(8, antialias=False)|value_range(-1, 1)|lower" in spec
  out = run(spec, {"image": jpeg, "q": "A B"}, tok_path)
  assert out["text"][1:1 + len(t.encode("a b"))].tolist() == t.encode("a b")
