"""The caption and referring-expression builders read their official layouts into examples.

The files are written by the demo sets (tools/demo_data/<set>.py write the official layouts);
each test reads the written files back itself and compares the built examples with them, and
states the layout-specific rules (ids, splits, boxes, masks) by hand. Written to and read from
an emulated bucket (gs://), every builder generates the same examples as from a local folder.
"""
import csv
import json
import os
import pickle
import re
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from big_paligemma import fs
from big_paligemma.data import datasets
from big_paligemma.data.datasets import coco35l
from big_paligemma.data.datasets import nocaps
from big_paligemma.data.datasets import refcoco
from big_paligemma.data.datasets import scicap
from big_paligemma.data.datasets import screen2words
from big_paligemma.data.datasets import textcaps
from big_paligemma.data.datasets import widgetcap
from big_paligemma.data.datasets import xm3600
from tools.demo_data import coco35l as demo_coco35l
from tools.demo_data import nocaps as demo_nocaps
from tools.demo_data import refcoco as demo_refcoco
from tools.demo_data import rico as demo_rico
from tools.demo_data import scicap as demo_scicap
from tools.demo_data import textcaps as demo_textcaps
from tools.demo_data import xm3600 as demo_xm3600


def _build(cls, manual, out, config=None):
  builder = cls(config=config, data_dir=str(out))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  return builder


def _read(builder, split):
  """The split's examples (images kept encoded; nested masks decoded), in file order."""
  ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()},
                          shuffle_files=False)
  return list(tfds.as_numpy(ds))


def _texts(values):
  return [v.decode() for v in values]


def _sentences(ex) -> list[str]:
  """The expressions of an example's objects, in order (a ragged [objects, refs] field)."""
  value = ex["objects"]["refs"]["sentence"]
  value = getattr(value, "flat_values", value)
  return [s.decode() for s in np.asarray(value).ravel()]


def _bytes(path):
  with open(path, "rb") as f:
    return f.read()


def test_every_builder_is_registered_under_its_source_name():
  for cls in (nocaps.NoCaps, coco35l.Coco35l, xm3600.Xm3600, textcaps.TextCaps, scicap.Scicap,
              screen2words.Screen2Words, widgetcap.Widgetcap, refcoco.RefCoco):
    assert datasets.BUILDERS[cls.name] is cls


def test_nocaps_val_captions_test_without(tmp_path):
  root = demo_nocaps.write(str(tmp_path / "raw"), {"val": 3, "test": 2}, 16, seed=0)
  builder = _build(nocaps.NoCaps, root, tmp_path / "out")
  with open(os.path.join(root, "nocaps_val_4500_captions.json")) as f:
    data = json.load(f)
  want = {im["id"]: [a["caption"] for a in data["annotations"] if a["image_id"] == im["id"]]
          for im in data["images"]}
  val = {int(ex["image/id"]): ex for ex in _read(builder, "val")}
  assert {k: _texts(ex["texts"]) for k, ex in val.items()} == want
  assert all(len(c) == 5 for c in want.values())
  first = data["images"][0]
  assert val[first["id"]]["image"] == _bytes(os.path.join(root, "validation", first["file_name"]))
  assert val[first["id"]]["url"].decode() == first["coco_url"]
  test = _read(builder, "test")
  assert len(test) == 2 and all(len(ex["texts"]) == 0 for ex in test)


def test_coco35l_one_split_per_language_english_from_the_german_lines(tmp_path):
  root = demo_coco35l.write(str(tmp_path / "raw"), {"train": 2, "dev": 1}, 16, seed=0)
  builder = _build(coco35l.Coco35l, root, tmp_path / "out")
  assert set(builder.info.splits) == {f"{p}_{l}" for p in ("train", "dev")
                                      for l in coco35l.LANGUAGES}
  with open(os.path.join(root, "coco_mt_train.jsonl")) as f:
    lines = [json.loads(line) for line in f]
  de = {ex["image/id"].decode(): ex for ex in _read(builder, "train_de")}
  en = {ex["image/id"].decode(): ex for ex in _read(builder, "train_en")}
  assert sorted(de) == ["1_de", "2_de"] and sorted(en) == ["1_en", "2_en"]
  for cocoid in (1, 2):
    rows = [r for r in lines if r["trg_lang"] == "de" and r["image_id"].startswith(f"{cocoid}_")]
    assert _texts(de[f"{cocoid}_de"]["captions"]) == [r["translation_tokenized"] for r in rows]
    assert _texts(en[f"{cocoid}_en"]["captions"]) == [r["caption_tokenized"] for r in rows]
    assert en[f"{cocoid}_en"]["language"] == b"en"
  assert _texts(de["1_de"]["captions"])[0].startswith("de ")
  assert de["1_de"]["image"] == _bytes(os.path.join(root, "train2014",
                                                     "COCO_train2014_000000000001.jpg"))
  assert [ex["image/id"] for ex in _read(builder, "dev_zh")] == [b"3_zh"]


