"""The pp spec parser and get_preprocess_fn: literals, quoting, errors that point at the op."""
import pytest
import tensorflow as tf

import pp
from pp.builder import SpecError, parse_spec


def test_parse_literals_and_keywords():
  ops = parse_spec('a(1, -2.5, "x", True, None, (1, 2), [3, "y"], k={"z": 1})|b|c(size=(4, 5))')
  assert [o.name for o in ops] == ["a", "b", "c"]
  assert ops[0].args == (1, -2.5, "x", True, None, (1, 2), [3, "y"])
  assert ops[0].kwargs == {"k": {"z": 1}}
  assert ops[1].args == () and ops[1].kwargs == {}
  assert ops[2].kwargs == {"size": (4, 5)}


def test_quoted_strings_may_hold_bars_brackets_and_escaped_quotes():
  ops = parse_spec(r'''strfmt("a | b ( \" c", outkey='p|q')|keep('x)')''')
  assert ops[0].args == ('a | b ( " c',) and ops[0].kwargs == {"outkey": "p|q"}
  assert ops[1].args == ("x)",)
  assert parse_spec(' decode | resize(3) ')[1].args == (3,)


def test_unknown_op_points_at_it_and_suggests():
  spec = "decode|resise(3)|value_range(-1, 1)"
  with pytest.raises(SpecError) as e:
    pp.get_preprocess_fn(spec)
  msg = str(e.value)
  assert "'resise'" in msg and "resize(size, key" in msg
  lines = msg.splitlines()
  spec_line = next(i for i, l in enumerate(lines) if l.strip() == spec)
  assert lines[spec_line + 1] == "  " + " " * 7 + "^" * len("resise(3)")


def test_bad_argument_lists_signature():
  with pytest.raises(SpecError, match=r"(?s)methd.*\^\^\^.*Signature: resize\(size"):
    pp.get_preprocess_fn('decode|resize(3, methd="x")')
  with pytest.raises(SpecError, match="size must be a positive int"):
    pp.get_preprocess_fn("resize((3, 4, 5))")


@pytest.mark.parametrize("spec, what", [
    ('strfmt("a", outkey=x)', "`x` is not a literal"),
    ('strfmt("abc)', "unterminated string"),
    ("resize(3", "unclosed bracket"),
    ("resize(3))", "Unbalanced"),
    ("decode||resize(3)", "Empty op"),
    ("", "Empty pp spec"),
])
def test_syntax_errors(spec, what):
  with pytest.raises(SpecError, match=what):
    parse_spec(spec)


def test_ops_run_in_order():
  fn = pp.get_preprocess_fn('copy("a", "b")|setdefault("c", 7)|drop("a")')
  out = fn({"a": tf.constant(3)})
  assert sorted(out) == ["b", "c"] and int(out["b"]) == 3 and int(out["c"]) == 7


def test_tokenizer_loaded_once_and_required(paligemma_tokenizer_path):
  path = paligemma_tokenizer_path
  fn = pp.get_preprocess_fn('tok(key="a")|tok(key="b", text="cat")', tokenizer_path=path)
  out = fn({"a": tf.constant("cat")})
  assert out["a"].numpy().tolist() == out["b"].numpy().tolist()
  with pytest.raises(SpecError, match="needs a tokenizer"):
    pp.get_preprocess_fn('tok(key="a")')
  out = pp.get_preprocess_fn(f'tok(key="a", tokenizer="{path}")')({"a": tf.constant("cat")})
  assert out["a"].shape[0] >= 1


def test_missing_field_names_op_and_keys():
  with pytest.raises(KeyError, match=r"pp op 'copy'.*'zz' is missing.*\['a'\]"):
    pp.get_preprocess_fn('copy("zz", "b")')({"a": tf.constant(1)})
