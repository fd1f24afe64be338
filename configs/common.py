"""Config pieces shared by the transfer configs: defaults, model by resolution, the demo model.

Demo mode (`:demo`) expects the files of `tools/make_demo_data.py` under `demo_data=DIR`
(default `demo_data/`): the benchmark's TFDS data built in `DIR/tfds` and the small tokenizer of
`tools/make_tokenizer.py` at `DIR/paligemma.model` (Gemma 3 configs: `DIR/gemma3.model`, the same
with `<start_of_image>` and `<end_of_image>` appended).
"""
import ml_collections

from big_paligemma import config as config_lib
from big_paligemma import loc_tokens
from big_paligemma import sharding
from configs import published
from big_paligemma.models import build
from big_paligemma.models import presets
import pp

DEMO_DATA_DIR = "demo_data"
DEMO_RES = 64  # The demo images (tools/make_demo_data.py --size 64) at their own size.
# The demo tokenizer: tools/make_tokenizer.py's default 512 pieces + 1024 loc + 128 seg.
DEMO_VOCAB = 512 + loc_tokens.NUM_LOC + loc_tokens.NUM_SEG
# The Gemma 3 demo tokenizer (make_tokenizer --gemma3): DEMO_VOCAB + <start_of_image>, <end_of_image>.
# Its image soft token is the next id, outside the vocabulary, as Gemma 3's 262144 is.
GEMMA3_DEMO_VOCAB = DEMO_VOCAB + 2
GEMMA3_DEMO_TOKENS_PER_IMAGE = 16  # the 8x8 patch grid of the demo images pooled 2x2
# The `model=` argument of the transfer configs -> its preset at a resolution (published.MODELS).
MODELS = {"pg1_3b": "pali_gemma_3b_{res}", "pg2_3b": "pali_gemma2_pt_3b_{res}",
          "pg2_10b": "pali_gemma2_pt_10b_{res}", "pg2_28b": "pali_gemma2_pt_28b_{res}"}
RESOLUTIONS = (224, 448, 896)
# Heads (attention) and the ffw width (mlp) over "tensor", the largest free dim over "fsdp".
SHARDING_RULES = [
    (r".*/(bias|scale)", "replicate"),
    (r"llm/layers/attn/(q_einsum|attn_vec_einsum)/w", (("tensor", -3), "fsdp")),
    (r"llm/layers/mlp/gating_einsum", (("tensor", -1), "fsdp")),
    (r"llm/layers/mlp/linear", (("tensor", -2), "fsdp")),
    (r".*", "fsdp"),
]


