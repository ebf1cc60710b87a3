"""Code generation: a function of Values traced once, then run as generated straight-line code.

=================  ===========================================================
module             what lives there
=================  ===========================================================
``tracing``        the IR: `Step`, `Program`, `trace`, `TraceMismatchError`, naming
``python_code``    straight-line Python: forward lines, backward lines from the
                   chain-rule walker on symbols, `build`
``batch``          `BatchPlan`, `plan_batch`: per-example vs once-per-batch
                   steps; the batch as a Python loop
``numpy_code``     the NumPy backend's source: dense layers, blocks of rows, the
                   parameters as one array, sums of squares as dot products
``array_math``     what NumPy code runs with: `ArrayMath` (the rules' math on
                   arrays), the forward functions, `numpy_namespace`
``compiled``       the public objects: `compile`, `compile_batch`,
                   `CompiledFunction`, `CompiledBatch`
``backends``       the one place that chooses a backend (``'python'``, ``'numpy'``, ``'auto'``)
=================  ===========================================================

No derivative and no chain-rule loop is written here: the backward lines
are what :func:`autodiff.chain_rule.backpropagate` hands over when it walks
a program with symbols in place of numbers.

>>> from autodiff.codegen import compile
>>> compile(lambda x: x * x, (3.0,))(4.0)
(16.0, (8.0,))
"""

from autodiff.codegen.backends import available_backends, fastest_backend, resolve_backend
from autodiff.codegen.compiled import CompiledBatch, CompiledFunction, compile, compile_batch
from autodiff.codegen.tracing import Program, Step, TraceMismatchError, trace

__all__ = [
    'compile', 'compile_batch', 'CompiledFunction', 'CompiledBatch', 'TraceMismatchError',
    'trace', 'Program', 'Step', 'available_backends', 'fastest_backend', 'resolve_backend',
]
