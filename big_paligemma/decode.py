"""Generation with a KV cache: prefill, token-by-token extension, sampling and beam search, one jit.

The model is used only through its `prepare`, `embed_tokens` and `decode` methods (PaliGemma,
Gemma 3, or a plain `gemma.Gemma` wrapped by `GemmaLM`) and `gemma.init_cache`; no model math here.
When the decoder is a `gemma.Gemma` (`model.llm` or the model itself), its `hidden` and `logits`
(the two halves of `decode`) are called instead, for speed: the token loop runs the layers one by
one on per-layer weights made ONCE per call, outside the loop (`layer_weights`), so no step copies
any weight; and the prompt's logits are computed at each row's last real position only. On XLA:CPU
(and only there: `_on_cpu` is the one place that decides) the decoder's products take the layouts
of `decode_cpu` (few-row matmuls with the weight on the left, on [out, in] copies made once);
accelerators run the model's plain einsums.

Axis letters: B batch, W beams, T prompt length (the `prepare` sequence: image tokens ++ text),
S cache slots = T + max_decode_len, L max_decode_len, V vocabulary.

Prompts are right-padded (`mask_input` marks real tokens). The prompt fills slots [0, T); new token
`i` goes to slot T + i at position (the row's last prompt position) + 1 + i, so each row continues
from its own length. A per-row slot mask [B,S] keeps prompt padding invisible forever.

Length penalty (beam search): score = sum of token log-probs / len**length_penalty, where len is
the number of generated tokens including the EOS (0.0 = plain log-probability).

Typical use:
  out = generate(PaliGemma(cfg), params, {"image": im, "text": t, "mask_ar": ar, "mask_input": m},
                 max_decode_len=32)           # out.tokens [B,L] (pad after EOS), out.lengths [B]
"""
import dataclasses
import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from big_paligemma import decode_cpu, registry, sharding
from big_paligemma.models import gemma

SAMPLERS = ("greedy", "sample", "beam")
_NEG_INF = -jnp.inf


class GemmaLM(gemma.Gemma):
  """A text-only `gemma.Gemma` (same parameter tree) with the prepare/embed_tokens/decode trio."""

  def embed_tokens(self, tokens: jax.Array) -> jax.Array:
    """tokens [B,T] int -> [B,T,D] (scaled embeddings)."""
    return self.embed(tokens)

  def prepare(self, batch: dict):
    """batch "text" [B,T] int, optional "mask_input" [B,T] (default all ones) -> (x [B,T,D],
    positions [B,T], attn_mask [B,T,T] causal over real tokens, input_mask [B,T] bool)."""
    text = batch["text"]
    input_mask = jnp.asarray(batch.get("mask_input", jnp.ones(text.shape, bool)), bool)
    positions = jnp.cumsum(input_mask, axis=1, dtype=jnp.int32) - 1
    attn_mask = gemma.make_attn_mask(input_mask, jnp.ones(text.shape, jnp.int32))
    return self.embed(text), positions, attn_mask, input_mask

  def decode(self, x, positions, attn_mask, cache=None, deterministic=True):
    """(logits [B,T,V] float32, new cache): the decoder call."""
    return self(x, positions, attn_mask, cache, deterministic)


def decodable(model: Any) -> Any:
  """`model` itself if it has prepare/embed_tokens/decode, a `GemmaLM` for a plain Gemma."""
  if all(hasattr(model, m) for m in ("prepare", "embed_tokens", "decode")):
    return model
  if isinstance(model, gemma.Gemma):
    return GemmaLM(model.config)
  raise TypeError(f"decode: {type(model).__name__} has no prepare/embed_tokens/decode methods; "
                  "pass a PaliGemma, Gemma3 or gemma.Gemma.")


def llm_config(model: Any) -> gemma.GemmaConfig:
  """The decoder's GemmaConfig (`config.llm` for multimodal models, else `config`)."""
  return getattr(model.config, "llm", model.config)


def _gemma_decoder(module) -> gemma.Gemma | None:
  """A bound model's `gemma.Gemma` decoder (`module.llm`, or the module itself), else None."""
  llm = getattr(module, "llm", module)
  return llm if isinstance(llm, gemma.Gemma) else None


