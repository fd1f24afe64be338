"""The pp spec strings of the Gemma 3 transfers (no TensorFlow: the configs build them; the ops
they name are pp/ops_gemma3.py's and the general ones)."""

BOI = "<start_of_image>"
EOI = "<end_of_image>"
IMAGE_BLOCK = f"\n\n{BOI}{EOI}\n\n"  # the soft tokens go right after BOI's id


def _image_pp(res: int) -> str:
  # Gemma3ImageProcessor: bilinear resize to res x res, x/255, (x - 0.5)/0.5.
  return f"decode|resize({res}, antialias=True)|value_range(-1, 1)|stack_images"


def _prompt_pp(prefix_template: str, tokens_per_image: int, image_token_id: int) -> str:
  if prefix_template.count(BOI) != 1:
    raise ValueError(f"prefix_template {prefix_template!r} must hold one {BOI} (where the image "
                     f"goes), e.g. '{BOI}answer en {{question}}'.")
  return (f"strfmt({prefix_template!r}, outkey=\"prefix\")|"
          f"gemma3_tok(key=\"prefix\", tokens_per_image={tokens_per_image}, "
          f"image_token_id={image_token_id})|tok(key=\"septok\", text=\"\\n\")")


def _tolen_pp(text_len: int, pads: dict[str, int]) -> str:
  return "|".join(f'tolen({text_len}, pad_value={v}, key="{k}")' for k, v in pads.items())


def gemma3_train_pp(res: int, text_len: int, prefix_template: str, suffix_key: str,
                    tokens_per_image: int, image_token_id: int,
                    suffix_is_list: bool = False) -> str:
  """The training pp spec of a Gemma 3 transfer.

  Output: images [1, res, res, 3] float32 in [-1, 1]; text int32 [text_len + 1] (the model
  reads text_len of them, see `paligemma_train_pp`) = bos + prefix (its
  `<start_of_image>` expanded, see the module docstring) + "\\n" + suffix + eos, padded with 0;
  mask_ar 0 on prefix + sep, 1 on suffix + eos and padding (Gemma 3 attends causally whatever
  mask_ar says); mask_loss 1 on suffix + eos only; mask_input 1 on real tokens. text_len counts
  the tokens_per_image + 5 tokens of the image block: keep it large enough that only the
  suffix can be cut (`_truncated` = 1 then).
  """
  pick = "choice" if suffix_is_list else "copy"
  return "|".join([
      _image_pp(res), _prompt_pp(prefix_template, tokens_per_image, image_token_id),
      f"{pick}(inkey={suffix_key!r}, outkey=\"suffix\")|tok(key=\"suffix\", eos=\"yes\")",
      'masked_concat(["prefix", "septok", "suffix"], mask_ar=[0, 0, 1], mask_loss=[0, 0, 1])',
      # One token more than the model reads (build.teacher_forcing), as big_vision.
      _tolen_pp(text_len + 1, {"text": 0, "mask_ar": 1, "mask_loss": 0, "mask_input": 0}),
      'keep("images", "text", "mask_ar", "mask_loss", "mask_input")',
  ])


def gemma3_eval_pp(res: int, text_len: int, prefix_template: str, tokens_per_image: int,
                   image_token_id: int, keep_keys: tuple[str, ...] = ()) -> str:
  """The prompt-only spec for decoding: bos + prefix (image expanded) + "\\n", padded to
  text_len; `keep_keys` are kept too (ground truth and ids for the evaluator)."""
  keep = ", ".join(repr(k) for k in ("images", "text", "mask_ar", "mask_input") + keep_keys)
  return "|".join([
      _image_pp(res), _prompt_pp(prefix_template, tokens_per_image, image_token_id),
      'masked_concat(["prefix", "septok"], mask_ar=[0, 0], mask_loss=[0, 0])',
      _tolen_pp(text_len, {"text": 0, "mask_ar": 1, "mask_input": 0}),
      f"keep({keep})",
  ])
