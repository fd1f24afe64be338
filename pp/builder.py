"""The pp spec-string parser and `get_preprocess_fn`.

A spec is a `|`-separated chain of op calls, e.g.
`decode|resize(448, antialias=True)|value_range(-1, 1)|strfmt("answer en {question}", outkey="prefix")`.
Each op is a factory registered as `pp.<name>` that returns a function from an example dict of
tensors to a new one. Arguments are Python literals (numbers, strings, bools, None, tuples, lists,
dicts), positional or keyword; quoted strings may contain `|`, `(` and escaped quotes.
"""
import ast
import dataclasses
import difflib
import importlib
import inspect
from typing import Any, Callable

from big_paligemma import registry
from big_paligemma.tokenizer import Tokenizer

# The modules of the ops (TensorFlow), imported by `register_ops` when a spec is built, not when
# `pp` is imported: building and parsing spec strings (the configs, tools.plan) needs no
# TensorFlow.
OP_MODULES = ("pp.boxes", "pp.ops_choices", "pp.ops_gemma3", "pp.ops_general", "pp.ops_image",
              "pp.ops_seg", "pp.ops_text")


def register_ops() -> None:
  """Registers every op as `pp.<name>` (imports OP_MODULES; once)."""
  for name in OP_MODULES:
    importlib.import_module(name)


class SpecError(ValueError):
  """A pp spec that cannot be parsed or built; the message points at the op."""


@dataclasses.dataclass(frozen=True)
class OpCall:
  """One parsed op: `name(*args, **kwargs)` found at `spec[start:end]`."""
  name: str
  args: tuple[Any, ...]
  kwargs: dict[str, Any]
  start: int
  end: int


def _pointer(spec: str, start: int, end: int) -> str:
  return f"  {spec}\n  {' ' * start}{'^' * max(1, end - start)}"


def _split_ops(spec: str) -> list[tuple[int, int]]:
  """(start, end) of each top-level `|`-separated op, skipping quoted text and brackets."""
  spans, start, depth, quote, i = [], 0, 0, None, 0
  while i < len(spec):
    c = spec[i]
    if quote:
      if c == "\\":
        i += 1
      elif c == quote:
        quote = None
    elif c in "'\"":
      quote = c
    elif c in "([{":
      depth += 1
    elif c in ")]}":
      depth -= 1
      if depth < 0:
        raise SpecError(f"Unbalanced {c!r} in pp spec:\n{_pointer(spec, i, i + 1)}")
    elif c == "|" and depth == 0:
      spans.append((start, i))
      start = i + 1
    i += 1
  if quote or depth:
    what = f"unterminated string {quote}" if quote else "unclosed bracket"
    raise SpecError(f"Pp spec has an {what}:\n{_pointer(spec, start, len(spec))}")
  spans.append((start, len(spec)))
  return spans


def _literal(node: ast.AST) -> Any:
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise ValueError(f"argument `{ast.unparse(node)}` is not a literal (quote strings)") from None


