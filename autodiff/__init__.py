"""chainrule's autodiff: a scalar reverse-mode automatic-differentiation engine.

>>> from autodiff import Value
>>> x, y, z = Value(1.0, label='x'), Value(3.0, label='y'), Value(-3.0, label='z')
>>> g = (x + y) * z
>>> g.backward()
>>> g.data, x.grad, y.grad, z.grad
(-12.0, -3.0, -3.0, 4.0)
"""

from autodiff.codegen import CompiledBatch, CompiledFunction, TraceMismatchError, compile, compile_batch
from autodiff.functional import grad, gradcheck, gradients, value_and_grad
from autodiff.graph import topological_order
from autodiff.modes import (
    AnomalyError,
    detect_anomaly,
    enable_grad,
    gc_paused,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
)
from autodiff.pictures.drawing import draw_dot, draw_graph
from autodiff.pictures.explainer import explain
from autodiff.pictures.player import play_backward
from autodiff.rules import RULES, Rule, defrule
from autodiff.value import Value, apply

__all__ = [
    'Value', 'no_grad', 'enable_grad', 'is_grad_enabled', 'detect_anomaly', 'is_anomaly_enabled',
    'AnomalyError', 'gc_paused', 'grad', 'value_and_grad', 'gradients', 'gradcheck', 'topological_order',
    'draw_graph', 'draw_dot', 'RULES', 'Rule', 'defrule', 'apply',
]
__all__ += ['explain', 'play_backward']
__all__ += ['compile', 'compile_batch', 'CompiledFunction', 'CompiledBatch', 'TraceMismatchError']
