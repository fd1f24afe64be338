"""SigLIP and Gemma configs take the same dtype names and remat policy names (issue 11 point 3)."""
import jax
import jax.numpy as jnp
import pytest

from big_paligemma.models import choices, gemma, siglip


def _siglip(**kw):
  return siglip.SigLIPConfig(width=8, depth=1, mlp_dim=16, num_heads=2, patch_size=4,
                             image_size=8, **kw)


_BUILDERS = {"SigLIPConfig": _siglip, "GemmaConfig": lambda **kw: gemma.GemmaConfig.tiny(**kw)}


@pytest.mark.parametrize("owner", sorted(_BUILDERS))
def test_both_towers_accept_the_same_names(owner):
  build = _BUILDERS[owner]
  for name in choices.remat_policy_names():
    assert build(remat_policy=name).remat_policy == name
  for name in choices.DTYPES:
    cfg = build(dtype=name, param_dtype=name)
    assert (cfg.dtype, cfg.param_dtype) == (name, name)


@pytest.mark.parametrize("owner", sorted(_BUILDERS))
@pytest.mark.parametrize("old, new", [("full", "nothing_saveable"), ("dots", "dots_saveable")])
def test_old_gemma_remat_names_say_the_new_one(owner, old, new):
  with pytest.raises(ValueError, match=f"{owner}.remat_policy='{old}' is now written '{new}'"):
    _BUILDERS[owner](remat_policy=old)


@pytest.mark.parametrize("owner", sorted(_BUILDERS))
def test_dtype_objects_are_refused_with_their_name(owner):
  with pytest.raises(ValueError, match=f"{owner}.dtype=.*write the name 'bfloat16'"):
    _BUILDERS[owner](dtype=jnp.bfloat16)
  with pytest.raises(ValueError, match=f"{owner}.param_dtype='int8'; allowed"):
    _BUILDERS[owner](param_dtype="int8")


def test_policy_names_map_to_jax_policies():
  assert choices.remat_policy("none") is None
  assert choices.remat_policy("nothing_saveable") is jax.checkpoint_policies.nothing_saveable
