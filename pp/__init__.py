"""Pre-processing ops (TensorFlow) and the pp spec-string builder.

Importing `pp` registers every op (`pp.<name>` in `big_paligemma.registry`) by importing the op
modules below explicitly.
"""
from pp import boxes
from pp import ops_choices
from pp import ops_gemma3
from pp import ops_general
from pp import ops_image
from pp import ops_seg
from pp import ops_text
from pp.builder import get_preprocess_fn
from pp.builder import paligemma_eval_pp
from pp.builder import paligemma_train_pp
from pp.builder import parse_spec
from pp.builder import SpecError
