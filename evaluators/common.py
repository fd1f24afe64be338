"""The Evaluator base, `make_evaluators`, and the shared batch loop (decode, gather, order).

An evaluator is one entry of `config.evals` ({"type", "data", "pp", "batch_size", "every", ...});
its `type` picks the class registered as `evaluator.<type>` (vqa, anls, vqav2, chartqa,
coco_caption, perplexity, storepreds, refcoco_seg, refcoco_det, tallyqa, rsvqa, science_qa,
aokvqa_mc, pope, nlvr2). `run(params)` reads the eval split (each example exactly
once, split over hosts), runs the model on every batch, gathers the outputs of all hosts and scores
the whole set at once; it returns {"<name>/<metric>": value}.

Gathering. Host fields (strings, ids, answers; everything but the model inputs) never go to the
device. Each real example gets a global index `_index` (padding: -1) that travels with its batch as
a device array, so the model outputs gathered with `process_allgather` can be matched back to the
examples' host fields, which are gathered as JSON. Predictions are detokenized after gathering.
"""
import json
from typing import Any, Callable

import jax
from jax.experimental import multihost_utils
import numpy as np
import tqdm

from big_paligemma import decode
from big_paligemma import registry
from big_paligemma import sharding as sharding_lib
from big_paligemma.models import build
from big_paligemma.tokenizer import Tokenizer
import pp

COMMON_KEYS = ("type", "data", "pp", "batch_size", "every", "skip_bad_examples")
SAMPLER_KEYS = ("name", "temperature", "top_k", "top_p", "beam_size", "length_penalty", "seed")
REQUIRED = object()  # A DEFAULTS value: the key must be given.


def _plain(cfg) -> dict:
  return cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)


def check_config(name: str, cfg: dict, defaults: dict) -> dict:
  """`cfg` with the type's defaults filled in; unknown or missing keys raise naming them."""
  allowed = COMMON_KEYS + tuple(defaults)
  unknown = sorted(set(cfg) - set(allowed))
  if unknown:
    raise ValueError(f"evals.{name}: unknown keys {unknown} for type {cfg.get('type')!r}; "
                     f"allowed: {sorted(allowed)}.")
  out = {"every": None, "skip_bad_examples": False, **defaults, **cfg}
  missing = [k for k in ("data", "pp", "batch_size") + tuple(defaults) if out.get(k) is REQUIRED
             or k not in out]
  if missing:
    raise ValueError(f"evals.{name} (type {cfg.get('type')!r}) needs the keys {missing}.")
  return out


