"""The VQA demo sets: their answers are in the pixels the builders store (so a demo run can learn
them), and the builders' own rules (TextVQA's rotations, ST-VQA's pseudo-val) hold on them."""
import io

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from big_paligemma.data.datasets import gqa
from big_paligemma.data.datasets import stvqa
from big_paligemma.data.datasets import textvqa
from big_paligemma.data.datasets import vqav2
from tools import make_demo_data
from tools.demo_data import common
from tools.demo_data import scenes

SIZE = 32


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo"))
  return make_demo_data.make_demo_data(out, num_train=48, num_eval=6, size=SIZE, tokenizer=False,
                                       sets="vqav2,textvqa,gqa,stvqa")["tfds"]


def _examples(builder, split):
  """(example, RGB pixels) of `split`, read by index: the demo builds ArrayRecord files."""
  source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
  for ex in (source[i] for i in range(len(source))):
    yield ex, np.asarray(Image.open(io.BytesIO(ex["image"])).convert("RGB")).astype(int)


def _share(pixels, rgb, tol=50) -> float:
  return float((np.abs(pixels - np.array(rgb)).max(axis=-1) < tol).mean())


def test_textvqa_images_are_upright_after_the_builder(data_dir):
  # Each image, stored turned by its listed rotation, is the upright text image again.
  for ex, pixels in _examples(textvqa.TextVQA(data_dir=data_dir), "train"):
    answer = max(set(ex["answers"]), key=list(ex["answers"]).count).decode()
    upright = np.asarray(scenes.text_image(SIZE, answer)).astype(int)
    assert np.abs(pixels - upright).mean() < 12, (ex["image_filepath"], answer)


def test_vqav2_answers_are_in_the_pixels(data_dir):
  seen = set()
  for ex, pixels in _examples(vqav2.VQAv2(data_dir=data_dir), "validation"):
    top, question = ex["top_answer"].decode(), ex["question_text"].decode()
    seen.add(ex["answer_type"].decode())
    if ex["answer_type"] == b"other":
      assert _share(pixels, common.COLOURS[top]) > 0.05, question
    elif ex["answer_type"] == b"yes/no":
      colour = question.split()[3]  # "is there a <colour> shape?"
      assert (_share(pixels, common.COLOURS[colour]) > 0.05) == (top == "yes"), question
  assert seen == {"yes/no", "number", "other"}


def test_gqa_left_and_right_colours(data_dir):
  for ex, pixels in _examples(gqa.GQA(data_dir=data_dir), "testdev_balanced"):
    side = ex["question"].decode().split()[4]  # "what color is the <side> shape?"
    half = pixels[:, :SIZE // 2] if side == "left" else pixels[:, SIZE // 2:]
    assert _share(half, common.COLOURS[ex["answer"].decode()]) > 0.1


def test_stvqa_has_the_asked_train_and_pseudo_val_counts(data_dir):
  builder = stvqa.STVQA(data_dir=data_dir)
  counts = {s: builder.info.splits[s].num_examples for s in ("train", "val", "test")}
  assert counts == {"train": 6, "val": 6, "test": 6}  # 48 // 8 train, 6 val, 6 test
  for ex, _ in _examples(builder, "val"):
    assert stvqa.is_val(ex["filename"].decode())
