"""General pp ops: copy, setdefault, choice, choice_no_replacement, getidx, keep, drop, flatten."""
import tensorflow as tf

from big_paligemma.registry import register


class MissingFieldError(KeyError):
  """An op asked for a field that the example does not have."""

  def __str__(self):
    return str(self.args[0])


def _missing(key: str, example: dict) -> KeyError:
  return MissingFieldError(f"field {key!r} is missing; the example has {sorted(example)}.")


def get(example: dict, key: str):
  """`example[key]`, or a KeyError naming the key and the example's keys."""
  if key not in example:
    raise _missing(key, example)
  return example[key]


@register("pp.copy")
def copy(inkey: str, outkey: str):
  """Copies field `inkey` to `outkey`."""
  def _copy(example):
    return {**example, outkey: get(example, inkey)}
  return _copy


@register("pp.setdefault")
def setdefault(key: str, value):
  """Sets `key` to the constant `value` when the example has no `key`."""
  def _setdefault(example):
    return example if key in example else {**example, key: tf.constant(value)}
  return _setdefault


def as_text(x: tf.Tensor) -> tf.Tensor:
  return x if x.dtype == tf.string else tf.strings.as_string(x)


def _key_epoch(example: dict, inkey: str) -> tuple[tf.Tensor, tf.Tensor]:
  """int64 (key, epoch) of an example: its `_seed` field [key, epoch] (the input pipeline's: key a
  hash of (run seed, source, example index), epoch the epoch of the read); without one a hash of
  its `_id` field (or else of its `inkey` values) and epoch 0."""
  if "_seed" in example:
    seed = tf.ensure_shape(tf.cast(example["_seed"], tf.int64), [2])
    return seed[0], seed[1]
  ident = tf.strings.reduce_join(as_text(example["_id"] if "_id" in example else example[inkey]),
                                 separator="\x1f")
  return tf.strings.to_hash_bucket_fast(ident, 2**62), tf.constant(0, tf.int64)


def _example_seed(example: dict, inkey: str, seed: int) -> tf.Tensor:
  """A [2] stateless seed of (`seed`, the example, its epoch): another one every epoch."""
  key, epoch = _key_epoch(example, inkey)
  return tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed, tf.int64), key]),
                                                  epoch)


@register("pp.choice")
def choice(inkey, outkey: str | None = None, seed: int = 0):
  """Picks one element of the 1-D field `inkey` into `outkey` (default: in place).

  The pick is a stateless function of (`seed`, the example, its epoch) (see `_key_epoch`): the
  same example in the same epoch always gets the same element, another epoch a new draw (with
  replacement: see choice_no_replacement). `inkey` may be a list of fields of equal length (each
  picked in place at the same index, as big_vision's choice over several keys: e.g. an object's
  mask, box and expressions).
  """
  keys = [inkey] if isinstance(inkey, str) else list(inkey)
  if len(keys) > 1 and outkey is not None:
    raise ValueError(f"choice over several fields {keys} picks in place; drop outkey={outkey!r}.")

  def _choice(example):
    values = [get(example, k) for k in keys]
    n = tf.shape(values[0])[0]
    tf.debugging.assert_positive(n, message=f"pp.choice: field {keys[0]!r} is empty")
    checks = [tf.debugging.assert_equal(tf.shape(v)[0], n, message=(
        f"pp.choice: fields {keys} differ in length")) for v in values[1:]]
    with tf.control_dependencies(checks):
      i = tf.random.stateless_uniform([], _example_seed(example, keys[0], seed), 0, n,
                                      dtype=tf.int32)
    out = {outkey or k: tf.gather(v, i) for k, v in zip(keys, values)}
    return {**example, **out}
  return _choice


def _keys(keys: str | list | tuple) -> list[str]:
  return [keys] if isinstance(keys, str) else list(keys)


@register("pp.choice_no_replacement")
def choice_no_replacement(inkey: str | list, outkey: str | list | None = None, seed: int = 0):
  """Picks one element of the 1-D field `inkey` into `outkey` (default: in place), cycling
  through the elements over the epochs as big_vision's choice_no_replacement: an example with n
  elements gets each of them once in epochs 0..n-1, again once in n..2n-1 in another order, ...

  Epoch e of an example with `_seed` [key, e] (see `_key_epoch`) takes element
  stateless_shuffle(range(n), fold_in([seed, key], e // n))[e % n]: big_vision's formula with the
  epoch for its count of the times the example was seen, so it survives resumes and is the same
  on any number of hosts. `inkey` may be a list of fields of one length (the same element of
  each is picked), `outkey` then a list of as many.
  """
  inkeys = _keys(inkey)
  outkeys = inkeys if outkey is None else _keys(outkey)
  if len(outkeys) != len(inkeys):
    raise ValueError(f"pp.choice_no_replacement: {len(inkeys)} inkeys {inkeys} but "
                     f"{len(outkeys)} outkeys {outkeys}.")

  def _choice(example):
    values = [get(example, k) for k in inkeys]
    n = tf.shape(values[0])[0]
    checks = [tf.debugging.assert_positive(n, message=f"pp.choice_no_replacement: field "
                                           f"{inkeys[0]!r} is empty")]
    checks += [tf.debugging.assert_equal(tf.shape(v)[0], n, message=f"pp.choice_no_replacement: "
                                         f"fields {inkeys} differ in length") for v in values[1:]]
    with tf.control_dependencies(checks):
      key, epoch = _key_epoch(example, inkeys[0])
      count = tf.cast(n, tf.int64)
      block_seed = tf.random.experimental.stateless_fold_in(
          tf.stack([tf.constant(seed, tf.int64), key]), epoch // count)
      i = tf.random.experimental.stateless_shuffle(tf.range(n), block_seed)[epoch % count]
    return {**example, **{o: tf.gather(v, i) for o, v in zip(outkeys, values)}}
  return _choice


@register("pp.getidx")
def getidx(inkey: str, index_key: str, outkey: str | None = None):
  """`outkey` (default `inkey`) = element `example[index_key]` of the 1-D field `inkey`, e.g. the
  correct one of a list of choices; an index outside the list is an error naming both fields."""
  def _getidx(example):
    values, index = get(example, inkey), tf.cast(get(example, index_key), tf.int32)
    n = tf.shape(values)[0]
    check = tf.debugging.assert_equal(
        tf.logical_and(index >= 0, index < n), True,
        message=f"pp.getidx: field {index_key!r} is not an index of field {inkey!r}")
    with tf.control_dependencies([check]):
      return {**example, outkey or inkey: tf.gather(values, index)}
  return _getidx


@register("pp.keep")
def keep(*keys: str):
  """Keeps only `keys` (and `_truncated`, which the input pipeline counts and removes)."""
  def _keep(example):
    for k in keys:
      get(example, k)
    return {k: v for k, v in example.items() if k in keys or k == "_truncated"}
  return _keep


@register("pp.drop")
def drop(*keys: str):
  """Removes `keys`; a missing key is an error."""
  def _drop(example):
    for k in keys:
      get(example, k)
    return {k: v for k, v in example.items() if k not in keys}
  return _drop


def _flatten(d: dict, prefix: str, sep: str, out: dict) -> dict:
  for k, v in d.items():
    if isinstance(v, dict):
      _flatten(v, f"{prefix}{k}{sep}", sep, out)
    else:
      out[f"{prefix}{k}"] = v
  return out


@register("pp.flatten")
def flatten(sep: str = "/"):
  """Nested dicts become flat keys: {"objects": {"bbox": b}} -> {"objects/bbox": b}."""
  def _flatten_op(example):
    return _flatten(example, "", sep, {})
  return _flatten_op