def test_xm3600_one_split_per_language(tmp_path):
  root = demo_xm3600.write(str(tmp_path / "raw"), {"test": 2}, 16, seed=0)
  builder = _build(xm3600.Xm3600, root, tmp_path / "out")
  assert set(builder.info.splits) == set(xm3600.LANGUAGES) and "quz" in builder.info.splits
  with open(os.path.join(root, "captions.jsonl")) as f:
    first = json.loads(f.readline())
  quz = {ex["image/id"].decode(): ex for ex in _read(builder, "quz")}
  ex = quz[f"{first['image/key']}_quz"]
  assert _texts(ex["captions"]) == first["quz"]["caption"]
  assert _texts(ex["captions/tokenized"]) == first["quz"]["caption/tokenized"]
  assert ex["image"] == _bytes(os.path.join(root, "images", f"{first['image/key']}.jpg"))


def test_textcaps_groups_caption_rows_by_image(tmp_path):
  root = demo_textcaps.write(str(tmp_path / "raw"), {"train": 2, "val": 1, "test": 1}, 16, 0)
  builder = _build(textcaps.TextCaps, root, tmp_path / "out")
  with open(os.path.join(root, "TextCaps_0.1_val.json")) as f:
    rows = json.load(f)["data"]
  (val,) = _read(builder, "val")
  assert val["image/id"].decode() == rows[0]["image_id"]
  assert _texts(val["texts"]) == [r["caption_str"] for r in rows] and len(rows) == 3
  assert val["image"] == _bytes(os.path.join(root, "train_images", f"{rows[0]['image_name']}.jpg"))
  (test,) = _read(builder, "test")
  assert len(test["texts"]) == 0 and len(_read(builder, "train")) == 2


def test_scicap_first_sentence_no_subfig(tmp_path):
  root = demo_scicap.write(str(tmp_path / "raw"), {"train": 2, "val": 1, "test": 1}, 16, 0)
  builder = _build(scicap.Scicap, root, tmp_path / "out", "first_sentence_subfig_no")
  (val,) = _read(builder, "val")
  figure = val["image/id"].decode()
  with open(os.path.join(root, "SciCap-Caption-All", "val", f"{figure}.json")) as f:
    ann = json.load(f)
  assert val[scicap.CAPTION].decode() == ann[
      "1-lowercase-and-token-and-remove-figure-index"]["caption"]
  assert val["caption/originally_extracted"].decode() == ann["0-originally-extracted"]
  assert val["image/filename"].decode() == f"{figure}.png"
  assert val["image"] == _bytes(os.path.join(root, "SciCap-No-Subfig-Img", "val", f"{figure}.png"))
  with pytest.raises(FileNotFoundError, match="Single-Sentence-Caption"):
    _build(scicap.Scicap, root, tmp_path / "out2", "single_sentence_subfig_no")


def test_rico_screen2words_summaries_and_widgetcap_boxes(tmp_path):
  root = demo_rico.write(str(tmp_path / "raw"), {"train": 2, "dev": 1, "test": 1}, 32, 0)
  s2w = _build(screen2words.Screen2Words, root, tmp_path / "out")
  with open(os.path.join(root, "screen_summaries.csv"), newline="") as f:
    summaries = [r for r in csv.DictReader(f) if r["screenId"] == "3"]
  (dev,) = _read(s2w, "dev")
  assert int(dev["image/id"]) == 3 and _texts(dev["summary"]) == [r["summary"] for r in summaries]
  assert dev["image"] == _bytes(os.path.join(root, "combined", "3.jpg"))
  wc = _build(widgetcap.Widgetcap, root, tmp_path / "out")
  examples = {ex["image/id"].decode(): ex for ex in _read(wc, "test")}
  assert sorted(examples) == ["4_0.1", "4_0.2"]
  with open(os.path.join(root, "combined", "4.json")) as f:
    bounds = json.load(f)["activity"]["root"]["children"][2]["bounds"]
  ex = examples["4_0.2"]
  assert (ex["height"], ex["width"]) == (32, 18)
  # Canvas bounds * (32 / 2560) / image size, as y0 x0 y1 x1.
  scale = 32 / 2560
  want = [bounds[1] * scale / 32, bounds[0] * scale / 18, bounds[3] * scale / 32,
          bounds[2] * scale / 18]
  np.testing.assert_allclose(ex["bbox"], want, atol=1e-6)
  assert len(ex["texts"]) == 2 and _texts(ex["texts"])[1].startswith("tap the ")


