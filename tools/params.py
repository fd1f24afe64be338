"""Parameter counts of the presets, computed with jax.eval_shape (nothing is allocated).

  python -m tools.params --preset pali_gemma2_pt_3b_448   # the count as an integer, last line
  python -m tools.params --all                            # a header, then `NAME COUNT` per preset

An unknown preset name exits with code 2 and lists the close names.
"""
import argparse
import sys

from big_paligemma.models import presets
from big_paligemma.models import build

_VOCAB_HEADER = ("# vocabulary counted: Gemma 1/2 256000; PaliGemma 257152 (HF pads to 257216); "
                 "Gemma 3 262144 (HF pads to 262208), as in KerasHub's published counts")


def _parse(argv):
  parser = argparse.ArgumentParser(prog="python -m tools.params", description=__doc__.split("\n")[0])
  group = parser.add_mutually_exclusive_group(required=True)
  group.add_argument("--preset", help="one preset name (see --all for every name)")
  group.add_argument("--all", action="store_true", help="every preset, one `NAME COUNT` line each")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = _parse(argv)
  if args.all:
    print(_VOCAB_HEADER)
    for name in presets.names():
      print(name, build.num_params(presets.get_preset(name)))
    return 0
  try:
    config = presets.get_preset(args.preset)
  except presets.UnknownPresetError as e:
    print(e, file=sys.stderr)
    return 2
  note = presets.vocab_note(config)
  if note:
    print(f"# {note}")
  print(build.num_params(config))
  return 0


if __name__ == "__main__":
  sys.exit(main())
