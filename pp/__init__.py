"""Pre-processing ops (TensorFlow) and the pp spec-string builder.

Importing `pp` imports no TensorFlow: the spec builders and the parser are plain Python (a config,
tools.plan and the benchmarks run where only JAX is installed). The ops (`pp.<name>` in
`big_paligemma.registry`) are registered by `get_preprocess_fn` (`register_ops`), which imports the
op modules (pp/builder.py OP_MODULES), or by importing one of them.
"""
from pp.builder import get_preprocess_fn
from pp.builder import paligemma_eval_pp
from pp.builder import paligemma_train_pp
from pp.builder import parse_spec
from pp.builder import register_ops
from pp.builder import SpecError