def test_widgetcap_node_path_and_clipped_box():
  tree = {"activity": {"root": {"bounds": [0, 0, 1440, 2560], "children": [
      {"bounds": [0, 0, 10, 10]}, {"bounds": [0, 0, 1, 1], "children": [
          {"bounds": [-20, 1280, 2000, 2560]}]}]}}}
  assert widgetcap.node_bounds(tree, "0.1.0") == [-20, 1280, 2000, 2560]
  with pytest.raises(ValueError, match="nodeId 0.5"):
    widgetcap.node_bounds(tree, "0.5")
  box = widgetcap.normalised_box([-20, 1280, 2000, 2560], width=1080, height=1920)
  assert (box.ymin, box.xmin, box.ymax, box.xmax) == (0.5, 0.0, 1.0, 1.0)


def _refs_file(path, refs):
  with open(path, "wb") as f:
    pickle.dump(refs, f, protocol=2)


def test_refcoco_refs_unpickler_refuses_objects(tmp_path):
  _refs_file(tmp_path / "ok.p", [{"ref_id": 1, "sentences": [{"sent": "left dog"}]}])
  assert refcoco.load_refs(str(tmp_path / "ok.p"))[0]["sentences"][0]["sent"] == "left dog"
  with open(tmp_path / "bad.p", "wb") as f:
    pickle.dump([os.getcwd, 1], f, protocol=2)  # would call os.getcwd when loaded
  with pytest.raises(pickle.UnpicklingError, match="posix.getcwd"):
    refcoco.load_refs(str(tmp_path / "bad.p"))