def _parse_op(spec: str, start: int, end: int) -> OpCall:
  """Parses `name` or `name(literal args...)` at spec[start:end] (surrounding blanks allowed)."""
  text = spec[start:end]
  lead = len(text) - len(text.lstrip())
  text = text.strip()
  start, end = start + lead, start + lead + len(text)
  if not text:
    raise SpecError(f"Empty op in pp spec (a stray '|'?):\n{_pointer(spec, start, start + 1)}")
  try:
    node = ast.parse(text if "(" in text else text + "()", mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
      raise ValueError("expected `name` or `name(args)`")
    args = tuple(_literal(a) for a in node.args)
    kwargs = {k.arg: _literal(k.value) for k in node.keywords}
    if None in kwargs:
      raise ValueError("`**kwargs` is not allowed")
  except (SyntaxError, ValueError) as e:
    raise SpecError(f"Cannot parse pp op {text!r} ({e}); arguments must be Python literals:\n"
                    f"{_pointer(spec, start, end)}") from None
  return OpCall(node.func.id, args, kwargs, start, end)


def parse_spec(spec: str) -> list[OpCall]:
  """The op calls of a pp spec, in order."""
  if not spec.strip():
    raise SpecError("Empty pp spec; give at least one op, e.g. 'decode|resize(224)'.")
  return [_parse_op(spec, s, e) for s, e in _split_ops(spec)]


def _describe(name: str) -> str:
  return f"{name}{inspect.signature(registry.lookup('pp.' + name))}"


def _lookup(spec: str, op: OpCall) -> Callable[..., Any]:
  known = registry.names("pp")
  if op.name not in known:
    close = difflib.get_close_matches(op.name, known, n=5, cutoff=0.5)
    hint = "Did you mean: " + ", ".join(_describe(n) for n in close) + "?\n" if close else ""
    raise SpecError(f"Unknown pp op {op.name!r}:\n{_pointer(spec, op.start, op.end)}\n{hint}"
                    f"Known ops: {', '.join(known)}.")
  return registry.lookup("pp." + op.name)


def _with_tokenizer(factory, op: OpCall, tokenizer_path, cache: dict[str, Tokenizer]) -> dict[str, Any]:
  """Keyword args of `op`, with `tokenizer` (a path in the spec or `tokenizer_path`) loaded once."""
  kwargs = dict(op.kwargs)
  if "tokenizer" not in inspect.signature(factory).parameters:
    return kwargs
  path = kwargs.get("tokenizer", tokenizer_path)
  if path is None:
    return kwargs
  if not isinstance(path, str):
    raise SpecError(f"pp op {op.name}: tokenizer must be a path string, got {path!r}.")
  if path not in cache:
    cache[path] = Tokenizer.load(path)
  kwargs["tokenizer"] = cache[path]
  return kwargs


def _build_op(spec: str, op: OpCall, tokenizer_path, cache) -> Callable[[dict], dict]:
  factory = _lookup(spec, op)
  kwargs = _with_tokenizer(factory, op, tokenizer_path, cache)
  try:
    inspect.signature(factory).bind(*op.args, **kwargs)
    return factory(*op.args, **kwargs)
  except (TypeError, ValueError, KeyError) as e:
    raise SpecError(f"Bad arguments for pp op {op.name!r}: {e}\n{_pointer(spec, op.start, op.end)}\n"
                    f"Signature: {_describe(op.name)}") from e


def get_preprocess_fn(spec: str, *, tokenizer_path: str | None = None,
                      log: Callable[[str], None] | None = None) -> Callable[[dict], dict]:
  """Builds the function `example dict -> example dict` that runs the ops of `spec` in order.

  Ops that take a `tokenizer` get the `Tokenizer` loaded from the op's own `tokenizer="path"`
  argument or else from `tokenizer_path`; each path is loaded once per call of this function.
  """
  register_ops()
  from pp import ops_general  # pylint: disable=import-outside-toplevel  (TensorFlow)
  cache: dict[str, Tokenizer] = {}
  ops = parse_spec(spec)
  fns = [_build_op(spec, op, tokenizer_path, cache) for op in ops]
  if log is not None:
    log(f"pp: {' | '.join(spec[op.start:op.end] for op in ops)}")

  def preprocess(example: dict) -> dict:
    example = dict(example)
    for op, fn in zip(ops, fns):
      try:
        example = fn(example)
      except ops_general.MissingFieldError as e:
        raise ops_general.MissingFieldError(f"pp op {op.name!r} (at {spec[op.start:op.end]!r}): {e}") from e
    return example

  return preprocess



def _image_pp(res: int, antialias: bool, image_keys: tuple[str, ...] = ()) -> str:
  """"image" [res, res, 3] in [-1, 1]; with `image_keys`, "images" [M, res, res, 3] of those
  fields in order."""
  if not image_keys:
    return f"decode|resize({res}, antialias={antialias})|value_range(-1, 1)"
  each = "|".join(f"decode(key={k!r})|resize({res}, key={k!r}, antialias={antialias})"
                  for k in image_keys)
  return f"{each}|stack_images({list(image_keys)!r})|value_range(-1, 1, key=\"images\")"


def _model_keys(image_keys: tuple[str, ...], *text_keys: str) -> tuple[str, ...]:
  return ("images" if image_keys else "image",) + text_keys


def _tolen_pp(text_len: int, pads: dict[str, int]) -> str:
  return "|".join(f'tolen({text_len}, pad_value={v}, key="{k}")' for k, v in pads.items())


PICKS = ("choice", "choice_no_replacement")  # the ops that pick one target of a list


def paligemma_train_pp(res: int, text_len: int, prefix_template: str, suffix_key: str,
                       antialias: bool = True, suffix_is_list: bool = False,
                       image_keys: tuple[str, ...] = (), before: tuple[str, ...] = (),
                       pick: str = "choice") -> str:
  """The training pp spec of a PaliGemma transfer (the big_vision layout).

  Output: image [res, res, 3] float32 in [-1, 1]; text int32 [text_len + 1] = bos + prefix +
  "\\n" + suffix + eos, padded with 0 (cut at text_len + 1, `_truncated` = 1 then): as
  big_vision's, one token more than the model reads, since the step feeds it text[:, :-1]
  (`build.teacher_forcing`), so a sequence of text_len tokens keeps its eos; mask_ar (0
  prefix+sep, 1 suffix+eos, 1 padding); mask_loss (1 on suffix+eos); mask_input (1 on real
  tokens), each as long as text. `prefix_template` is a strfmt
  template, e.g. "answer en {question}"; `suffix_key` names the target string field, or with
  `suffix_is_list` a 1-D field of targets of which one is picked per example and epoch by the op
  `pick` (PICKS: "choice" draws anew each epoch; "choice_no_replacement", big_vision's for most
  transfers, uses each target once before repeating one). `before`:
  ops run after the image ops, before the prompt (e.g. 'lower(key="answers")'). `image_keys`:
  several images per example (e.g. NLVR2's ("image_left", "image_right")), each decoded and
  resized, output as images [M, res, res, 3] instead of image.
  """
  if pick not in PICKS:
    raise ValueError(f"pick={pick!r}; allowed: {PICKS}.")
  pick = pick if suffix_is_list else "copy"
  keep = ", ".join(repr(k) for k in _model_keys(image_keys, "text", "mask_ar", "mask_loss",
                                                "mask_input"))
  return "|".join([
      _image_pp(res, antialias, tuple(image_keys)),
      *before,
      f"strfmt({prefix_template!r}, outkey=\"prefix\")",
      f"{pick}(inkey={suffix_key!r}, outkey=\"suffix\")",
      'tok(key="prefix", bos="yes")|tok(key="suffix", eos="yes")|tok(key="septok", text="\\n")',
      'masked_concat(["prefix", "septok", "suffix"], mask_ar=[0, 0, 1], mask_loss=[0, 0, 1])',
      # One token more than the model reads (build.teacher_forcing), as big_vision.
      _tolen_pp(text_len + 1, {"text": 0, "mask_ar": 1, "mask_loss": 0, "mask_input": 0}),
      f"keep({keep})",
  ])


def paligemma_eval_pp(res: int, text_len: int, prefix_template: str,
                      keep_keys: tuple[str, ...] = (), antialias: bool = True,
                      before: tuple[str, ...] = (), image_keys: tuple[str, ...] = ()) -> str:
  """The prompt-only pp spec for decoding: text = bos + prefix + "\\n" padded with 0 to text_len.

  mask_ar is 0 on the prompt (1 on padding), mask_input 1 on real tokens; `keep_keys` are kept too
  (e.g. the ground-truth answers and ids an evaluator needs). `antialias`, `before` and
  `image_keys` as in `paligemma_train_pp`.
  """
  keep = ", ".join(repr(k) for k in _model_keys(tuple(image_keys), "text", "mask_ar",
                                                "mask_input") + tuple(keep_keys))
  return "|".join([
      _image_pp(res, antialias, tuple(image_keys)),
      *before,
      f"strfmt({prefix_template!r}, outkey=\"prefix\")",
      'tok(key="prefix", bos="yes")|tok(key="septok", text="\\n")',
      'masked_concat(["prefix", "septok"], mask_ar=[0, 0], mask_loss=[0, 0])',
      _tolen_pp(text_len, {"text": 0, "mask_ar": 1, "mask_input": 0}),
      f"keep({keep})",
  ])
