"""SciCap (captions of scientific figures from arXiv papers) from its official release.

Build: `tfds build big_paligemma/data/datasets/scicap.py --config first_sentence_subfig_no
--manual_dir DIR --data_dir OUT --file_format array_record` (the PaliGemma transfer's config).
This module imports nothing from the project, so `tfds build` can load it by path. Paths go
through etils.epath (gs:// works).

One example per figure, with big_vision's feature names (its `scicap` builder): image/id,
image/filename, and the caption in its four official forms caption/originally_extracted,
caption/lowercase_and_token_and_remove_figure_index (what PaliGemma trains and scores on),
caption/normalized/basic_num, caption/normalized/advanced_equation_bracket. Configs
<subset>_subfig_<yes|no>: the official experiment lists (single_sentence, first_sentence,
leq_100_tokens; figures with or without subfigures). Splits train, val, test.
"""
import json
import os

from etils import epath
import tensorflow_datasets as tfds

# config subset -> the experiment folder of List-of-Files-for-Each-Experiments.
_SUBSETS = {"single_sentence": "Single-Sentence-Caption", "first_sentence": "First-Sentence",
            "leq_100_tokens": "Caption-No-More-Than-100-Tokens"}
_SUBFIG = {"yes": ("Yes-Subfig", "SciCap-Yes-Subfig-Img"),
           "no": ("No-Subfig", "SciCap-No-Subfig-Img")}
_SPLITS = ("train", "val", "test")
CAPTION = "caption/lowercase_and_token_and_remove_figure_index"
_INSTRUCTIONS = """\
Download scicap_data.zip from https://github.com/tingyaohsu/SciCap and unzip it so that
`manual_dir` holds SciCap-Caption-All/<split>/<figure>.json, SciCap-No-Subfig-Img/<split>/ and
SciCap-Yes-Subfig-Img/<split>/ (the PNG figures) and
List-of-Files-for-Each-Experiments/<experiment>/<No|Yes>-Subfig/<split>/file_idx.json.
"""


def _captions(annotation: dict) -> dict[str, str]:
  """The four caption forms of one figure's official JSON, by feature name."""
  normalized = annotation["2-normalized"]
  return {
      "caption/originally_extracted": annotation["0-originally-extracted"],
      CAPTION: annotation["1-lowercase-and-token-and-remove-figure-index"]["caption"],
      "caption/normalized/basic_num": normalized["2-1-basic-num"]["caption"],
      # "euqation": the official key's spelling.
      "caption/normalized/advanced_equation_bracket":
          normalized["2-2-advanced-euqation-bracket"]["caption"],
  }


class Scicap(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """SciCap figures and captions; one config per official experiment list."""

  name = "scicap"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "SciCap release files."}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"{subset}_subfig_{subfig}")
                     for subset in _SUBSETS for subfig in _SUBFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  # TFDS's own lookup of this file needs `importlib_resources`, absent on Python 3.11.
  code_path = epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image/id": text, "image/filename": text,
        "image": tfds.features.Image(encoding_format="png"),
        **{key: text for key in _captions(_EMPTY)},
    }), homepage="https://github.com/tingyaohsu/SciCap")

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    subset, subfig = self.builder_config.name.rsplit("_subfig_", 1)
    lists, images = _SUBFIG[subfig]
    lists = os.path.join(root, "List-of-Files-for-Each-Experiments", _SUBSETS[subset], lists)
    for split in _SPLITS:
      if not epath.Path(os.path.join(lists, split, "file_idx.json")).exists():
        raise FileNotFoundError(f"SciCap list {os.path.join(lists, split, 'file_idx.json')} is "
                                f"missing.\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(root, os.path.join(lists, split, "file_idx.json"),
                                           os.path.join(root, images, split), split)
            for split in _SPLITS}

  def _generate_examples(self, root, list_path, image_dir, split):
    with epath.Path(list_path).open() as f:
      names = json.load(f)
    for name in names:
      if not name.endswith(".png"):
        raise ValueError(f"{list_path} lists {name!r}, not a .png figure.")
      figure = name[:-len(".png")]
      caption_path = os.path.join(root, "SciCap-Caption-All", split, f"{figure}.json")
      with epath.Path(caption_path).open() as f:
        captions = _captions(json.load(f))
      yield name, {"image/id": figure, "image/filename": name,
                   "image": os.path.join(image_dir, name), **captions}


_EMPTY = {"0-originally-extracted": "",
          "1-lowercase-and-token-and-remove-figure-index": {"caption": ""},
          "2-normalized": {"2-1-basic-num": {"caption": ""},
                           "2-2-advanced-euqation-bracket": {"caption": ""}}}