def _on_cpu(params: Any, platform: str | None = None) -> bool:
  """Whether decoding takes the XLA:CPU layouts of `decode_cpu`: the one place that decides, by
  `platform` if given, else the platform of the devices that hold `params` (the default backend
  for no params, a tracer or an unplaced value), so a decode compiled for a TPU topology runs the
  plain model."""
  if platform is not None:
    return platform == "cpu"
  leaves = jax.tree_util.tree_leaves(params)
  try:
    return next(iter(leaves[0].sharding.device_set)).platform == "cpu"
  except (IndexError, AttributeError, TypeError, ValueError, StopIteration):
    return jax.default_backend() == "cpu"  # no params, a tracer or an unplaced value


def _layer_weights(module, rows: int, cpu: bool):
  """The Gemma decoder's per-layer weights for a token loop of `rows` rows; None for a model with
  another decoder (run through its `decode`)."""
  llm = _gemma_decoder(module)
  if llm is None:
    return None
  stacked = llm.variables["params"]["layers"]
  return decode_cpu.layer_weights(stacked, rows) if cpu else gemma.layer_weights(stacked)


@functools.partial(jax.jit, static_argnames=("model", "rows", "cpu"))
def _layer_weights_jit(model, params, rows: int, cpu: bool):
  return decodable(model).apply({"params": params}, rows, cpu, method=_layer_weights)


def layer_weights(model: Any, params: dict, rows: int, platform: str | None = None) -> Any:
  """The per-layer decoder weights `generate` makes for a token loop of `rows` rows (batch x
  beams), outside the loop: plain slices of the stacked params (on XLA:CPU a
  `decode_cpu.CpuWeights`, for 2+ rows with projections copied to [out, in]). Make them once and
  pass `generate(..., layer_weights=...)` to reuse them over many calls with the same params (an
  evaluation), saving the copy at every call (~0.15 s per 300 MiB on the 2-core CPU). platform:
  as in `generate`."""
  return _layer_weights_jit(model, params, rows, _on_cpu(params, platform))


def _logits(module, x, positions, mask, cache, weights, last=None, mesh=None):
  """(logits [B,V] float32 of query `last` [B] (None: the only query, T = 1), new cache).

  A Gemma decoder runs on the per-layer `weights` (None: scanned over the stacked ones) and
  projects only those rows to the vocabulary (on `mesh`: each device onto its slice of the
  vocabulary, `sharding.split_vocab`); another model through its own `decode`."""
  rows = lambda a: a[:, 0] if last is None else a[jnp.arange(a.shape[0]), last]  # noqa: E731
  llm = _gemma_decoder(module)
  if llm is None:
    logits, cache = module.decode(x, positions, mask, cache)
    return rows(logits), cache
  params = {"params": llm.variables["params"]}
  if isinstance(weights, decode_cpu.CpuWeights):
    llm, weights = decode_cpu.decoder(llm, weights), decode_cpu.views(weights)
  else:
    llm = gemma.Gemma(llm.config)
  h, cache = llm.apply(params, x, positions, mask, cache, layer_weights=weights, method="hidden")
  project = lambda v: llm.apply(params, v, method="logits")  # noqa: E731
  return sharding.split_vocab(project, rows(h)[:, None], mesh)[:, 0], cache


@dataclasses.dataclass(frozen=True)
class Settings:
  """Static decoding settings (part of the jit cache key); validated when built."""
  max_decode_len: int
  sampler: str = "greedy"
  temperature: float = 1.0
  top_k: int | None = None
  top_p: float | None = None
  beam_size: int = 1
  length_penalty: float = 0.0
  eos_id: int = 1
  pad_id: int = 0

  def __post_init__(self):
    if self.sampler not in SAMPLERS:
      raise ValueError(f"sampler={self.sampler!r}; allowed: {SAMPLERS}.")
    if not isinstance(self.max_decode_len, int) or self.max_decode_len < 1:
      raise ValueError(f"max_decode_len={self.max_decode_len!r} must be a positive int.")
    if self.beam_size < 1 or (self.beam_size > 1 and self.sampler != "beam"):
      raise ValueError(f"beam_size={self.beam_size} needs sampler='beam' (got {self.sampler!r}) "
                       "and must be >= 1.")
    if self.temperature <= 0:
      raise ValueError(f"temperature={self.temperature} must be > 0; use sampler='greedy'.")
    if self.top_k is not None and self.top_k < 1:
      raise ValueError(f"top_k={self.top_k} must be >= 1 or None.")
    if self.top_p is not None and not 0 < self.top_p <= 1:
      raise ValueError(f"top_p={self.top_p} must be in (0, 1] or None.")


