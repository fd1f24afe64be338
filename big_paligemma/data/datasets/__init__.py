"""TFDS builders for the benchmarks' own file formats (each reads the official release files from
`--manual_dir`; see each module's docstring).

`BUILDERS` maps a source name of the data configs (`{"name": "docvqa", "split": ...}`; a builder
config after a slash, e.g. "chartqa/human") to its builder class.
"""
from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa
# VQA transfers.
from big_paligemma.data.datasets import ai2d
from big_paligemma.data.datasets import aokvqa
from big_paligemma.data.datasets import gqa
from big_paligemma.data.datasets import infovqa
from big_paligemma.data.datasets import ocrvqa
from big_paligemma.data.datasets import okvqa
from big_paligemma.data.datasets import stvqa
from big_paligemma.data.datasets import textvqa
from big_paligemma.data.datasets import vizwizvqa
from big_paligemma.data.datasets import vqav2
from big_paligemma.data.datasets import xgqa
# Counting and others (issue 13).
from big_paligemma.data.datasets import countbenchqa
from big_paligemma.data.datasets import marvl
from big_paligemma.data.datasets import nlvr2
from big_paligemma.data.datasets import pope
from big_paligemma.data.datasets import rsvqa
from big_paligemma.data.datasets import science_qa
from big_paligemma.data.datasets import tallyqa
# Caption and referring-expression transfers.
from big_paligemma.data.datasets import coco35l
from big_paligemma.data.datasets import nocaps
from big_paligemma.data.datasets import refcoco
from big_paligemma.data.datasets import scicap
from big_paligemma.data.datasets import screen2words
from big_paligemma.data.datasets import textcaps
from big_paligemma.data.datasets import widgetcap
from big_paligemma.data.datasets import xm3600

BUILDERS = {"docvqa": docvqa.DocVQA, "chartqa": chartqa.ChartQA,
            "coco_captions": coco_captions.CocoCaptions}
# VQA transfers.
BUILDERS.update({b.name: b for b in (
    vqav2.VQAv2, textvqa.TextVQA, okvqa.OKVQA, aokvqa.AOKVQA, gqa.GQA, xgqa.XGQA,
    vizwizvqa.VizWizVQA, ai2d.AI2D, stvqa.STVQA, infovqa.InfoVQA, ocrvqa.OCRVQA)})
# Counting and others (issue 13).
BUILDERS.update({
    "tallyqa": tallyqa.TallyQA, "countbenchqa": countbenchqa.CountBenchQA, "rsvqa": rsvqa.RSVQA,
    "science_qa": science_qa.ScienceQA, "pope": pope.POPE, "nlvr2": nlvr2.NLVR2,
    "marvl": marvl.MaRVL})
# Caption and referring-expression transfers.
BUILDERS.update({b.name: b for b in (
    nocaps.NoCaps, coco35l.Coco35l, xm3600.Xm3600, textcaps.TextCaps, scicap.Scicap,
    screen2words.Screen2Words, widgetcap.Widgetcap, refcoco.RefCoco)})
