"""tools/make_demo_data: a tiny run writes official-layout files the TFDS builders read, built as
the ArrayRecord files the input pipeline reads by index."""
import io
import json
import os

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa
from big_paligemma.data.datasets import nocaps
import pytest

from tools import make_demo_data as demo
from tools.demo_data import chartqa as chartqa_demo
from tools.demo_data import common


def _pixels(encoded: bytes) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")).reshape(-1, 3)


def _examples(builder, split: str) -> list[dict]:
  """Every example of `split`, read by index (ArrayRecord), images as their encoded bytes."""
  source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
  return [source[i] for i in range(len(source))]


def _has_colour(pixels: np.ndarray, rgb, tol=40) -> bool:
  return bool((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=1) < tol).any())


def test_tiny_demo_builds_and_reads(tmp_path):
  paths = demo.make_demo_data(str(tmp_path), num_train=6, num_eval=3, size=32, tokenizer=False)
  data_dir = paths["tfds"]
  dv = docvqa.DocVQA(data_dir=data_dir)
  assert {s: dv.info.splits[s].num_examples for s in ("train", "validation", "test")} == {
      "train": 6, "validation": 3, "test": 3}
  assert dv.info.file_format.value == "array_record"
  for ex in _examples(dv, "train"):
    question, (answer,) = ex["question"].decode(), [a.decode() for a in ex["answers"]]
    if "color" in question:  # The page shows a shape of the answer's colour.
      assert _has_colour(_pixels(ex["image"]), common.COLOURS[answer])
    else:
      assert answer in common.SHAPES
  test = _examples(dv, "test")
  assert all(len(ex["answers"]) == 0 for ex in test)

  for config, labels in (("human", {"10", "20", "30", "40", "50"}), ("augmented", {"1", "2", "3"})):
    cq = chartqa.ChartQA(config=config, data_dir=data_dir)
    rows = _examples(cq, "validation")
    assert len(rows) == 3 and {r["answer"].decode() for r in rows} <= labels

  coco = coco_captions.CocoCaptions(data_dir=data_dir)
  assert coco.info.splits["train"].num_examples == 6
  for ex in _examples(coco, "test"):
    caps = [c.decode() for c in ex["captions"]]
    assert len(caps) == 5
    colour = caps[0].split()[1]
    assert _has_colour(_pixels(ex["image"]), common.COLOURS[colour], tol=60)

  nocaps_val = nocaps.NoCaps(data_dir=data_dir).info.splits["val"].num_examples
  assert nocaps_val == 3  # the cococap demo's nocaps eval

  raw = paths["raw"]
  with open(os.path.join(raw, "docvqa", "val_v1.0_withQT.json")) as f:
    assert json.load(f)["dataset_name"] == "SP-DocVQA"
  assert os.path.exists(os.path.join(raw, "chartqa", "test", "test_augmented.json"))
  assert Image.open(os.path.join(raw, "coco", "val2014", os.listdir(
      os.path.join(raw, "coco", "val2014"))[0])).format == "JPEG"


def test_bar_heights_follow_values():
  pixels = np.asarray(chartqa_demo.chart_image(64, [10, 50], ["red", "blue"]))
  heights = [(np.abs(pixels.astype(int) - common.COLOURS[c]).max(axis=2) < 10).any(axis=1).sum()
             for c in ("red", "blue")]
  assert heights[1] > 4 * heights[0] > 0


def test_set_names_and_one_set_alone(tmp_path):
  assert demo.set_names(None) == ["docvqa", "chartqa", "coco", "nocaps"]
  assert demo.set_names("all")[:3] == ["docvqa", "chartqa", "coco"]
  with pytest.raises(ValueError, match=r"--sets \['docvq'\] unknown; known: .*'docvqa'"):
    demo.set_names("docvq")
  # A set written alone has the same files as when written with the others (its own seed).
  alone = demo.make_demo_data(str(tmp_path / "a"), 2, 1, 16, tokenizer=False, build=False,
                              sets="chartqa")
  both = demo.make_demo_data(str(tmp_path / "b"), 2, 1, 16, tokenizer=False, build=False,
                             sets="docvqa,chartqa")
  name = "chartqa/val/val_human.json"
  with open(os.path.join(alone["raw"], name)) as f, open(os.path.join(both["raw"], name)) as g:
    assert f.read() == g.read()
  assert not os.path.exists(os.path.join(alone["raw"], "docvqa"))
