"""The one place that chooses a compiled backend: ``'python'`` or ``'numpy'``.

Compiled code for batches comes in two flavours (see :mod:`autodiff.codegen`):
a Python loop over the examples, which needs nothing but Python, and NumPy
lines that run every operation on the whole batch at once, which need the
optional NumPy (``pip install 'chainrule[fast]'``).  NumPy pays a fixed
cost per array call, so on batches of a handful of examples the Python
loop wins; `resolve_backend` turns ``'auto'`` into the faster of the two.

>>> resolve_backend('python')
'python'
>>> resolve_backend('auto', batch_size=1)
'python'
>>> fastest_backend() in available_backends()
True
"""

from __future__ import annotations

#: Every backend, slowest first: the Python loop always works, NumPy needs NumPy.
BACKENDS = ('python', 'numpy')
#: Below this many examples per batch, ``'auto'`` runs in Python: a Python loop
#: over a few examples beats NumPy's per-call overhead.
NUMPY_MIN_BATCH = 8


def numpy_installed() -> bool:
    """Whether ``import numpy`` works here (asked afresh each time, so a test can hide NumPy).

    >>> numpy_installed() in (True, False)
    True
    """
    try:
        import numpy  # noqa: F401 - only asking whether it is installed
    except ImportError:
        return False
    return True


def available_backends() -> list[str]:
    """The backends that can run on this machine, slowest first.

    >>> available_backends()[0]
    'python'
    """
    return [name for name in BACKENDS if name != 'numpy' or numpy_installed()]


def fastest_backend() -> str:
    """The fastest backend installed: ``'numpy'`` if NumPy imports, else ``'python'``.

    >>> fastest_backend() in ('numpy', 'python')
    True
    """
    return available_backends()[-1]


def resolve_backend(name: str, batch_size: int | None = None) -> str:
    """The backend to run for the choice ``name``: ``'python'``, ``'numpy'`` or ``'auto'``.

    ``'auto'`` is the fastest backend installed, except that batches of
    fewer than `NUMPY_MIN_BATCH` examples run in Python (``batch_size``
    None means the size is not known in advance).  Asking for ``'numpy'``
    without NumPy raises `ImportError`; an unknown name raises `ValueError`.

    >>> resolve_backend('auto', batch_size=NUMPY_MIN_BATCH - 1)
    'python'
    >>> resolve_backend('fortran')
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'fortran': use 'python', 'numpy' or 'auto'
    """
    if name == 'auto':
        if batch_size is not None and batch_size < NUMPY_MIN_BATCH:
            return 'python'
        return fastest_backend()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: use 'python', 'numpy' or 'auto'")
    if name == 'numpy' and not numpy_installed():
        raise ImportError("the numpy backend needs NumPy: pip install 'chainrule[fast]'")
    return name