def to_python(value: Any) -> Any:
  """A numpy batch value of one example -> JSON-able Python (bytes -> str, arrays -> lists)."""
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray):
    return [to_python(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


def gather_records(records: list[dict]) -> list[dict]:
  """The records of every host (JSON through a padded uint8 array), the same list on all hosts."""
  if jax.process_count() == 1:
    return records
  data = np.frombuffer(json.dumps(records).encode("utf-8"), np.uint8)
  sizes = multihost_utils.process_allgather(np.array([data.size], np.int64)).reshape(-1)
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  everything = multihost_utils.process_allgather(padded).reshape(len(sizes), -1)
  return [r for row, size in zip(everything, sizes) for r in json.loads(row[:size].tobytes())]


def _split(batch: dict) -> tuple[dict, dict]:
  device = build.device_inputs(batch)
  host = {k: v for k, v in batch.items() if k not in device}
  return device, host


def _numeric_or_python(value: Any) -> Any:
  """A numeric array stays numpy (a batch's masks, not yet reduced); the rest as `to_python`."""
  if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
    return value
  return to_python(value)


def _host_records(host: dict, index: np.ndarray, convert=to_python) -> list[dict]:
  fields = [k for k in host if k != "_mask"]
  return [{"_index": int(j), **{k: convert(host[k][r]) for k in fields}}
          for r, j in enumerate(index) if j >= 0]


def run_batches(iterator, fn: Callable[[dict, int], dict], *, sharding, desc: str,
                per_batch: Callable[[list[dict]], list[dict]] | None = None) -> list[dict]:
  """Runs `fn(device_batch, batch_number) -> {name: global array [B,...]}` on every batch.

  Returns one record per real example of all hosts, ordered by (host, position): its host fields
  plus `fn`'s outputs for its row (numpy). A tqdm bar (on host 0) counts the batches.

  per_batch: when given, each batch's records of this host (their outputs attached; numeric host
  fields as numpy arrays) go through `per_batch(records) -> records` right after the batch, and
  only what it returns is kept and gathered (as JSON: give back JSON-able values; `_index` must
  stay). An evaluator with large host fields (ground-truth masks) thus holds one batch of them at a
  time instead of the whole split's.
  """
  records, outputs = [], []
  from big_paligemma.data import input_pipeline  # pylint: disable=import-outside-toplevel (TF)
  bar = tqdm.tqdm(iterator, total=iterator.num_batches, desc=desc, unit="batch",
                  disable=jax.process_index() != 0)
  for i, batch in enumerate(bar):
    device, host = _split(batch)
    n = len(host["_mask"])
    first = (jax.process_index() * iterator.num_batches + i) * n
    index = np.where(host["_mask"] > 0, first + np.arange(n), -1).astype(np.int32)
    arrays = input_pipeline.make_global_arrays({**device, "_index": index}, sharding)
    index_array = arrays.pop("_index")
    out = fn(arrays, i)
    out = multihost_utils.process_allgather({**out, "_index": index_array}, tiled=True)
    if per_batch is None:
      outputs.append(out)
      records += _host_records(host, index)
    else:
      local = _attach(_host_records(host, index, _numeric_or_python), [out], local=True)
      records += [{k: to_python(v) for k, v in r.items()} for r in per_batch(local)]
      outputs.append(None)  # a batch seen; its outputs are in `records` already
  if not outputs:
    raise ValueError("The eval iterator gave no batches.")
  if per_batch is None:
    return _attach(gather_records(records), outputs)
  return sorted(gather_records(records), key=lambda r: r["_index"])


def _attach(records: list[dict], outputs: list[dict], local: bool = False) -> list[dict]:
  """`records` with their rows of the gathered `outputs`; `local`: the records are one host's
  share of these outputs (else every host's)."""
  merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
  rows = {int(j): r for r, j in enumerate(merged.pop("_index")) if j >= 0}
  if (not local and len(rows) != len(records)) or any(r["_index"] not in rows for r in records):
    raise RuntimeError(f"Gathered {len(records)} examples but {len(rows)} model outputs; the "
                       "hosts disagree on the eval batches.")
  for rec in records:
    rec.update({k: v[rows[rec["_index"]]] for k, v in merged.items()})
  return sorted(records, key=lambda r: r["_index"])


class Evaluator:
  """Base class. Subclasses set DEFAULTS (their own config keys, REQUIRED for mandatory ones) and
  implement `evaluate(params) -> {metric: value}`."""

  DEFAULTS: dict = {}

  def __init__(self, name: str, cfg, *, model, tokenizer_path: str, mesh,
               data_sharding=None):
    self.name = name
    self.cfg = check_config(name, _plain(cfg), self.DEFAULTS)
    self.every = self.cfg["every"]
    self.model = model
    # The train mesh, or one over the same devices that this eval's batch splits over (an eval
    # batch smaller than the slice: the rest of its factor on the tensor axis); `run` then moves
    # the params onto it.
    self.mesh = sharding_lib.mesh_for_batch(mesh, self.cfg["batch_size"],
                                            f"evals.{name}.batch_size")
    self.sharding = data_sharding or sharding_lib.batch_sharding(self.mesh)
    self.tokenizer = Tokenizer.load(tokenizer_path)
    self.pp_fn = pp.get_preprocess_fn(self.cfg["pp"], tokenizer_path=tokenizer_path)

  def iterator(self):
    from big_paligemma.data import input_pipeline  # pylint: disable=import-outside-toplevel
    return input_pipeline.make_eval_iterator(
        self.cfg["data"], self.pp_fn, global_batch_size=self.cfg["batch_size"],
        skip_bad_examples=self.cfg["skip_bad_examples"])

  def run(self, params) -> dict[str, float]:
    """Evaluates `params` on the whole split; {"<name>/<metric>": value}."""
    params = sharding_lib.onto_mesh(params, self.mesh)
    return {f"{self.name}/{k}": float(v) for k, v in self.evaluate(params).items()}

  def evaluate(self, params) -> dict[str, float]:
    raise NotImplementedError

  def require_fields(self, records: list[dict], *fields: str) -> None:
    """Raises when the pp did not keep a host field the metric needs."""
    missing = [f for f in fields if records and f not in records[0]]
    if missing:
      raise KeyError(f"evals.{self.name}: the eval batches lack {missing} (have "
                     f"{sorted(records[0])}); keep them in the pp, e.g. keep(..., {missing[0]!r}).")


def sampler_kwargs(sampler) -> tuple[dict, int]:
  """(`decode.generate` keywords, seed) of an eval's `sampler`: a name or {"name", ...options}."""
  sampler = {"name": sampler} if isinstance(sampler, str) else _plain(sampler)
  unknown = sorted(set(sampler) - set(SAMPLER_KEYS))
  if unknown:
    raise ValueError(f"sampler keys {unknown} are unknown; allowed: {SAMPLER_KEYS}.")
  kwargs = {k: v for k, v in sampler.items() if k not in ("name", "seed")}
  return {"sampler": sampler.get("name", "greedy"), **kwargs}, int(sampler.get("seed", 0))


class DecodingEvaluator(Evaluator):
  """Decodes every example (prompt = image + prefix) with `decode.generate`; subclasses score the
  records, each with "prediction" (text up to EOS, whitespace-trimmed) and "tokens" (ids up to EOS)."""

  DEFAULTS = {"max_decode_len": REQUIRED, "sampler": "greedy"}

  def __init__(self, name: str, cfg, **kwargs):
    super().__init__(name, cfg, **kwargs)
    try:  # Checked now, so a bad entry fails when the config is used, not at the first eval.
      self.sampler, self.seed = sampler_kwargs(self.cfg["sampler"])
      decode.Settings(max_decode_len=self.cfg["max_decode_len"],
                      **{k: v for k, v in self.sampler.items()})
    except ValueError as e:
      raise ValueError(f"evals.{name}: {e}") from e

  def predict(self, params, per_batch: Callable[[list[dict]], list[dict]] | None = None
              ) -> list[dict]:
    """The records of the split (see the class docstring); with `per_batch`, what it makes of
    each batch's records (`run_batches`), e.g. per-example scores instead of large fields."""
    kwargs, seed = self.sampler, self.seed
    tok = self.tokenizer
    # The decoder's per-layer weights, made once for every batch of this evaluation.
    rows = self.cfg["batch_size"] * kwargs.get("beam_size", 1)
    weights = decode.layer_weights(self.model, params, rows)

    def fn(batch, i):
      out = decode.generate(self.model, params, batch, max_decode_len=self.cfg["max_decode_len"],
                            rng=jax.random.fold_in(jax.random.key(seed), i), eos_id=tok.eos_id,
                            pad_id=tok.pad_id, layer_weights=weights, mesh=self.mesh,
                            **kwargs)
      return {"tokens": out.tokens}

    def detokenize(records):
      for rec in records:
        ids = [int(t) for t in rec["tokens"]]
        rec["tokens"] = ids[:ids.index(tok.eos_id)] if tok.eos_id in ids else ids
        # Surrounding whitespace trimmed, as in a submitted answer: the official DocVQA script
        # divides by the raw lengths, so 32 decoded newlines would otherwise score ANLS ~0.8
        # against "circle".
        rec["prediction"] = tok.to_str(rec["tokens"]).strip()
      return records

    if per_batch is not None:
      return run_batches(self.iterator(), fn, sharding=self.sharding, desc=self.name,
                         per_batch=lambda records: per_batch(detokenize(records)))
    return detokenize(run_batches(self.iterator(), fn, sharding=self.sharding, desc=self.name))

  def evaluate(self, params) -> dict[str, float]:
    return self.score(self.predict(params))

  def score(self, records: list[dict]) -> dict[str, float]:
    raise NotImplementedError


def make_evaluator(name: str, cfg, **kwargs) -> Evaluator:
  """One evaluator from its config entry; an unknown type raises listing the known ones (the
  types register themselves when the `evaluators` package is imported)."""
  cfg = _plain(cfg)
  if "type" not in cfg:
    raise ValueError(f"evals.{name} has no 'type'; known: {registry.names('evaluator')}.")
  return registry.lookup(f"evaluator.{cfg['type']}")(name, cfg, **kwargs)


def make_evaluators(config, *, model, mesh, data_sharding=None) -> list[Evaluator]:
  """The evaluators of `config.evals` (in config order), sharing the model and mesh."""
  evals = _plain(config.get("evals") or {})
  return [make_evaluator(name, cfg, model=model, tokenizer_path=config.tokenizer, mesh=mesh,
                         data_sharding=data_sharding) for name, cfg in evals.items()]
