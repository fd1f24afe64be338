"""TFDS builders for the benchmarks' own file formats (each reads the official release files from
`--manual_dir`; see each module's docstring).

`BUILDERS` maps a source name of the data configs (`{"name": "docvqa", "split": ...}`; a builder
config after a slash, e.g. "chartqa/human") to its builder class.
"""
from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa
# Counting and others (issue 13).
from big_paligemma.data.datasets import countbenchqa
from big_paligemma.data.datasets import marvl
from big_paligemma.data.datasets import nlvr2
from big_paligemma.data.datasets import pope
from big_paligemma.data.datasets import rsvqa
from big_paligemma.data.datasets import science_qa
from big_paligemma.data.datasets import tallyqa

BUILDERS = {"docvqa": docvqa.DocVQA, "chartqa": chartqa.ChartQA,
            "coco_captions": coco_captions.CocoCaptions}
# Counting and others (issue 13).
BUILDERS.update({
    "tallyqa": tallyqa.TallyQA, "countbenchqa": countbenchqa.CountBenchQA, "rsvqa": rsvqa.RSVQA,
    "science_qa": science_qa.ScienceQA, "pope": pope.POPE, "nlvr2": nlvr2.NLVR2,
    "marvl": marvl.MaRVL})
