"""Benchmark evaluators and the evaluator runner.

Importing the package imports every evaluator module, each of which registers its types as
`evaluator.<type>` (big_paligemma.registry); `big_paligemma.config` validates config.evals against
those names, and `make_evaluators` builds them.
"""
from evaluators import chartqa
from evaluators import coco_caption
from evaluators import counting
from evaluators import multiple_choice
from evaluators import nlvr2
from evaluators import perplexity
from evaluators import pope
from evaluators import refcoco_det
from evaluators import refcoco_seg
from evaluators import rsvqa
from evaluators import storepreds
from evaluators import vqa
from evaluators.common import make_evaluator
from evaluators.common import make_evaluators
