"""configs/common.py's per-row choice of the attention blocks: every query at once on the rows of
ALL_QUERIES_AT_ONCE only, and those rows measured (configs/slices.json) on the slice that the
blocks need, with 1 GiB of the chip left and their evals' decode on the same slice."""
from big_paligemma import config as config_lib
from big_paligemma.models import attention
from big_paligemma.models import build
from configs import common
import evaluators  # noqa: F401  (registers the eval types the configs are validated against)
from tools import plan_table

HBM_GIB = 15.75
# The slice each row needs with 512 queries at a time (BENCHMARKS.md, "Attention blocks per row").
BLOCKED_SLICE = {**{key: "v5e:4x4" for key in (
    f"{name}:{model}:896" for name in ("refcoco_det", "refcoco_seg", "infovqa", "stvqa")
    for model in ("pg1_3b", "pg2_3b"))}, "gemma3_docvqa:gemma3_27b:896": "v5e:8x16"}


def _blocks(row: plan_table.Row) -> tuple[int, int]:
  model = build.model_config(config_lib.load_config(row.config, []), "tpu")
  return model.img.attn_query_block, model.llm.attn_query_block


def test_every_query_at_once_on_the_chosen_rows_only():
  chosen = {f"{n}:{m}:{r}" for n, m, r in common.ALL_QUERIES_AT_ONCE}
  rows = plan_table.rows(resolutions=[896])
  assert chosen <= {r.key for r in rows} and chosen == set(BLOCKED_SLICE)
  for row in rows:
    expected = 0 if row.key in chosen else attention.QUERY_BLOCK
    assert _blocks(row) == (expected, expected), row.key
  # Other resolutions and the demo keep the default (no block at their lengths anyway).
  for arg in ("infovqa.py:res=448,model=pg2_3b", "refcoco_det.py:demo"):
    row_config = config_lib.load_config("configs/transfer/" + arg, [])
    model = build.model_config(row_config, "tpu")
    assert model.img.attn_query_block == model.llm.attn_query_block == attention.QUERY_BLOCK
  # An override on the command line still wins.
  config = config_lib.load_config("configs/transfer/refcoco_det.py:res=896,model=pg2_3b",
                                  [("model.overrides.img.attn_query_block", "512")])
  assert build.model_config(config, "tpu").img.attn_query_block == 512


def test_the_chosen_rows_fit_the_slice_the_blocks_need_with_room_left():
  results = plan_table.load_results()
  for key, blocked_slice in BLOCKED_SLICE.items():
    train, decode = results["rows"][key], results["decode"][key]
    assert train["slice"] == blocked_slice and train["gib"] <= HBM_GIB - 1.0, (key, train)
    assert decode["slice"] == blocked_slice, (key, decode)
