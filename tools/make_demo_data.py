"""Small learnable synthetic datasets in the benchmarks' own file formats, built with TFDS.

  python -m tools.make_demo_data --out demo_data [--sets docvqa,chartqa,coco | --sets all]
      [--num_train 2000 --num_eval 128 --size 64]

Writes, under --out:
  raw/<set>/    the benchmark's official files (tools/demo_data/<set>.py says which), e.g.
                raw/docvqa/ (SP-DocVQA v1.0 layout), raw/chartqa/ (ChartQA layout), raw/coco/
                (Karpathy layout);
  tfds/         the TFDS datasets built from those files with the repo's builders, as the
                ArrayRecord files the input pipeline reads by index (the data_dir of the configs'
                `:demo` mode);
  paligemma.model  the small demo tokenizer (tools/make_tokenizer.py), unless --no_tokenizer;
  gemma3.model     the same with Gemma 3's <start_of_image>, <end_of_image> (Gemma 3 configs).
--sets defaults to the README demos' data (demo_data.DEFAULT_SETS); `all` writes every set of
demo_data.SETS. Every image is --size pixels square. Same arguments -> the same files (seeded).
"""
import argparse
from typing import Sequence

import tensorflow_datasets as tfds

from big_paligemma import fs
from tools import demo_data
from tools import make_tokenizer


def build_tfds(demo_set, raw: str, data_dir: str) -> None:
  """Builds every TFDS dataset of `demo_set` from its files in `raw` into `data_dir`."""
  for cls, config in demo_set.builds:
    print(f"  building TFDS {cls.name}{'/' + config if config else ''} ...", flush=True)
    cls(config=config, data_dir=data_dir, file_format="array_record").download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=raw))


def set_names(spec: str | Sequence[str] | None) -> list[str]:
  """--sets "a,b" / "all" / None (the defaults) -> names; an unknown name raises listing them."""
  if spec is None:
    return list(demo_data.DEFAULT_SETS)
  names = spec.split(",") if isinstance(spec, str) else list(spec)
  if names == ["all"]:
    return list(demo_data.SETS)
  unknown = sorted(set(names) - set(demo_data.SETS))
  if unknown:
    raise ValueError(f"--sets {unknown} unknown; known: {sorted(demo_data.SETS)} or 'all'.")
  return names


def make_demo_data(out: str, num_train: int = 2000, num_eval: int = 128, size: int = 64,
                   seed: int = 0, tokenizer: bool = True, build: bool = True,
                   sets: str | Sequence[str] | None = None) -> dict[str, str]:
  """Writes `sets` (see the module docstring); returns the paths {raw, tfds, tokenizer}."""
  raw = fs.join(out, "raw")
  paths = {"raw": raw, "tfds": fs.join(out, "tfds"),
           "tokenizer": fs.join(out, "paligemma.model")}
  for name in set_names(sets):
    demo_set = demo_data.SETS[name]
    counts = demo_set.splits(num_train, num_eval)
    print(f"Writing {name} ({counts}) ...", flush=True)
    # Each set's own seed, whichever others are written.
    demo_set.write(fs.join(raw, name), counts, size, seed + list(demo_data.SETS).index(name))
    if build:
      build_tfds(demo_set, fs.join(raw, name), paths["tfds"])
  if tokenizer:
    print("Training the demo tokenizer ...", flush=True)
    tok = make_tokenizer.make_paligemma_tokenizer(paths["tokenizer"])
    make_tokenizer.with_gemma3_pieces(tok).save(fs.join(out, "gemma3.model"))
  print(f"Done: {paths}", flush=True)
  return paths


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--sets", default=None, help="comma-separated names or 'all' (default "
                      f"{','.join(demo_data.DEFAULT_SETS)})")
  parser.add_argument("--num_train", type=int, default=2000, help="train examples per benchmark")
  parser.add_argument("--num_eval", type=int, default=128, help="val and test examples each")
  parser.add_argument("--size", type=int, default=64, help="image side in pixels")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no_tokenizer", action="store_true", help="skip the demo tokenizer")
  parser.add_argument("--no_tfds", action="store_true", help="only write the raw files")
  args = parser.parse_args(argv)
  make_demo_data(args.out, args.num_train, args.num_eval, args.size, args.seed,
                 tokenizer=not args.no_tokenizer, build=not args.no_tfds, sets=args.sets)


if __name__ == "__main__":
  main()