def get_args(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """The parsed `get_config` argument with the keys every transfer config takes: demo,
  demo_data, init (model_init), tokenizer, data_dir, batch_size, mesh_fsdp (0: the backend's
  mesh, see `base_config`), unroll (unset: the backend decides, see `backend_fields`; True: the
  layers fully unrolled; False: the scanned loop), model (MODELS:
  pg1_3b, pg2_3b, pg2_10b, pg2_28b), freeze_vit / freeze_llm (True: train the other tower only;
  False: train it; unset: the published recipe's choice, see `freeze_towers`)."""
  common = dict(demo=False, demo_data=DEMO_DATA_DIR, init="", tokenizer="", data_dir="",
                batch_size=0, mesh_fsdp=0, unroll=None, model="pg1_3b", freeze_vit=None,
                freeze_llm=None)
  return config_lib.parse_arg(arg, **{**common, **defaults})


def base_config() -> ml_collections.ConfigDict:
  """Every top-level key with its default (a transfer config overrides what it needs)."""
  c = ml_collections.ConfigDict()
  c.model = dict(preset=None, overrides={}, img=None, llm=None)
  c.model_init = None
  c.tokenizer = ""
  c.input = dict(data={}, pp="", batch_size=256, skip_bad_examples=False,
                 num_parallel=8)
  c.seed = 0
  c.total_steps = None
  c.total_epochs = None
  c.total_examples = None
  c.log_every = 50
  c.grad_accum = 1
  c.optim = dict(optax_name="adam", optax=dict(b1=0.9, b2=0.999), lr=1e-5, wd=1e-6,
                 grad_clip_norm=1.0, schedule=dict(decay_type="cosine", warmup="5%"))
  c.loss = dict(label_smoothing=0.0, normalisation="per_example")
  c.mesh = list(sharding.AUTO_MESH)  # data-parallel on CPU, FSDP over all accelerator devices
  c.sharding_rules = list(SHARDING_RULES)
  c.ckpt = dict(every=1000, keep_last=2, keep_every=None, async_save=True)
  c.lora = None
  c.evals = {}
  c.eval_at_start = False  # Also evaluate the initial (or restored) params.
  c.peak_flops = None
  return c


def transfer_optim() -> dict:
  """big_vision's transfer optimizer: adam b2 0.999, lr 1e-5, wd 1e-6, clip 1.0, cosine, 5% warm-up."""
  return dict(optax_name="adam", optax=dict(b2=0.999), lr=1e-5, wd=1e-6, grad_clip_norm=1.0,
              schedule=dict(decay_type="cosine", warmup="5%"))


def shrink_for_demo(c: ml_collections.ConfigDict, steps: int = 1000) -> None:
  """A demo run of a tiny random model: `steps` steps of batch 16 at lr 1e-3 (10% warm-up,
  cosine), no weight decay, evals at 25%, 50%, 75% and 100% on 64-example batches."""
  c.input.batch_size = 16
  c.total_epochs = c.total_examples = None
  c.total_steps = steps
  c.optim.lr = 1e-3
  c.optim.wd = 0.0
  c.optim.schedule = dict(decay_type="cosine", warmup="10%")
  c.eval_at_start = True  # The demo shows its untrained score first.
  for ev in c.evals.values():
    ev.update(batch_size=64, every="25%")


def preset_for(res: int, model: str = "pg1_3b") -> str:
  """The preset of `model` (MODELS) at `res`; a bad value raises naming the allowed ones."""
  if model not in MODELS:
    raise config_lib.ConfigError(f"model={model!r}; allowed: {sorted(MODELS)}.")
  if res not in RESOLUTIONS:
    raise config_lib.ConfigError(f"res={res}; allowed: {list(RESOLUTIONS)}.")
  return MODELS[model].format(res=res)


def backend_fields(unroll: bool | None, llm_layers: int, img_depth: int) -> tuple[dict, dict]:
  """(llm, img) fields that leave the compute dtype, remat and (with `unroll` None) the scan to the
  backend (build.AUTO: models/build.BACKEND_CHOICES, the one place that decides them); `unroll`
  True/False fixes scan_unroll to the depth (fully unrolled) / 1 (the scanned loop)."""
  auto = build.AUTO
  llm = dict(dtype=auto, remat_policy=auto, scan_unroll=auto)
  img = dict(dtype=auto, remat_policy=auto, scan_unroll=auto)
  if unroll is not None:
    llm["scan_unroll"], img["scan_unroll"] = (llm_layers, img_depth) if unroll else (1, 1)
  return llm, img


def preset_model(res: int, unroll: bool | None = None, llm: dict | None = None,
                 model: str = "pg1_3b") -> dict:
  """config.model for the published PaliGemma `model` (MODELS) at `res`, `llm` overriding
  decoder fields. PaliGemma 2 is fine-tuned as big_vision does: final logit soft-cap off and every
  decoder layer global (presets.pali_gemma2's final_logit_softcap / all_global).

  unroll: see `backend_fields` (unset: scanned and rematerialised in bfloat16 on accelerators,
  fully unrolled in float32 on CPU, where the train step is ~1.17x faster than the scanned loop:
  `python -m tools.bench_train --scan`).
  """
  name = preset_for(res, model)
  cfg = presets.get_preset(name)
  llm_auto, img = backend_fields(unroll, cfg.llm.num_layers, cfg.img.depth)
  overrides = dict(llm={**llm_auto, **(llm or {})}, img=img)
  if model.startswith("pg2"):
    overrides.update(final_logit_softcap=None, all_global=True)
  return dict(preset=name, overrides=overrides, img=None, llm=None)


def transfer_model(args, llm: dict | None = None) -> dict:
  """config.model of a transfer config: the demo model, or `args.model` at `args.res`."""
  if args.demo:
    return demo_model(DEMO_RES, unroll=args.unroll)
  return preset_model(args.res, args.unroll, llm, args.model)


# Rows (config name, model, res) whose slice (the smallest v5e slice that fits the train step with
# attention of 512 queries at a time, the default past 2048 queries: models/attention.py) also has
# the memory for every query at once, with 1 GiB of the chip's 15.75 left free, and where that is
# at least 10% faster: the logits written once instead of recomputed in the backward pass.
# Measured with tools.plan on v5e, train step at the published batch, blocks -> all at once
# (roofline step; BENCHMARKS.md "Attention blocks per row"): RefCOCO at 896 on v5e-16, PaliGemma
# 3B 9.86 -> 13.61 GiB, 4.02 -> 3.15 s, PaliGemma 2 3B 9.92 -> 13.66 GiB, 4.58 -> 3.44 s;
# InfoVQA / ST-VQA at 896 on v5e-16, PaliGemma 3B 7.56 -> 8.75 GiB, 1.89 -> 1.53 s, PaliGemma 2 3B
# 8.39 -> 9.01 GiB, 2.16 -> 1.66 s; Gemma 3 27B DocVQA at 896 on v5e-128 12.93 -> 14.23 GiB, 1.68
# -> 1.46 s. Not chosen: Gemma 3 12B on v5e-64 (12.12 -> 15.48 GiB, 0.27 GiB left; 2.67 -> 2.41 s),
# PaliGemma 2 10B and 28B at 896 (under 3% faster on their slices), DocVQA, TextVQA, TallyQA and
# OCR-VQA 3B (all at once needs twice the chips).
ALL_QUERIES_AT_ONCE = frozenset(
    [(name, model, 896) for name in ("refcoco_det", "refcoco_seg", "infovqa", "stvqa")
     for model in ("pg1_3b", "pg2_3b")] + [("gemma3_docvqa", "gemma3_27b", 896)])


def choose_attention_blocks(c: ml_collections.ConfigDict, name: str, model: str,
                            res: int) -> None:
  """Both towers attend every query at once (attn_query_block=0) on the rows of
  ALL_QUERIES_AT_ONCE; elsewhere the model's default stays (512 at a time past 2048 queries)."""
  if (name, model, res) in ALL_QUERIES_AT_ONCE and c.model.get("preset"):
    for tower in ("img", "llm"):
      c.model.overrides[tower]["attn_query_block"] = 0


def set_llm_dropout(c: ml_collections.ConfigDict, rate: float) -> None:
  """The decoder's dropout rate, for a preset model or explicit llm fields."""
  if c.model.preset:
    c.model.overrides.llm["dropout"] = rate
  else:
    c.model.llm["dropout"] = rate


def apply_recipe(c: ml_collections.ConfigDict, transfer: published.Transfer, args) -> None:
  """The published recipe of `args.model` at `args.res` (configs/published.py): epochs (or
  examples), lr, wd, batch size, label smoothing, LLM dropout and frozen towers, on the transfer
  optimizer."""
  try:
    recipe = transfer.recipe(args.model, args.res)
  except KeyError as e:
    raise config_lib.ConfigError(f"{e.args[0]} Pass a published res.") from None
  c.total_epochs, c.total_examples = recipe.epochs, recipe.examples
  c.optim = transfer_optim()
  c.optim.update(lr=recipe.lr, wd=recipe.wd)
  c.input.batch_size = recipe.batch_size
  c.loss.label_smoothing = recipe.label_smoothing
  set_llm_dropout(c, recipe.llm_dropout)
  freeze_towers(c, args, recipe)
  if not args.demo:
    choose_attention_blocks(c, transfer.name, args.model, args.res)


def published_sweep(hyper, transfer: published.Transfer, args) -> list[dict]:
  """A transfer's `get_hyper`: the sweep behind its published numbers (big_vision's sweep_best:
  the published recipe at each published resolution, see apply_recipe); in demo mode, the demo at
  two learning rates (1e-3, 3e-3)."""
  if args.demo:
    return hyper.sweep("config.optim.lr", [1e-3, 3e-3])
  return hyper.sweep("res", sorted(transfer.recipes))


# Parameters of each tower (slash paths, see models/paligemma.py): img/ is SigLIP and the
# projection head, llm/ the decoder.
TOWERS = {"vit": r"img/.*", "llm": r"llm/.*"}


def freeze_towers(c: ml_collections.ConfigDict, args,
                  recipe: published.Recipe | None = None) -> None:
  """`freeze_vit` / `freeze_llm`: that tower's parameters get no updates (config.optim.frozen),
  as big_vision's sweeps do; an unset one (None) takes `recipe`'s choice (the vision tower only);
  both at once is an error."""
  chosen = {"vit": args.freeze_vit, "llm": args.freeze_llm}
  if chosen["vit"] is None:
    chosen["vit"] = bool(recipe and recipe.freeze_vit)
  frozen = [TOWERS[t] for t in ("vit", "llm") if chosen[t]]
  if len(frozen) == 2:
    raise config_lib.ConfigError("freeze_vit and freeze_llm together leave nothing to train.")
  if frozen:
    c.optim.frozen = frozen


def demo_model(res: int = DEMO_RES, llm_dropout: float = 0.0, unroll: bool | None = None) -> dict:
  """A tiny PaliGemma: SigLIP width 64 patch 8, Gemma 2 layers width 64, the demo vocabulary;
  `unroll` as in `preset_model`."""
  llm_auto, img_auto = backend_fields(unroll, 2, 2)
  img = dict(width=64, depth=2, mlp_dim=128, num_heads=2, patch_size=8, image_size=res,
             pool_type="none", **img_auto)
  llm = dict(vocab_size=DEMO_VOCAB, num_layers=2, num_heads=2, num_kv_heads=1, width=64,
             mlp_dim=128, head_dim=32, dropout=llm_dropout, **llm_auto)
  return dict(preset=None, overrides={}, img=img, llm=llm)


def gemma3_preset_model(name: str, res: int, unroll: bool | None = None, llm: dict | None = None,
                        img: dict | None = None, **fields) -> dict:
  """config.model for the Gemma 3 multimodal preset `name` (e.g. gemma3_4b) at `res` px, `llm` /
  `img` / `fields` overriding its fields; `unroll` as in `preset_model`."""
  try:
    model = presets.get_preset(name)
  except presets.UnknownPresetError as e:
    raise config_lib.ConfigError(f"model={name!r}: {e}") from None
  if type(model).__name__ != "Gemma3Config" or model.img is None:
    raise config_lib.ConfigError(
        f"model={name!r} is not a Gemma 3 multimodal preset; use gemma3_4b, gemma3_12b, "
        "gemma3_27b (or their gemma3_instruct_ names).")
  llm_auto, img_auto = backend_fields(
      unroll, dict(llm or {}).get("num_layers", model.llm.num_layers),
      dict(img or {}).get("depth", model.img.depth))
  llm, img = {**llm_auto, **(llm or {})}, {**img_auto, **(img or {}), "image_size": res}
  return dict(preset=name, overrides=dict(llm=llm, img=img, **fields), img=None, llm=None)


def gemma3_demo_model(res: int = DEMO_RES, unroll: bool | None = None) -> dict:
  """A tiny random Gemma 3 (the gemma3_4b preset shrunk): SigLIP width 64, 2 layers, patch 8,
  its 8x8 grid pooled to 16 soft tokens; a Gemma 3 decoder of 2 layers (local, global) width 64,
  the Gemma 3 demo vocabulary, image token id = GEMMA3_DEMO_VOCAB (outside it)."""
  img = dict(width=64, depth=2, mlp_dim=128, num_heads=2, patch_size=8)
  llm = dict(vocab_size=GEMMA3_DEMO_VOCAB, num_layers=2, num_heads=2, num_kv_heads=1, width=64,
             mlp_dim=128, head_dim=32, layer_pattern=("local", "global"))
  return gemma3_preset_model("gemma3_4b", res, unroll, llm=llm, img=img,
                             tokens_per_image=GEMMA3_DEMO_TOKENS_PER_IMAGE,
                             image_token_id=GEMMA3_DEMO_VOCAB)


def apply_args(c: ml_collections.ConfigDict, args) -> ml_collections.ConfigDict:
  """The arguments every transfer config shares: init, tokenizer, batch size, fsdp, demo."""
  if args.init:
    c.model_init = args.init
  c.tokenizer = args.tokenizer or (f"{args.init}/tokenizer.model" if args.init else
                                   "tokenizer.model")
  if args.batch_size:
    c.input.batch_size = args.batch_size
  if args.mesh_fsdp:
    c.mesh = [("data", -1), ("fsdp", args.mesh_fsdp), ("tensor", 1)]
  if args.demo:
    c.tokenizer = args.tokenizer or f"{args.demo_data}/paligemma.model"
    c.model_init = args.init or None
    c.input.num_parallel = 2
    c.log_every = 10
    c.ckpt.every = 100
  return c


def train_split(final_split: bool, holdout: str = "train[:-5%]",
                final: str = "train+validation") -> str:
  """big_vision's training split: all of it with `final_split`, else without the held-out 5%
  that the minitrain/minival monitors read."""
  return final if final_split else holdout


MONITOR_SPLITS = {"minitrain": "train[:5%]", "minival": "train[-5%:]"}


def monitor_evals(c: ml_collections.ConfigDict, name: str, source: dict, train_pp: str,
                  every: str = "10%", batch_size: int = 64, splits: dict | None = None) -> None:
  """big_vision's cheap held-out monitors of a run that trains on train[:-5%]: perplexity (no
  decoding, the training pp) on minitrain = train[:5%] (memorisation) and minival = train[-5%:]
  (for tuning), as evals `<name>_minitrain_pplx` / `<name>_minival_pplx`; `splits` ({monitor:
  split}) replaces those where big_vision holds out otherwise."""
  for sub, split in (splits or MONITOR_SPLITS).items():
    c.evals[f"{name}_{sub}_pplx"] = dict(type="perplexity", data={**source, "split": split},
                                         pp=train_pp, batch_size=batch_size, every=every)


def data_dir(args) -> str | None:
  """The TFDS data_dir: the `data_dir` argument, the demo's, or None (TFDS's default)."""
  if args.data_dir:
    return args.data_dir
  return f"{args.demo_data}/tfds" if args.demo else None


def tfds_source(name: str, split: str, args) -> dict:
  source = dict(name=name, split=split)
  if data_dir(args):
    source["data_dir"] = data_dir(args)
  return source


def setup(transfer: published.Transfer, arg: str | None, **defaults):
  """(config, args, res): the base config with the model of `args.model` at `args.res` (the demo
  model at the demo resolution with `demo`) and the published recipe applied; `defaults` adds
  arguments (res= sets the default resolution)."""
  args = get_args(arg, final_split=False, **defaults)
  c = base_config()
  c.model = transfer_model(args)
  apply_recipe(c, transfer, args)
  return c, args, DEMO_RES if args.demo else args.res


def decode_eval(transfer: published.Transfer, res: int, data: dict, evaluator: str,
                keep: tuple[str, ...], *, every: str = "1 epochs", before: tuple[str, ...] = (),
                antialias: bool = True, **cfg) -> dict:
  """A decoding eval of `data` by `evaluator` with the published prompt, text length (as the
  decode length) and sampler; `keep` the host fields it needs, `before` / `antialias` as in
  pp.paligemma_eval_pp, `cfg` the evaluator's own keys."""
  out = dict(type=evaluator, data=data, batch_size=64, every=every,
             max_decode_len=transfer.text_len,
             pp=pp.paligemma_eval_pp(res, transfer.text_len, transfer.prompt, keep_keys=keep,
                                     antialias=antialias, before=before), **cfg)
  if transfer.decode:
    out["sampler"] = dict(transfer.decode)
  return out


def finish(c: ml_collections.ConfigDict, args) -> ml_collections.ConfigDict:
  """The demo's shrinking (with `demo`) and the arguments every transfer config shares."""
  if args.demo:
    shrink_for_demo(c)
  return apply_args(c, args)
