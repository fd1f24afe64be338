"""decode.py against cacheless teacher forcing and brute-force search, on tiny Gemma 2 models."""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from big_paligemma import decode
from big_paligemma import decode_cpu
from big_paligemma import registry
from big_paligemma.models import gemma
from big_paligemma.models import paligemma
from big_paligemma.models import siglip

# Gemma 2-like: soft-caps and a 4-token window, shorter than every sequence below.
CFG = gemma.GemmaConfig.tiny(2, vocab_size=64)
PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [3, 4, 12], [20, 21, 22, 23, 24]]


def _random_params(cfg, seed=0):
  """Gemma params whose outputs depend on the context (small embeddings, strong post-norms), so
  greedy decoding does not just repeat the last token."""
  x = jnp.zeros((1, 4, cfg.width))
  params = gemma.Gemma(cfg).init(jax.random.key(seed), x, jnp.zeros((1, 4), jnp.int32),
                                 jnp.ones((1, 4, 4), bool))["params"]
  return _contextual(params, seed)


def _contextual(params, seed):
  rng = np.random.RandomState(seed)

  def rescale(path, leaf):
    name = jax.tree_util.keystr(path)
    if "post" in name:
      return jnp.full(leaf.shape, 2.0)
    if "scale" in name:
      return jnp.asarray(rng.normal(0, 0.3, leaf.shape), jnp.float32)
    return leaf * 0.2 if "embedder" in name else leaf

  return jax.tree_util.tree_map_with_path(rescale, params)


def _batch(rows, length=None):
  """Right-padded {"text", "mask_input"} from lists of tokens."""
  length = length or max(len(r) for r in rows)
  text = np.zeros((len(rows), length), np.int32)
  for i, r in enumerate(rows):
    text[i, :len(r)] = r
  return {"text": jnp.asarray(text), "mask_input": jnp.asarray(text != 0)}


@functools.partial(jax.jit, static_argnums=0)
def _full_logits(model, params, batch):
  """Cacheless forward over a whole right-padded sequence: logits [B,T,V]."""
  x, positions, mask, _ = model.apply({"params": params}, batch, method="prepare")
  return model.apply({"params": params}, x, positions, mask, method="decode")[0]


@pytest.fixture(scope="module")
def params():
  return _random_params(CFG)


LM = decode.GemmaLM(CFG)


def test_prefill_and_extend_logits_equal_full_forward(params):
  forced = np.random.RandomState(1).randint(2, CFG.vocab_size, (len(PROMPTS), 6))
  prefill = jax.jit(decode.prefill, static_argnums=(0, 3))
  extend = jax.jit(decode.extend, static_argnums=0)
  prefix = prefill(LM, params, _batch(PROMPTS), forced.shape[1])
  steps = [prefix.logits]
  for i in range(forced.shape[1] - 1):
    prefix = extend(LM, params, prefix, jnp.asarray(forced[:, i]))
    steps.append(prefix.logits)
  full = _full_logits(LM, params, _batch([p + list(f) for p, f in zip(PROMPTS, forced)]))
  for row, prompt in enumerate(PROMPTS):
    want = np.asarray(full[row, len(prompt) - 1:len(prompt) - 1 + len(steps)])
    got = np.stack([np.asarray(s[row]) for s in steps])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_paligemma_prefill_and_extend_logits_equal_full_forward():
  img = siglip.SigLIPConfig(width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=8,
                            image_size=16)  # P = 4 image tokens
  model = paligemma.PaliGemma(paligemma.PaliGemmaConfig(img=img, llm=CFG))
  prompts, forced = PROMPTS[:2], np.random.RandomState(2).randint(2, CFG.vocab_size, (2, 5))
  image = np.random.RandomState(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)

  def batch(rows, num_prefix):  # prefix-LM: the prompt is the bidirectional prefix
    b = _batch(rows)
    mask_ar = np.ones(b["text"].shape, np.int32)
    mask_ar[:, :num_prefix] = 0
    return dict(b, image=image, mask_ar=jnp.asarray(mask_ar * b["mask_input"]))

  params = model.init(jax.random.key(0), batch(prompts, 0))["params"]
  params = dict(params, llm=_contextual(params["llm"], 0))
  prompt_batch = batch(prompts, 100)
  prefix = jax.jit(decode.prefill, static_argnums=(0, 3))(model, params, prompt_batch, 5)
  steps = [prefix.logits]
  extend = jax.jit(decode.extend, static_argnums=0)
  for i in range(forced.shape[1] - 1):
    prefix = extend(model, params, prefix, jnp.asarray(forced[:, i]))
    steps.append(prefix.logits)
  for row, prompt in enumerate(prompts):  # one row at a time: each has its own prefix length
    full = _full_logits(model, params, jax.tree.map(
        lambda x: x[row:row + 1], batch([prompt + list(forced[row])] * 2, len(prompt))))
    start = img.num_patches + len(prompt) - 1
    np.testing.assert_allclose(np.stack([np.asarray(s[row]) for s in steps]),
                               np.asarray(full[0, start:start + len(steps)]), atol=1e-5,
                               rtol=1e-5)