@pytest.fixture(scope="module")
def refcoco_data(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("refcoco")
  root = demo_refcoco.write(str(tmp / "raw"), {"train": 2, "val": 1, "test": 2}, 32, seed=0)
  return root, tmp / "out"


def test_refcoco_unc_examples_masks_boxes_and_flat_split(refcoco_data):
  root, out = refcoco_data
  builder = _build(refcoco.RefCoco, root, out, "refcoco_unc")
  assert set(builder.info.splits) == {s + f for s in ("train", "validation", "testA", "testB")
                                      for f in ("", "_flat")}
  with open(os.path.join(root, "refcoco", "instances.json")) as f:
    instances = json.load(f)
  (val,) = _read(builder, "validation")
  assert int(val["id"]) == 3 and val["image"] == _bytes(
      os.path.join(root, "train2014", "COCO_train2014_000000000003.jpg"))
  anns = [a for a in instances["annotations"] if a["image_id"] == 3]
  assert list(val["objects"]["id"]) == [a["id"] for a in anns]
  x, y, w, h = anns[0]["bbox"]
  np.testing.assert_allclose(val["objects"]["bbox"][0], [y / 32, x / 32, (y + h) / 32,
                                                         (x + w) / 32], atol=1e-6)
  mask = val["objects"]["mask"][0][..., 0]
  assert mask.shape == (32, 32) and set(np.unique(mask)) == {0, 255}
  if anns[0]["category_id"] == demo_refcoco.CATEGORIES["square"]:
    assert (mask > 0).sum() == pytest.approx(w * h, rel=0.3)
  assert [s.split()[0] for s in _sentences(val)] == [
      "left", "right"]
  flat = _read(builder, "validation_flat")
  assert len(flat) == 2 and all(len(ex["objects"]["id"]) == 1 for ex in flat)
  assert [len(_read(builder, s)) for s in ("train", "testA", "testB")] == [2, 1, 1]


def test_refcocox_combined_merges_datasets_and_test_splits(refcoco_data):
  root, out = refcoco_data
  builder = _build(refcoco.RefCoco, root, out, "refcocox_combined")
  test = _read(builder, "test")  # RefCOCO testA + testB, RefCOCO+ likewise, RefCOCOg test
  assert sorted(int(ex["id"]) for ex in test) == [4, 5]
  sentences = {s for ex in test for s in _sentences(ex)}
  assert any(s.startswith("the ") for s in sentences)  # RefCOCOg
  assert any(len(s.split()) == 2 for s in sentences)  # RefCOCO+
  assert len(_read(builder, "test_flat")) == 3 * 2 * 2  # 3 datasets x 2 images x 2 objects


def test_refcocox_combined_train_drops_images_of_other_splits():
  refs = [{"image_id": 1, "split": "train"}, {"image_id": 1, "split": "val"},
          {"image_id": 2, "split": "train"}, {"image_id": 3, "split": "testB"}]
  assert [r["image_id"] for r in refcoco._split_refs(refs, "train", combined=True)] == [2]
  assert [r["image_id"] for r in refcoco._split_refs(refs, "test", combined=True)] == [3]
  assert [r["image_id"] for r in refcoco._split_refs(refs, "validation", combined=True)] == [1]
  assert [r["image_id"] for r in refcoco._split_refs(refs, "train", combined=False)] == [1, 2]
  assert [r["image_id"] for r in refcoco._split_refs(refs, "validation", False)] == [1]


@pytest.mark.parametrize("module", [nocaps, coco35l, xm3600, textcaps, scicap, screen2words,
                                    widgetcap, refcoco], ids=lambda m: m.__name__.split(".")[-1])
def test_builder_modules_import_nothing_from_the_project(module):
  """`tfds build path/to/<module>.py` loads the file alone: only third-party imports."""
  import ast  # pylint: disable=import-outside-toplevel
  with open(module.__file__) as f:
    tree = ast.parse(f.read())
  names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
  names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
  project = ("big_paligemma", "configs", "pp", "tools", "evaluators", "trainers", "tests")
  assert not [n for n in names if n.split(".")[0] in project], names


def _plain(value, root: str):
  """An example as plain lists, strings and numbers, `root` in its paths replaced by 'ROOT'."""
  if isinstance(value, dict):
    return {k: _plain(v, root) for k, v in value.items()}
  if isinstance(value, (list, tuple)):  # BBox is a namedtuple
    return [_plain(v, root) for v in value]
  if isinstance(value, np.ndarray):
    return value.tolist()
  return value.replace(root, "ROOT") if isinstance(value, str) else value


def _generated(cls, config, root: str) -> dict:
  """{split: [(key, example)]} as the builder generates them from manual_dir `root`."""
  builder = cls(config=config, data_dir=None)
  manager = types.SimpleNamespace(manual_dir=root)
  splits = builder._split_generators(manager)  # pylint: disable=protected-access
  return {s: [(k, _plain(ex, root)) for k, ex in gen] for s, gen in splits.items()}


# (demo set, its counts, [(builder, config)], a file that all of them read): every builder of
# this family.
_FROM_BUCKET = [
    (demo_nocaps, {"val": 2, "test": 1}, [(nocaps.NoCaps, None)], "**/*.jpg"),
    (demo_coco35l, {"train": 1, "dev": 1}, [(coco35l.Coco35l, None)], "**/*.jpg"),
    (demo_xm3600, {"test": 1}, [(xm3600.Xm3600, None)], "**/*.jpg"),
    (demo_textcaps, {"train": 2, "val": 1, "test": 1}, [(textcaps.TextCaps, None)], "**/*.jpg"),
    (demo_scicap, {"train": 1, "val": 1, "test": 1},
     [(scicap.Scicap, "first_sentence_subfig_no")], "SciCap-Caption-All/**/*.json"),
    (demo_rico, {"train": 1, "dev": 1, "test": 1},
     [(screen2words.Screen2Words, None), (widgetcap.Widgetcap, None)], "**/*.jpg"),
    (demo_refcoco, {"train": 2, "val": 1, "test": 2},
     [(refcoco.RefCoco, "refcoco_unc"), (refcoco.RefCoco, "refcocox_combined")], "**/*.jpg"),
]


@pytest.mark.parametrize("demo, counts, builds, read_file", _FROM_BUCKET,
                         ids=[row[0].__name__.split(".")[-1] for row in _FROM_BUCKET])
def test_demo_set_written_to_a_bucket_and_generated_from_it(demo, counts, builds, read_file,
                                                            gcs_bucket, tmp_path):
  """DESIGN rule 11: the demo writer and the builders' readers (etils.epath) on gs://, each
  example the same as from a local folder (paths aside); a file missing there is named."""
  local = demo.write(str(tmp_path / "raw"), counts, 16, seed=0)
  remote = demo.write(f"{gcs_bucket}/raw", counts, 16, seed=0)
  for cls, config in builds:
    want, got = _generated(cls, config, local), _generated(cls, config, remote)
    assert got == want and sum(map(len, got.values())) > 0, (cls.name, config)
  missing = fs.glob(f"{remote}/{read_file}")[0]  # a file every builder of the set reads
  fs.remove(missing)
  for cls, config in builds:
    with pytest.raises(FileNotFoundError, match=re.escape(fs.basename(missing))):
      _generated(cls, config, remote)
