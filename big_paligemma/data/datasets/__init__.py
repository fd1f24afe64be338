"""TFDS builders for the benchmarks' own file formats (each reads the official release files from
`--manual_dir`; see each module's docstring).

`BUILDERS` maps a source name of the data configs (`{"name": "docvqa", "split": ...}`; a builder
config after a slash, e.g. "chartqa/human") to its builder class.
"""
from big_paligemma.data.datasets import chartqa
from big_paligemma.data.datasets import coco_captions
from big_paligemma.data.datasets import docvqa

BUILDERS = {"docvqa": docvqa.DocVQA, "chartqa": chartqa.ChartQA,
            "coco_captions": coco_captions.CocoCaptions}
