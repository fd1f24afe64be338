"""DocVQA transfer of Gemma 3 multimodal: `--config configs/transfer/gemma3_docvqa.py:model=gemma3_4b`.

  python -m trainers.train --config configs/transfer/gemma3_docvqa.py:model=gemma3_4b,init=HF_DIR \
      --workdir /tmp/gemma3_docvqa
  python -m trainers.train --config configs/transfer/gemma3_docvqa.py:demo --workdir /tmp/g3_demo

Arguments: model (a Gemma 3 multimodal preset: gemma3_4b, gemma3_12b, gemma3_27b or their
gemma3_instruct_ names), res (896, Gemma 3's own; the patch grid must pool to 16x16), init (an HF
Gemma3ForConditionalGeneration directory; its tokenizer.model is the default tokenizer; the
decoder then takes HF's padded vocabulary, 262208),
tokenizer (the Gemma 3 tokenizer.model: it must hold `<start_of_image>` and `<end_of_image>`),
plus the common ones (configs/common.py).

Prompt (pp/ops_gemma3.py, Gemma3Processor's layout): bos + "\\n\\n<start_of_image>" + 256 image
soft tokens + "<end_of_image>\\n\\n" + "answer en {question}" + "\\n", then one of the answers +
eos, the loss on the answer + eos only; one image per example, "images" [B,1,res,res,3].
Settings: there is no published Gemma 3 DocVQA transfer recipe, so PaliGemma's published one
(big_vision) is used: 10 epochs, batch 256, adam b2 0.999, lr 1e-5, wd 1e-6, clip 1.0, cosine with
5% warm-up, 32 text tokens after the image block; ANLS on the validation split.
demo: a tiny random Gemma 3 (configs/common.py gemma3_demo_model) on `tools/make_demo_data.py`'s
data and its Gemma 3 tokenizer (demo_data/gemma3.model), 1000 steps of batch 16 at lr 1e-3.

Slices (`python -m tools.plan_table`: the smallest TPU v5e slice that fits, and GiB a chip;
configs/slices.json): train step at the published batch, 896: v5e-32 (gemma3_4b 12.5); v5e-64
(gemma3_12b 13.3); v5e-128 (gemma3_27b 14.2). Evals' decode at their batch, 896: v5e-32 (gemma3_4b
2.5); v5e-64 (gemma3_12b 3.6); v5e-128 (gemma3_27b 5.7).
"""
from big_paligemma import fs
from big_paligemma.models import build
from big_paligemma.models import presets
from configs import common
from pp import builder_gemma3

PREFIX = builder_gemma3.BOI + "answer en {question}"
TEXT_LEN = 32  # question + "\n" + answer + eos, as PaliGemma's DocVQA transfer
IMAGE_BLOCK_LEN = 8  # bos, "\n\n" twice (1 token each in Gemma 3, up to 2 in the demo), boi, eoi


def get_config(arg: str | None = None):
  args = common.get_args(arg, model="gemma3_4b", res=896)
  res = common.DEMO_RES if args.demo else args.res
  c = common.base_config()
  c.model = (common.gemma3_demo_model(res, args.unroll) if args.demo else
             common.gemma3_preset_model(args.model, res, args.unroll, llm=_llm_fields(args)))
  model_cfg = build.model_config(c)  # its soft-token layout (the "auto" fields do not matter)
  n, image_id = model_cfg.tokens_per_image, model_cfg.image_token_id
  text_len = n + IMAGE_BLOCK_LEN + TEXT_LEN
  c.input.data = common.tfds_source("docvqa", "train", args)
  c.input.pp = builder_gemma3.gemma3_train_pp(res, text_len, PREFIX, "answers", n, image_id,
                                              suffix_is_list=True)
  c.input.batch_size = 256
  c.total_epochs = 10
  c.optim = common.transfer_optim()
  c.evals = {"docvqa_validation": dict(
      type="anls", data=common.tfds_source("docvqa", "validation", args),
      pp=builder_gemma3.gemma3_eval_pp(res, text_len, PREFIX, n, image_id,
                                       keep_keys=("answers", "question_id")),
      batch_size=64, every="1 epochs", max_decode_len=TEXT_LEN)}
  if args.demo:
    common.shrink_for_demo(c)
  else:
    common.choose_attention_blocks(c, "gemma3_docvqa", args.model, res)
  c = common.apply_args(c, args)
  if args.demo:
    c.tokenizer = args.tokenizer or f"{args.demo_data}/gemma3.model"
  return c


def _llm_fields(args) -> dict:
  """HF checkpoints pad Gemma 3's 262144 pieces to 262208 rows; fine-tune them at that size."""
  if args.init and fs.exists(fs.join(args.init, "config.json")):
    return {"vocab_size": presets.HF_PADDED_VOCAB[presets.GEMMA3_VOCAB]}
  return {}
