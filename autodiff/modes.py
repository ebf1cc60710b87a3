"""Global switches that change how operations behave: recording and anomaly checks.

Both are plain module state, read once per operation.  They are not
thread-local: like micrograd, the engine assumes one thread builds a graph.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

#: Operations record their inputs (build a graph) only while this is True.
grad_enabled: bool = True
#: Every forward value and gradient is checked for nan/inf while this is True.
anomaly_enabled: bool = False
#: ``grad_enabled and not anomaly_enabled``: the one flag the hot path reads,
#: so an ordinary operation pays for a single attribute look-up.
fast_path: bool = True


@contextmanager
def _switched(*, grad: bool | None = None, anomaly: bool | None = None) -> Iterator[None]:
    """Set the switches for a block and restore them after it, even on error."""
    global grad_enabled, anomaly_enabled, fast_path
    saved = grad_enabled, anomaly_enabled
    if grad is not None:
        grad_enabled = grad
    if anomaly is not None:
        anomaly_enabled = anomaly
    fast_path = grad_enabled and not anomaly_enabled
    try:
        yield
    finally:
        grad_enabled, anomaly_enabled = saved
        fast_path = grad_enabled and not anomaly_enabled


def no_grad() -> AbstractContextManager[None]:
    """Within this block operations record no graph (results are leaves).

    Use it for evaluation and for updating parameters in place.

    >>> from autodiff import Value, no_grad
    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y._prev
    ()
    """
    return _switched(grad=False)


def enable_grad() -> AbstractContextManager[None]:
    """Record a graph again inside a ``no_grad`` block.

    >>> from autodiff import Value, no_grad, enable_grad
    >>> with no_grad():
    ...     with enable_grad():
    ...         y = Value(2.0) * 3
    >>> y._op
    '*'
    """
    return _switched(grad=True)


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph.

    >>> from autodiff import is_grad_enabled
    >>> is_grad_enabled()
    True
    """
    return grad_enabled


def detect_anomaly() -> AbstractContextManager[None]:
    """Raise at the first operation whose value or gradient becomes nan or inf.

    Like ``torch.autograd.detect_anomaly``: slower, for debugging.  The error
    (:class:`autodiff.AnomalyError`) names the operation and its inputs.

    >>> from autodiff import Value, detect_anomaly, AnomalyError
    >>> with detect_anomaly():
    ...     try:
    ...         Value(1000.0, label='x').exp()
    ...     except AnomalyError as error:
    ...         print(error)
    exp produced inf in the forward pass; inputs: x=1000.0
    """
    return _switched(anomaly=True)


def is_anomaly_enabled() -> bool:
    """Whether :func:`detect_anomaly` is active.

    >>> from autodiff import is_anomaly_enabled
    >>> is_anomaly_enabled()
    False
    """
    return anomaly_enabled


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block (a speed-up).

    This engine's graphs hold no reference cycles, so reference counting
    frees them; yet the cyclic collector, triggered by every few hundred
    new objects, still walks every live node looking for cycles.  While a
    graph of tens of thousands of nodes is being built that walk is about
    half the forward pass.  Inside this block it does not run; anything
    else that makes cycles there is collected as usual after the block.
    ``nn.fit`` wraps each training step in it.

    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class AnomalyError(ArithmeticError):
    """Raised under :func:`detect_anomaly` where a value or gradient becomes nan/inf.

    >>> issubclass(AnomalyError, ArithmeticError)
    True
    """
