"""Presets: every published name builds, and its eval_shape parameter count matches the published one."""
import os
import subprocess
import sys

import pytest

from big_paligemma.models import presets
from big_paligemma.models import build
from tools import params as params_tool

# KerasHub's published counts (rounded as published on the preset pages).
PUBLISHED = {
    **dict.fromkeys(["pali_gemma_3b_mix_224", "pali_gemma_3b_224", "pali_gemma_3b_mix_448",
                     "pali_gemma_3b_448"], 2.92e9),
    "pali_gemma_3b_896": 2.93e9,
    **dict.fromkeys(["pali_gemma2_mix_3b_224", "pali_gemma2_pt_3b_224", "pali_gemma2_mix_3b_448",
                     "pali_gemma2_pt_3b_448", "pali_gemma_2_ft_docci_3b_448"], 3.03e9),
    "pali_gemma2_pt_3b_896": 3.04e9,
    **dict.fromkeys(["pali_gemma2_mix_10b_224", "pali_gemma2_pt_10b_224", "pali_gemma2_mix_10b_448",
                     "pali_gemma2_pt_10b_448", "pali_gemma2_ft_docci_10b_448"], 9.66e9),
    "pali_gemma2_pt_10b_896": 9.67e9,
    **dict.fromkeys(["pali_gemma2_mix_28b_224", "pali_gemma2_pt_28b_224", "pali_gemma2_mix_28b_448",
                     "pali_gemma2_pt_28b_448", "pali_gemma2_pt_28b_896"], 27.65e9),
    **dict.fromkeys(["gemma_2b_en", "gemma_instruct_2b_en", "gemma_1.1_instruct_2b_en",
                     "code_gemma_2b_en", "code_gemma_1.1_2b_en"], 2.51e9),
    **dict.fromkeys(["gemma_7b_en", "gemma_instruct_7b_en", "gemma_1.1_instruct_7b_en",
                     "code_gemma_7b_en", "code_gemma_instruct_7b_en",
                     "code_gemma_1.1_instruct_7b_en"], 8.54e9),
    **dict.fromkeys(["gemma2_2b_en", "gemma2_instruct_2b_en", "shieldgemma_2b_en"], 2.61e9),
    **dict.fromkeys(["gemma2_9b_en", "gemma2_instruct_9b_en", "shieldgemma_9b_en"], 9.24e9),
    **dict.fromkeys(["gemma2_27b_en", "gemma2_instruct_27b_en", "shieldgemma_27b_en"], 27.23e9),
    **dict.fromkeys(["gemma3_1b", "gemma3_instruct_1b"], 0.99989e9),
    **dict.fromkeys(["gemma3_4b_text", "gemma3_instruct_4b_text"], 3.88e9),
    **dict.fromkeys(["gemma3_4b", "gemma3_instruct_4b"], 4.30e9),
    **dict.fromkeys(["gemma3_12b_text", "gemma3_instruct_12b_text"], 11.77e9),
    **dict.fromkeys(["gemma3_12b", "gemma3_instruct_12b"], 12.19e9),
    **dict.fromkeys(["gemma3_27b_text", "gemma3_instruct_27b_text"], 27.01e9),
    **dict.fromkeys(["gemma3_27b", "gemma3_instruct_27b"], 27.43e9),
}
# Exact `parameter_count` of KerasHub's saved presets (metadata.json of
# huggingface.co/google/paligemma2-3b-pt-224-keras and .../paligemma2-10b-pt-448-keras): these pin
# the PaliGemma vocabulary to 257152 (257216 would add 64 * D).
EXACT = {"pali_gemma2_pt_3b_224": 3_032_094_960, "pali_gemma2_pt_10b_448": 9_663_294_192}


def gemma_count(v, l, d, n, k, h, f, norms_per_layer):
  """By hand from the layout: embedding, per layer q/kv/out/gating/linear/norms, final norm."""
  return v * d + l * (n * d * h + 2 * k * d * h + n * h * d + 3 * d * f + norms_per_layer) + d