def test_greedy_equals_teacher_forced_argmax(params):
  out = decode.generate(gemma.Gemma(CFG), params, _batch(PROMPTS), max_decode_len=10, eos_id=2)
  tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
  assert len(set(tokens.ravel().tolist())) > 3, "degenerate model: pick other params"
  full = _full_logits(LM, params, _batch([p + list(t) for p, t in zip(PROMPTS, tokens)]))
  for row, prompt in enumerate(PROMPTS):
    n = lengths[row]
    argmax = np.argmax(np.asarray(full[row, len(prompt) - 1:len(prompt) - 1 + n]), axis=-1)
    np.testing.assert_array_equal(tokens[row, :n], argmax)
    assert (tokens[row, n:] == 0).all()
    assert n == 10 or tokens[row, n - 1] == 2


def test_padded_batch_row_equals_row_alone(params):
  alone = decode.generate(LM, params, _batch([PROMPTS[1]]), max_decode_len=10)
  padded = decode.generate(LM, params, _batch(PROMPTS, length=9), max_decode_len=10)
  np.testing.assert_array_equal(alone.tokens[0], padded.tokens[1])
  np.testing.assert_allclose(alone.scores[0], padded.scores[1], atol=1e-5)


def test_same_shapes_compile_once(params):
  traces = []

  class CountingLM(decode.GemmaLM):
    def prepare(self, batch):
      traces.append(1)  # Runs once per trace of the jitted generate.
      return super().prepare(batch)

  model = CountingLM(CFG)
  first = decode.generate(model, params, _batch(PROMPTS), max_decode_len=5)
  other = decode.generate(model, params, _batch([[9, 8, 7, 6], [5], [4, 4]], 7), max_decode_len=5)
  assert len(traces) == 1
  assert not np.array_equal(first.tokens, other.tokens)


def test_filter_logits_by_hand():
  probs = np.array([[0.1, 0.2, 0.3, 0.4]])
  logits = jnp.log(jnp.asarray(probs))
  inf = -np.inf
  top_k = decode.filter_logits(logits, top_k=2)
  np.testing.assert_allclose(top_k, [[inf, inf, np.log(0.3), np.log(0.4)]], rtol=1e-6)
  # Mass before each token in descending order: 0.4 -> 0, 0.3 -> 0.4, 0.2 -> 0.7, 0.1 -> 0.9.
  top_p = decode.filter_logits(logits, top_p=0.5)
  np.testing.assert_allclose(top_p, [[inf, inf, np.log(0.3), np.log(0.4)]], rtol=1e-6)
  top_p = decode.filter_logits(logits, top_p=0.75, temperature=2.0)
  np.testing.assert_allclose(top_p, [[inf, np.log(0.2) / 2, np.log(0.3) / 2, np.log(0.4) / 2]],
                             rtol=1e-6)


def test_sampling_is_a_function_of_the_key(params):
  batch = _batch(PROMPTS)
  run = functools.partial(decode.generate, LM, params, batch, max_decode_len=8, sampler="sample",
                          temperature=1e4)   # close to uniform over 64 tokens
  a, b, c = run(rng=jax.random.key(1)), run(rng=jax.random.key(1)), run(rng=jax.random.key(2))
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, c.tokens)
  greedy = decode.generate(LM, params, batch, max_decode_len=8)
  for kw in ({"top_k": 1}, {"top_p": 1e-6}):
    only_best = run(rng=jax.random.key(3), **kw)
    np.testing.assert_array_equal(only_best.tokens, greedy.tokens)


