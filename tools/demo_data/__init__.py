"""Small learnable synthetic datasets in the benchmarks' own file formats (`tools.make_demo_data`).

One module per benchmark; each defines `SET` (a common.DemoSet: its writer and the TFDS builds).
`SETS` maps every set's name to it, in the order `make_demo_data` writes them.
"""
from tools.demo_data import chartqa
from tools.demo_data import coco
from tools.demo_data import common
from tools.demo_data import docvqa

SETS: dict[str, common.DemoSet] = {s.name: s for s in (docvqa.SET, chartqa.SET, coco.SET)}
# What `python -m tools.make_demo_data` writes without --sets: the README demos' data.
DEFAULT_SETS = ("docvqa", "chartqa", "coco")