def test_names_are_exactly_the_published_ones():
  assert presets.names() == sorted(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_count_within_half_a_percent_of_published(name):
  count = build.num_params(presets.get_preset(name))
  assert abs(count - PUBLISHED[name]) <= 0.005 * PUBLISHED[name], (name, count)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_kerashub_counts(name):
  assert build.num_params(presets.get_preset(name)) == EXACT[name]


def test_gemma_counts_by_hand():
  assert build.num_params(presets.get_preset("gemma_2b_en")) == gemma_count(
      256000, 18, 2048, 8, 1, 256, 16384, 2 * 2048)
  # Gemma 2: four norms per layer; Gemma 3 adds the q/k norms [H] each.
  assert build.num_params(presets.get_preset("gemma2_27b_en")) == gemma_count(
      256000, 46, 4608, 32, 16, 128, 36864, 4 * 4608)
  assert build.num_params(presets.get_preset("gemma3_1b")) == gemma_count(
      262144, 26, 1152, 4, 1, 256, 6912, 4 * 1152 + 2 * 256)


def test_decoder_facts():
  g2 = presets.get_preset("gemma2_27b_en")
  assert g2.scale == pytest.approx(144 ** -0.5)
  assert (g2.attn_logit_softcap, g2.final_logit_softcap, g2.sliding_window) == (50.0, 30.0, 4096)
  assert g2.is_local == tuple(i % 2 == 0 for i in range(46))
  assert presets.get_preset("gemma2_9b_en").scale == pytest.approx(256 ** -0.5)  # not (D/N)^-0.5
  assert presets.get_preset("gemma3_12b_text").scale == pytest.approx(256 ** -0.5)
  g3 = presets.get_preset("gemma3_27b_text")
  assert g3.scale == pytest.approx(168 ** -0.5)
  assert g3.is_local == tuple((i + 1) % 6 != 0 for i in range(62))
  assert (g3.sliding_window, g3.rope_base_local, g3.rope_base_global) == (1024, 1e4, 1e6)
  assert g3.rope_scale_global == 8.0 and g3.qk_norm and g3.final_logit_softcap is None
  g1 = presets.get_preset("gemma3_1b")
  assert (g1.sliding_window, g1.rope_scale_global) == (512, 1.0)


def test_paligemma_presets():
  p1 = presets.get_preset("pali_gemma_3b_896")
  assert (p1.img.width, p1.img.depth, p1.img.patch_size, p1.img.image_size) == (1152, 27, 14, 896)
  assert p1.num_image_tokens == 4096 and p1.llm.vocab_size == 257152 and p1.llm.width == 2048
  p2 = presets.get_preset("pali_gemma2_pt_10b_448")
  assert p2.llm.num_layers == 42 and p2.llm.final_logit_softcap == 30.0
  assert p2.llm.is_local == tuple(i % 2 == 0 for i in range(42))
  bv = presets.get_preset("pali_gemma2_pt_3b_224", final_logit_softcap=None, all_global=True)
  assert bv.llm.final_logit_softcap is None and not any(bv.llm.is_local)
  assert bv.llm.attn_logit_softcap == 50.0


def test_overrides():
  cfg = presets.get_preset("pali_gemma_3b_224", llm={"dtype": "bfloat16"}, img={"scan_unroll": 3})
  assert cfg.llm.dtype == "bfloat16" and cfg.img.scan_unroll == 3 and cfg.llm.num_layers == 18
  assert presets.get_preset("gemma_2b_en", num_layers=2).num_layers == 2
  with pytest.raises(ValueError, match="num_layerz"):
    presets.get_preset("pali_gemma_3b_224", llm={"num_layerz": 2})
  with pytest.raises(TypeError):
    presets.get_preset("gemma_2b_en", num_layerz=2)


def test_unknown_name_lists_close_names():
  with pytest.raises(presets.UnknownPresetError, match="gemma2_2b_en"):
    presets.get_preset("gemma2_2b")


def test_vocab_note():
  assert "257216" in presets.vocab_note(presets.get_preset("pali_gemma_3b_224"))
  assert presets.vocab_note(presets.get_preset("gemma_2b_en")) is None


def _run_tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return subprocess.run([sys.executable, "-m", "tools.params", *args], cwd=root, env=env,
                        capture_output=True, text=True, timeout=120, check=False)


def test_params_tool_one_and_unknown(capsys):
  assert params_tool.main(["--preset", "gemma_7b_en"]) == 0  # in this process: no jax import
  assert int(capsys.readouterr().out.strip().splitlines()[-1]) == gemma_count(
      256000, 28, 3072, 16, 16, 256, 24576, 2 * 3072)
  bad = _run_tool("--preset", "pali_gemma_3b_225")  # the command's exit code
  assert bad.returncode == 2 and "pali_gemma_3b_224" in bad.stderr


def test_params_tool_all(capsys):
  assert params_tool.main(["--all"]) == 0
  header, *rows = capsys.readouterr().out.strip().splitlines()
  assert "257152" in header and "262144" in header
  counts = dict(row.split() for row in rows)
  assert sorted(counts) == sorted(PUBLISHED)
  assert int(counts["pali_gemma2_pt_10b_448"]) == EXACT["pali_gemma2_pt_10b_448"]
