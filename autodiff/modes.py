"""Switches that change how operations behave: recording and anomaly checks, per thread.

As in PyTorch, ``no_grad()`` in one thread leaves every other thread
recording: each thread has its own switches (a ``threading.local``).

Reading a thread-local costs more than reading a global, and every
operation reads the switches.  So the hot path reads one global,
:data:`fast_path`, which is True while *no* thread has changed a switch;
only then is everyone recording without checks.  While some thread is in a
``no_grad`` or ``detect_anomaly`` block, operations in every thread read
their own thread's switches (a little slower, always right).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class _Switches(threading.local):
    """This thread's switches; class attributes are the defaults of a new thread."""

    grad_enabled: bool = True
    anomaly_enabled: bool = False


_switches = _Switches()
_lock = threading.Lock()
#: How many threads have a switch away from its default right now.
_threads_switched = 0
#: True while no thread has changed a switch: the one flag the hot path reads.
fast_path: bool = True


def _is_default(grad: bool, anomaly: bool) -> bool:
    return grad and not anomaly


@contextmanager
def _switched(*, grad: bool | None = None, anomaly: bool | None = None) -> Iterator[None]:
    """Set this thread's switches for a block and restore them after it, even on error."""
    saved = _switches.grad_enabled, _switches.anomaly_enabled
    new = (saved[0] if grad is None else grad), (saved[1] if anomaly is None else anomaly)
    _set(*new, was=saved)
    try:
        yield
    finally:
        _set(*saved, was=new)


def _set(grad: bool, anomaly: bool, *, was: tuple[bool, bool]) -> None:
    global _threads_switched, fast_path
    _switches.grad_enabled, _switches.anomaly_enabled = grad, anomaly
    change = _is_default(*was) - _is_default(grad, anomaly)  # +1 leaving the default, -1 back
    if change:
        with _lock:
            _threads_switched += change
            fast_path = _threads_switched == 0


def no_grad() -> AbstractContextManager[None]:
    """Within this block operations record no graph (results are leaves), in this thread.

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
    """Whether operations in this thread currently record a graph.

    >>> from autodiff import is_grad_enabled
    >>> is_grad_enabled()
    True
    """
    return _switches.grad_enabled


def detect_anomaly() -> AbstractContextManager[None]:
    """Raise at the first operation whose value or gradient becomes nan or inf (in this thread).

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
    """Whether :func:`detect_anomaly` is active in this thread.

    >>> from autodiff import is_anomaly_enabled
    >>> is_anomaly_enabled()
    False
    """
    return _switches.anomaly_enabled


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block (a speed-up).

    This engine's graphs hold no reference cycles, so reference counting
    frees them; yet the cyclic collector, triggered by every few hundred
    new objects, still walks every live node looking for cycles.  While a
    graph of tens of thousands of nodes is being built that walk is about
    half the forward pass.  Inside this block it does not run; anything
    else that makes cycles there is collected as usual after the block.
    ``nn.fit`` wraps each training step in it.  (The collector is one per
    process: two threads pausing it at once keep it paused until both end.)

    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    global _pausers, _collector_was_enabled
    with _lock:
        if _pausers == 0:  # the first to pause remembers the collector's state
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _collector_was_enabled:
                gc.enable()


#: How many gc_paused blocks are running, in all threads; the collector's state before the first.
_pausers = 0
_collector_was_enabled = True


class AnomalyError(ArithmeticError):
    """Raised under :func:`detect_anomaly` where a value or gradient becomes nan/inf.

    >>> issubclass(AnomalyError, ArithmeticError)
    True
    """