def test_samplers_are_registered():
  assert registry.lookup("sampler.greedy") is decode.greedy
  assert registry.lookup("sampler.sample") is decode.sample


def test_beam_size_one_equals_greedy(params):
  batch = _batch(PROMPTS)
  greedy = decode.generate(LM, params, batch, max_decode_len=8, eos_id=2)
  beam = decode.generate(LM, params, batch, max_decode_len=8, eos_id=2, sampler="beam",
                         beam_size=1)
  np.testing.assert_array_equal(beam.tokens, greedy.tokens)
  np.testing.assert_array_equal(beam.lengths, greedy.lengths)


def _brute_force(model, params, prompt, vocab, length, eos, alpha):
  """Best (tokens, score) over every continuation of `length` tokens (cut after EOS), scored as
  sum of log-probs / (generated length incl. EOS) ** alpha."""
  seqs = np.array(list(itertools.product(range(vocab), repeat=length)))
  logp = jax.nn.log_softmax(_full_logits(model, params, _batch([prompt + list(s) for s in seqs])))
  steps = np.asarray(logp)[:, len(prompt) - 1:len(prompt) - 1 + length]
  token_logp = np.take_along_axis(steps, seqs[:, :, None], axis=2)[:, :, 0]
  best = (None, -np.inf)
  for seq, lp in zip(seqs, token_logp):
    n = next((i + 1 for i, t in enumerate(seq) if t == eos), length)
    score = lp[:n].sum() / n**alpha
    if score > best[1]:
      best = (np.concatenate([seq[:n], np.zeros(length - n, int)]), score)
  return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_equals_brute_force_and_beats_greedy(alpha):
  cfg = gemma.GemmaConfig.tiny(2, vocab_size=8)
  model, params = decode.GemmaLM(cfg), _random_params(cfg, seed=5)
  prompts = [[3, 4, 5, 6, 7], [6, 5]]
  # 64 beams keep every 2-token prefix, so the 3-token search is exhaustive.
  beam = decode.generate(model, params, _batch(prompts), max_decode_len=3, sampler="beam",
                         beam_size=64, length_penalty=alpha, eos_id=1)
  greedy = decode.generate(model, params, _batch(prompts), max_decode_len=3, eos_id=1)
  differs = False
  for row, prompt in enumerate(prompts):
    tokens, score = _brute_force(model, params, prompt, 8, 3, eos=1, alpha=alpha)
    np.testing.assert_array_equal(beam.tokens[row], tokens)
    np.testing.assert_allclose(beam.scores[row], score, rtol=1e-5)
    differs |= not np.array_equal(greedy.tokens[row], tokens)
  assert differs, "greedy already finds the best sequence here: choose another seed"


def test_batch_sharded_over_data_gives_same_tokens(params):
  rows = [PROMPTS[i % 3][: 2 + i % 5] for i in range(8)]
  batch = _batch(rows)
  single = decode.generate(LM, params, batch, max_decode_len=6)
  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  data = NamedSharding(mesh, PartitionSpec("data"))
  sharded_batch = jax.device_put(batch, data)
  replicated = jax.device_put(params, NamedSharding(mesh, PartitionSpec()))
  sharded = decode.generate(LM, replicated, sharded_batch, max_decode_len=6)
  assert sharded.tokens.sharding.spec[0] == "data" or len(sharded.tokens.sharding.device_set) == 8
  np.testing.assert_array_equal(sharded.tokens, single.tokens)



def test_layer_weights_made_once_give_the_same_tokens(params):
  """layer_weights: on XLA:CPU [out, in] copies for a loop of 2+ rows, plain slices for 1 row;
  generate(layer_weights=...) reuses them and decodes exactly what it decodes making its own."""
  batch = _batch(PROMPTS)
  rows = len(PROMPTS)
  many = decode.layer_weights(LM, params, rows)
  assert all(isinstance(layer, decode_cpu.OutInLayer) for layer in many.layers)
  assert len(many.layers) == CFG.num_layers
  one = decode.layer_weights(LM, params, 1)
  assert not one.out_in and len(one.layers) == CFG.num_layers
  want = decode.generate(LM, params, batch, max_decode_len=5)
  for weights in (many, one):
    got = decode.generate(LM, params, batch, max_decode_len=5, layer_weights=weights)
    np.testing.assert_array_equal(got.tokens, want.tokens)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-5)
