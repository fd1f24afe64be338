"""Small learnable synthetic datasets in the benchmarks' own file formats (`tools.make_demo_data`).

One module per benchmark; each defines `SET` (a common.DemoSet: its writer and the TFDS builds).
`SETS` maps every set's name to it, in the order `make_demo_data` writes them.
"""
from tools.demo_data import chartqa
from tools.demo_data import coco
from tools.demo_data import common
from tools.demo_data import docvqa
# VQA transfers.
from tools.demo_data import ai2d
from tools.demo_data import aokvqa
from tools.demo_data import gqa
from tools.demo_data import infovqa
from tools.demo_data import ocrvqa
from tools.demo_data import okvqa
from tools.demo_data import stvqa
from tools.demo_data import textvqa
from tools.demo_data import vizwizvqa
from tools.demo_data import vqav2
# Counting and others (issue 13).
from tools.demo_data import nlvr2
from tools.demo_data import pope
from tools.demo_data import rsvqa
from tools.demo_data import science_qa
from tools.demo_data import tallyqa
# Caption and referring-expression transfers.
from tools.demo_data import coco35l
from tools.demo_data import nocaps
from tools.demo_data import refcoco
from tools.demo_data import rico
from tools.demo_data import scicap
from tools.demo_data import textcaps
from tools.demo_data import xm3600

SETS: dict[str, common.DemoSet] = {s.name: s for s in (docvqa.SET, chartqa.SET, coco.SET)}
# VQA transfers.
SETS.update({s.name: s for s in (
    vqav2.SET, textvqa.SET, okvqa.SET, aokvqa.SET, gqa.SET, vizwizvqa.SET, ai2d.SET, stvqa.SET,
    infovqa.SET, ocrvqa.SET)})
# Counting and others (issue 13).
SETS.update({s.name: s for s in (tallyqa.SET, rsvqa.SET, science_qa.SET, pope.SET, nlvr2.SET)})
# Caption and referring-expression transfers.
SETS.update({s.name: s for s in (
    nocaps.SET, coco35l.SET, xm3600.SET, textcaps.SET, scicap.SET, rico.SET, refcoco.SET)})
# What `python -m tools.make_demo_data` writes without --sets: the README demos' data (the
# cococap demo also scores nocaps, as big_vision's cococap config does).
DEFAULT_SETS = ("docvqa", "chartqa", "coco", "nocaps")