@flax.struct.dataclass
class Output:
  """tokens [B,L] int32 (pad_id after EOS), lengths [B] (generated tokens incl. EOS), scores [B]
  (beam: length-penalised score; otherwise the sum of the model's log-probs of the tokens)."""
  tokens: jax.Array
  lengths: jax.Array
  scores: jax.Array


@flax.struct.dataclass
class Prefix:
  """What the next extension step needs. cache: the KV cache; slot_valid [B,S] bool; next_pos [B]
  int32: position of the next token; logits [B,V] float32: the next token's logits."""
  cache: gemma.KVCache
  slot_valid: jax.Array
  next_pos: jax.Array
  logits: jax.Array


# ---------------------------------------------------------------- prefill and extension


def _on_batch_axes(cache: gemma.KVCache) -> gemma.KVCache:
  """The cache's rows kept on the mesh's batch axes (under `sharding.activation_mesh`; else
  unchanged): left to itself, the compiler may replicate the whole batch's cache on every chip."""
  rows = lambda arrays: tuple(sharding.constrain_batch(a) for a in arrays)  # noqa: E731
  return cache.replace(k=rows(cache.k), v=rows(cache.v), pos=sharding.constrain_batch(cache.pos))


def prefill(model, params, batch: dict, max_decode_len: int, weights: tuple | None = None,
            mesh=None) -> Prefix:
  """Runs the prompt through the decoder into a fresh cache of T + max_decode_len slots.
  weights: plain per-layer weights (`gemma.layer_weights`, in a `decode_cpu.CpuWeights` on XLA:CPU)
  when they exist anyway (None or CpuWeights(None): the layers are scanned over the stacked params,
  which copies no weight up front)."""
  x, positions, attn_mask, input_mask = model.apply({"params": params}, batch, method="prepare")
  b, t = input_mask.shape
  cache = _on_batch_axes(gemma.init_cache(llm_config(model), b, t + max_decode_len))
  mask = jnp.pad(attn_mask, ((0, 0), (0, 0), (0, max_decode_len)))  # [B,T,S]
  last = jnp.max(jnp.where(input_mask, jnp.arange(t), -1), axis=1)  # [B]
  logits, cache = model.apply({"params": params}, x, positions, mask, cache, weights, last,
                              mesh, method=_logits)
  return Prefix(cache=cache, slot_valid=jnp.pad(input_mask, ((0, 0), (0, max_decode_len))),
                next_pos=positions[jnp.arange(b), last] + 1, logits=logits)


def extend(model, params, prefix: Prefix, tokens: jax.Array, weights: tuple | None = None,
           mesh=None) -> Prefix:
  """Appends one token per row (tokens [B] int) at slot `cache.index`; returns the next Prefix.
  weights: `layer_weights(model, params, B)` (None: made here, i.e. at every call)."""
  if weights is None:
    weights = layer_weights(model, params, tokens.shape[0])
  slot = prefix.cache.index
  x = model.apply({"params": params}, tokens[:, None], method="embed_tokens")
  valid = jax.lax.dynamic_update_slice(prefix.slot_valid, jnp.ones((tokens.shape[0], 1), bool),
                                       (0, slot))
  logits, cache = model.apply({"params": params}, x, prefix.next_pos[:, None], valid[:, None, :],
                              prefix.cache, weights, None, mesh, method=_logits)
  return Prefix(cache=cache, slot_valid=valid, next_pos=prefix.next_pos + 1, logits=logits)


# ---------------------------------------------------------------- token choice


