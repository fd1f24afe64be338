"""tools/bench_decode_device on a shrunken preset (CPU): overrides, figures, JSON, errors."""
import json

import jax
import pytest

from big_paligemma.models import build
from tools import bench_decode_device as bench

TINY = ["img.width=32", "img.depth=1", "img.mlp_dim=64", "img.num_heads=2", "img.image_size=56",
        "llm.width=64", "llm.num_layers=2", "llm.num_heads=2", "llm.num_kv_heads=1",
        "llm.head_dim=32", "llm.mlp_dim=128", "llm.vocab_size=512"]


def test_overrides_and_dtype_reach_the_preset():
  cfg = bench.model_config("pali_gemma2_pt_3b_224", "bfloat16", TINY)
  assert (cfg.llm.num_layers, cfg.img.depth, cfg.llm.dtype, cfg.img.param_dtype) == (
      2, 1, "bfloat16", "bfloat16")
  assert cfg.llm.attn_logit_softcap == 50.0  # the rest of the preset is kept
  with pytest.raises(SystemExit, match="use img.FIELD=VALUE or llm.FIELD=VALUE"):
    bench.model_config("pali_gemma2_pt_3b_224", "bfloat16", ["layers=2"])
  with pytest.raises(SystemExit, match="pick a PaliGemma preset"):
    bench.model_config("gemma2_2b_en", "bfloat16", [])


def test_run_reports_every_batch_and_the_floor(tmp_path):
  out = tmp_path / "decode.json"
  result = bench.main(["--dtype", "float32", "--batches", "1,2", "--new_tokens", "3",
                       "--trials", "1", "--read_gib", "0.02", "--json", str(out)]
                      + [f"--override={o}" for o in TINY])
  cfg = bench.model_config("pali_gemma2_pt_3b_224", "float32", TINY)
  shapes = build.abstract_params(cfg)
  assert result["params"] == sum(x.size for x in jax.tree_util.tree_leaves(shapes))
  llm_size = sum(x.size for x in jax.tree_util.tree_leaves(shapes["llm"]))
  assert result["decoder_bytes"] == 4 * llm_size  # float32
  assert result["floor_s"] == pytest.approx(result["decoder_bytes"] / result["read_bytes_per_s"])
  assert json.loads(out.read_text())["batches"].keys() == {"1", "2"}
  for b, row in result["batches"].items():
    assert row["prefill_s"] > 0
    assert row["tokens_per_s"] == pytest.approx(b / row["per_token_s"])
