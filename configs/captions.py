"""What the caption transfer configs (cococap, nocaps, coco35l, xm3600, textcaps, scicap,
screen2words, widgetcap) share: the training pp with one reference caption as the target, and the
captioning eval (coco_caption: CIDEr, BLEU-4, METEOR, ROUGE-L) with the published prompt, text
length and sampler, its references copied to "captions" as big_vision's eval pp does.

The ids are big_vision's `image/id` (coco_captions: `image_id`).
"""
from configs import common
from configs import published
import pp


def train_pp(transfer: published.Transfer, res: int, captions_key: str, *,
             is_list: bool = True, before: tuple[str, ...] = (), antialias: bool = False) -> str:
  """The training pp: one of the `captions_key` references (or the one, `is_list=False`) as the
  target of the published prompt, each reference once before any repeats (big_vision's
  choice_no_replacement). big_vision resizes caption images without antialiasing
  (`resize(res)`), except widgetcap's."""
  return pp.paligemma_train_pp(res, transfer.text_len, transfer.prompt, captions_key,
                               suffix_is_list=is_list, before=before, antialias=antialias,
                               pick="choice_no_replacement")


def caption_eval(transfer: published.Transfer, res: int, data: dict, captions_key: str, *,
                 every: str, before: tuple[str, ...] = (), antialias: bool = False,
                 id_key: str = "image/id", **cfg) -> dict:
  """A coco_caption eval of `data`, its references `captions_key` (a list, or one string) and
  ids `id_key`; `antialias` as in `train_pp`."""
  copy = () if captions_key == "captions" else (
      f'copy(inkey="{captions_key}", outkey="captions")',)
  return common.decode_eval(transfer, res, data, "coco_caption", (id_key, "captions"),
                            every=every, before=(*copy, *before), antialias=antialias,
                            id_key=id_key, **cfg)