@registry.register("sampler.greedy")
def greedy(logits: jax.Array, rng: jax.Array | None = None, **unused) -> jax.Array:
  """logits [B,V] -> argmax tokens [B] int32."""
  del rng, unused
  return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def filter_logits(logits: jax.Array, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> jax.Array:
  """logits [B,V] / temperature, with tokens outside the top-k and outside the smallest set whose
  probability reaches top_p (nucleus; the most likely token always stays) set to -inf."""
  logits = logits.astype(jnp.float32) / temperature
  if top_k is not None:
    kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][:, -1:]
    logits = jnp.where(logits < kth, _NEG_INF, logits)
  if top_p is not None:
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep_sorted = mass_before < top_p
    keep = jnp.zeros_like(keep_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(
        keep_sorted)
    logits = jnp.where(keep, logits, _NEG_INF)
  return logits


@registry.register("sampler.sample")
def sample(logits: jax.Array, rng: jax.Array, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None) -> jax.Array:
  """logits [B,V] -> tokens [B] int32 drawn from softmax(filter_logits(...)) with `rng`."""
  filtered = filter_logits(logits, temperature, top_k, top_p)
  return jax.random.categorical(rng, filtered, axis=-1).astype(jnp.int32)


def _choose(settings: Settings, logits, rng, step):
  if settings.sampler == "greedy":
    return greedy(logits)
  return sample(logits, jax.random.fold_in(rng, step), temperature=settings.temperature,
                top_k=settings.top_k, top_p=settings.top_p)


# ---------------------------------------------------------------- greedy / sampling loop


@flax.struct.dataclass
class _State:
  """Loop state. step: tokens written so far; tokens [B,L]; done [B]; lengths [B]; scores [B]."""
  step: jax.Array
  prefix: Prefix
  tokens: jax.Array
  done: jax.Array
  lengths: jax.Array
  scores: jax.Array


def _write(st: _State, settings: Settings, rng) -> _State:
  """Chooses the token at `st.step` from `st.prefix.logits` and records it."""
  token = _choose(settings, st.prefix.logits, rng, st.step)
  token = jnp.where(st.done, settings.pad_id, token)
  logp = jnp.take_along_axis(jax.nn.log_softmax(st.prefix.logits), token[:, None], axis=1)[:, 0]
  tokens = jax.lax.dynamic_update_slice(st.tokens, token[:, None], (0, st.step))
  return _State(step=st.step + 1, prefix=st.prefix, tokens=tokens,
                done=st.done | (token == settings.eos_id),
                lengths=jnp.where(st.done, st.lengths, st.step + 1),
                scores=st.scores + jnp.where(st.done, 0.0, logp))


def _sample_loop(model, params, weights, prefix: Prefix, rng, settings: Settings, mesh=None
                 ) -> Output:
  b = prefix.logits.shape[0]
  st = _State(step=jnp.zeros((), jnp.int32), prefix=prefix,
              tokens=jnp.full((b, settings.max_decode_len), settings.pad_id, jnp.int32),
              done=jnp.zeros((b,), bool), lengths=jnp.zeros((b,), jnp.int32),
              scores=jnp.zeros((b,), jnp.float32))
  st = _write(st, settings, rng)

  def cond(st):
    return (st.step < settings.max_decode_len) & ~jnp.all(st.done)

  def body(st):
    last = jax.lax.dynamic_index_in_dim(st.tokens, st.step - 1, axis=1, keepdims=False)
    st = st.replace(prefix=extend(model, params, st.prefix, last, weights, mesh))
    return _write(st, settings, rng)

  st = jax.lax.while_loop(cond, body, st)
  return Output(tokens=st.tokens, lengths=st.lengths, scores=st.scores)


# ---------------------------------------------------------------- beam search


@flax.struct.dataclass
class _Beams:
  """Beam state. alive_*: [B,W] live hypotheses (tokens [B,W,L], logp [B,W]); fin_*: the best W
  finished ones (tokens, scores, lengths); prefix: the live beams' cache, batch axis B*W."""
  step: jax.Array
  prefix: Prefix
  alive_tokens: jax.Array
  alive_logp: jax.Array
  fin_tokens: jax.Array
  fin_scores: jax.Array
  fin_lengths: jax.Array


def _gather_beams(tree, beam_idx):
  """Reorders the beams of each example in the B*W batch axis (axis 0 of every array of a Prefix,
  row-major: b * W + beam): row b * W + j takes row b * W + beam_idx[b, j] (beam_idx [B,W]). The
  rows move only within their example (a gather batched over B), so a cache split over the batch
  axes stays where it is: indexed by flat row numbers, the compiler gathered the whole cache onto
  every chip (PaliGemma 2 3B's COCO captions at 448, beam 2: 18.4 GiB a chip on a v5e-16)."""
  b, w = beam_idx.shape

  def take(a):
    per_example = a.reshape(b, w, *a.shape[1:])
    idx = beam_idx.reshape(b, w, *(1,) * (a.ndim - 1))
    return jnp.take_along_axis(per_example, idx, axis=1).reshape(a.shape)

  cache = tree.cache
  rows = lambda arrays: tuple(take(a) for a in arrays)  # noqa: E731
  cache = cache.replace(k=rows(cache.k), v=rows(cache.v), pos=take(cache.pos))
  return Prefix(cache=cache, slot_valid=take(tree.slot_valid), next_pos=take(tree.next_pos),
                logits=take(tree.logits))


def _penalised(logp, length, alpha):
  return logp / jnp.asarray(length, jnp.float32) ** alpha


def _beam_step(bs: _Beams, settings: Settings) -> _Beams:
  """Extends every live beam by every token; of the best 2W candidates, those ending (EOS or the
  last step) among the first W join the finished set (best W kept), the best W others live on."""
  w, l, eos = settings.beam_size, settings.max_decode_len, settings.eos_id
  b = bs.alive_logp.shape[0]
  logp = jax.nn.log_softmax(bs.prefix.logits).reshape(b, w, -1)   # [B,W,V]
  v = logp.shape[-1]
  cand, idx = jax.lax.top_k((bs.alive_logp[:, :, None] + logp).reshape(b, w * v), 2 * w)
  beam, token = idx // v, (idx % v).astype(jnp.int32)             # [B,2W]
  seqs = jnp.take_along_axis(bs.alive_tokens, beam[:, :, None], axis=1)
  seqs = jax.lax.dynamic_update_slice(seqs, token[:, :, None], (0, 0, bs.step))
  ends = (token == eos) | (bs.step + 1 == l)
  top_w = jnp.arange(2 * w) < w  # as HF: only a top-W candidate may finish (W=1 is greedy)
  fin_new = jnp.where(ends & top_w, _penalised(cand, bs.step + 1, settings.length_penalty),
                      _NEG_INF)
  scores = jnp.concatenate([bs.fin_scores, fin_new], axis=1)
  fin_scores, pick = jax.lax.top_k(scores, w)
  all_tokens = jnp.concatenate([bs.fin_tokens, seqs], axis=1)
  all_lengths = jnp.concatenate([bs.fin_lengths, jnp.full_like(token, bs.step + 1)], axis=1)
  alive_logp, keep = jax.lax.top_k(jnp.where(ends, _NEG_INF, cand), w)
  return _Beams(step=bs.step + 1,
                prefix=_gather_beams(bs.prefix, jnp.take_along_axis(beam, keep, axis=1)),
                alive_tokens=jnp.take_along_axis(seqs, keep[:, :, None], axis=1),
                alive_logp=alive_logp,
                fin_tokens=jnp.take_along_axis(all_tokens, pick[:, :, None], axis=1),
                fin_scores=fin_scores,
                fin_lengths=jnp.take_along_axis(all_lengths, pick, axis=1))


def _beams_settled(bs: _Beams, settings: Settings) -> jax.Array:
  """True when no live beam can still beat the best finished one in every row (log-probs only
  fall; the penalty's extremes over the remaining lengths bound the final score)."""
  a, l = settings.length_penalty, settings.max_decode_len
  best_alive = bs.alive_logp[:, 0]
  bound = jnp.maximum(_penalised(best_alive, l, a), _penalised(best_alive, bs.step + 1, a))
  return jnp.all((bs.fin_scores[:, 0] >= bound) | (best_alive == _NEG_INF))


def _repeat_beams(prefix: Prefix, w: int) -> Prefix:
  """Each row's prefix repeated W times along the batch axis (row-major: b * W + beam), each
  example's copies beside it (on the chip that holds it)."""
  def repeat(a):
    return jnp.broadcast_to(a[:, None], (a.shape[0], w, *a.shape[1:])).reshape(-1, *a.shape[1:])

  cache = prefix.cache
  cache = cache.replace(k=tuple(map(repeat, cache.k)), v=tuple(map(repeat, cache.v)),
                        pos=repeat(cache.pos))
  return Prefix(cache=cache, slot_valid=repeat(prefix.slot_valid),
                next_pos=repeat(prefix.next_pos), logits=repeat(prefix.logits))


def _beam_loop(model, params, weights, prefix: Prefix, settings: Settings, mesh=None
               ) -> Output:
  w, l = settings.beam_size, settings.max_decode_len
  b = prefix.logits.shape[0]
  init_logp = jnp.where(jnp.arange(w) == 0, 0.0, _NEG_INF)
  pads = jnp.full((b, w, l), settings.pad_id, jnp.int32)
  bs = _Beams(step=jnp.zeros((), jnp.int32), prefix=_repeat_beams(prefix, w),
              alive_tokens=pads, alive_logp=jnp.broadcast_to(init_logp, (b, w)),
              fin_tokens=pads, fin_scores=jnp.full((b, w), _NEG_INF),
              fin_lengths=jnp.zeros((b, w), jnp.int32))
  bs = _beam_step(bs, settings)

  def cond(bs):
    return (bs.step < l) & ~_beams_settled(bs, settings)

  def body(bs):
    last = jax.lax.dynamic_index_in_dim(bs.alive_tokens, bs.step - 1, axis=2, keepdims=False)
    bs = bs.replace(prefix=extend(model, params, bs.prefix, last.reshape(-1), weights, mesh))
    return _beam_step(bs, settings)

  bs = jax.lax.while_loop(cond, body, bs)
  return Output(tokens=bs.fin_tokens[:, 0], lengths=bs.fin_lengths[:, 0],
                scores=bs.fin_scores[:, 0])


# ---------------------------------------------------------------- entry point


@functools.partial(jax.jit, static_argnames=("model", "settings", "cpu", "mesh"))
def _generate_jit(model, params, batch, rng, settings: Settings, weights=None, cpu=False,
                  mesh=None) -> Output:
  if weights is None:  # Made once, outside the token loop, which reads them in place.
    rows = batch["text"].shape[0] * settings.beam_size
    weights = _layer_weights_jit(model, params, rows, cpu)
  # On XLA:CPU the prefill reuses plain slices; with [out, in] copies it scans the stacked
  # weights. Elsewhere it scans them: unrolled over the layers' slices, the prompt's pass (which
  # gathers each layer's FSDP-sharded weights, as the train step does) let the compiler's
  # scheduler hold ~20 layers' gathered weights at once (Gemma 3 12B at 896 on a v5e-64).
  first = weights if cpu else None
  if isinstance(weights, decode_cpu.CpuWeights) and weights.out_in:
    first = decode_cpu.CpuWeights(None)
  # The prompt's pass is a forward pass over the whole batch: its activations and the cache it
  # fills stay on the mesh's batch axes (the weights gathered, as in training). The token loop is
  # left to the compiler: a few rows per chip, it keeps the weights in place and moves the rows.
  with sharding.activation_mesh(mesh):
    prefix = prefill(model, params, batch, settings.max_decode_len, first, mesh)
  if settings.sampler == "beam":
    return _beam_loop(model, params, weights, prefix, settings, mesh)
  return _sample_loop(model, params, weights, prefix, rng, settings, mesh)


def generate(model, params, batch: dict, *, max_decode_len: int, sampler: str = "greedy",
             rng: jax.Array | None = None, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, beam_size: int = 1, length_penalty: float = 0.0,
             eos_id: int = 1, pad_id: int = 0, layer_weights: Any = None,
             platform: str | None = None, mesh: jax.sharding.Mesh | None = None) -> Output:
  """Decodes up to `max_decode_len` tokens after each prompt of `batch`, all inside one jit.

  batch: the model's `prepare` input, right-padded ("text" [B,T], "mask_input" [B,T], plus
  "mask_ar" and "image" [B,h,w,3] or "images" [B,M,h,w,3] for PaliGemma, "images" for Gemma 3).
  sampler: 'greedy', 'sample' (temperature, top_k, top_p; needs `rng`) or 'beam' (beam_size,
  length_penalty; returns the best beam). Params and batch may be sharded; the jit keeps their
  shardings. Stops when every row has produced `eos_id`. The compiled function is reused for equal
  shapes, model and settings.
  layer_weights: `layer_weights(model, params, rows)` made once for many calls (None: made at each
  call). platform: the platform the decode runs on ("cpu" takes `decode_cpu`'s layouts; None: the
  params' devices, or the default backend under an outer jit).
  mesh: the mesh that `params` and `batch` are sharded over (an evaluator's): the prompt's pass
  then keeps its activations and the KV cache on the mesh's batch axes, as the trainer keeps its
  step's (`sharding.activation_mesh`); without it the compiler lays them out as it likes, which
  for long prompts on an FSDP mesh may hold the whole batch's on every chip.
  """
  settings = Settings(max_decode_len=max_decode_len, sampler=sampler, temperature=temperature,
                      top_k=top_k, top_p=top_p, beam_size=beam_size,
                      length_penalty=length_penalty, eos_id=eos_id, pad_id=pad_id)
  if sampler == "sample" and rng is None:
    raise ValueError("generate(sampler='sample') needs rng=jax.random.key(...).")
  if rng is None:
    rng = jax.random.key(0)
  return _generate_jit(decodable(model), params, batch, rng, settings, layer_weights,
                       _on_cpu(params, platform), mesh)
