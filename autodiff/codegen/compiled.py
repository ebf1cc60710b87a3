"""Compiled functions: trace once, then run generated straight-line code on plain floats.

An eager step builds a `Value` per operation and walks the graph to apply
the chain rule.  When the *sequence* of operations is the same for every
input (true of any function that does not branch on ``.data``: an MLP's
relu is a branch-free operation), that work can be done once.  `compile`
runs the function on `Value` inputs, records the graph
(:mod:`autodiff.codegen.tracing`), and writes it down as a Python function
(:mod:`autodiff.codegen.python_code`): one line per operation forward, then
one line per local derivative backward, each read from the engine's one
rule table.  The generated function works on plain floats, so no node is
ever built.  `compile_batch` does the same for the mean of a per-example
function over a batch (:mod:`autodiff.codegen.batch`, and the NumPy backend
:mod:`autodiff.codegen.numpy_code`).

>>> from autodiff import Value
>>> def f(x, y):
...     return (x * y + y).tanh()
>>> compiled = compile(f, (0.5, 2.0))
>>> value, (dx, dy) = compiled(0.5, 2.0)
>>> x, y = Value(0.5), Value(2.0)
>>> out = f(x, y); out.backward()
>>> (value, dx, dy) == (out.data, x.grad, y.grad)
True
>>> print(compiled.source)
def _compiled(_a0, _a1):
    # f(x, y), with x as _a0, y as _a1
    # forward: one line per operation
    _v1 = _a0 * _a1
    _v2 = _v1 + _a1
    _v3 = tanh(_v2)
    # backward, output to inputs: _gv1 is ∂f/∂_v1, _ga0 is ∂f/∂_a0, and so on
    _gv3 = 1.0
    _ga0 = 0.0
    _ga1 = 0.0
    _gv2 = _gv3 * (1 - _v3 * _v3)  # tanh: ∂_v3/∂_v2 = 1 - _v3 * _v3
    _gv1 = _gv2  # +: ∂_v2/∂_v1 = 1
    _ga1 += _gv2  # +: ∂_v2/∂_a1 = 1
    _ga0 += _gv1 * _a1  # *: ∂_v1/∂_a0 = _a1
    _ga1 += _gv1 * _a0  # *: ∂_v1/∂_a1 = _a0
    return _v3, (_ga0, _ga1)

**Names.**  The generated code names argument ``i`` ``_a<i>``, step ``k``
``_v<k>`` and gradients ``_g...`` (positional, see
:mod:`autodiff.codegen.tracing`); argument names, labels and operation
names appear in comments only, so no name a user writes can collide with
the code.  The compiled function takes its arguments by position.

**When the function branches on values.**  The trace records the operations
that ran for the example arguments.  Code such as ``if h.data > 0: ...`` or
``x * x.data`` (a value used as a constant) gives a program that is right
for the example and silently wrong where the branch would go the other way.
`compile(..., check=True)` re-traces the function at every call and raises
`TraceMismatchError` when the operations, their wiring or their constants
differ; `CompiledFunction.check` does the same for chosen validation points.
Operations whose results do not reach the output are not part of the graph,
so they are not compiled: an error such a dead operation would raise in
eager mode does not happen.  Values the function reads from outside its
arguments (a model's parameters captured in a closure) are constants of the
trace, frozen at their traced values: pass them as arguments (the very
`Value` objects work, see `compile`) to differentiate with respect to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autodiff.codegen import batch as batch_code
from autodiff.codegen.backends import resolve_backend
from autodiff.codegen.batch import plan_batch, python_batch_source
from autodiff.codegen.python_code import MAIN, build, namespace, python_parts
from autodiff.codegen.tracing import argnum_list, compare_traces, trace


class CompiledFunction:
    """A traced function turned into generated Python: ``value, grads = f(*args)``.

    ``grads`` has one entry per differentiated argument (all of them unless
    ``argnums`` chose), each in its argument's shape: a float, or a list.
    ``source`` is the generated code.

    >>> f = compile(lambda w, x: (w[0] * x + w[1]).relu(), ([0.5, -1.0], 4.0), argnums=0)
    >>> f([0.5, -1.0], 4.0)
    (1.0, [4.0, 1.0])
    >>> f.operations
    3
    """

    def __init__(self, fn: Callable[..., Any], example_args: Sequence[Any],
                 argnums: int | Sequence[int] | None = None, check: bool = False):
        self.fn = fn
        self.argnums = argnums
        self.check_every_call = check
        self.program = trace(fn, example_args)
        parts = python_parts(self.program, argnums)
        self.function = build(parts, MAIN, namespace())
        self.source = '\n\n'.join(parts)
        self.__name__ = self.program.name
        self.__doc__ = f"Compiled {self.program.name}: returns (value, gradients)."

    @property
    def operations(self) -> int:
        """How many operations the trace recorded (forward lines of the source)."""
        return len(self.program.steps)

    def __call__(self, *args: Any) -> tuple[float, Any]:
        if self.check_every_call:
            self.check(*args)
        return self.function(*args)

    def check(self, *args: Any) -> bool:
        """Re-trace at ``args``: True if the operations match the compiled ones.

        Raises `TraceMismatchError` naming the first difference otherwise
        (typically the function branches on ``.data``).

        >>> f = compile(lambda x: x * 2 if x.data > 0 else -x, (1.0,))
        >>> f.check(3.0)
        True
        >>> f.check(-3.0)
        Traceback (most recent call last):
        ...
        autodiff.codegen.tracing.TraceMismatchError: <lambda> records different operations at these \
arguments than when it was compiled: step 1 is now _v1 = neg(_a0), was _v1 = *(_a0, 2)
        """
        retraced = trace(self.fn, args, arg_names=self.program.arg_names)
        compare_traces(self.program, retraced)
        return True


def compile(fn: Callable[..., Any], example_args: Sequence[Any], *,
            argnums: int | Sequence[int] | None = None, check: bool = False) -> CompiledFunction:
    """Trace ``fn`` at ``example_args`` and return a `CompiledFunction` for new arguments.

    ``fn`` takes numbers or lists of numbers (as `Value` objects while
    tracing) and returns a scalar.  The compiled function takes plain
    floats (and lists) of the same shape, by position, and returns ``(value, grads)``.
    ``argnums`` (an int or tuple, default: every argument) chooses which
    gradients to return; ``check=True`` re-traces at every call to catch
    functions that branch on ``.data`` (slow: a debugging aid).

    **Size.**  Compiling costs time and memory in proportion to the number
    of operations: tracing builds the eager graph once (freed as soon as
    its steps are recorded), and a function body longer than
    ``autodiff.codegen.python_code.PART_LINES`` statements is cut into
    parts that CPython compiles one at a time, so its compiler never sees
    one giant function.  Measured on a chain of 10⁶ operations (2 shared
    cores): 65 s and 1.5 GB peak memory, against 3.7 s and 338 MB for one
    eager forward and backward pass (as one function it took 109 s and
    6.1 GB); 10⁵ operations: 6.7 s and 183 MB (eager: 0.3 s, 54 MB).  The
    time is CPython's own compiler, tens of µs per operation; the memory,
    about 1.5 KB per operation, ~4.5x the eager pass's, is the limit: a
    program fits if about five eager passes of it fit in memory.

    >>> f = compile(lambda x, y: x / y, (1.0, 2.0))
    >>> f(3.0, 4.0)
    (0.75, (0.25, -0.1875))
    """
    return CompiledFunction(fn, example_args, argnums, check)


class CompiledBatch:
    """A per-example function compiled for whole batches: ``value, grads = f(*args)``.

    ``value`` is the mean of the example function over the batch (plus the
    penalty, if any), ``grads`` its gradient with respect to the shared
    arguments (all of them unless ``argnums`` chose), in their shapes.
    With ``has_aux`` the call returns ``(value, aux), grads``: ``aux`` has
    one entry per example, what the example function returned beside its value.
    ``backend`` is the backend that runs (``'auto'`` resolved).

    >>> f = compile_batch(lambda w, x, y: (w[0] * x - y) ** 2, ([1.0], 0.0, 0.0), batched=(1, 2))
    >>> f([2.0], [1.0, 2.0], [1.0, 1.0])      # mean of (2x - y)²: (1 + 9) / 2
    (5.0, [7.0])
    """

    def __init__(self, example_fn: Callable[..., Any], example_args: Sequence[Any],
                 batched: Sequence[int], argnums: int | Sequence[int] | None,
                 penalty: Callable[..., Any] | None, backend: str, check: bool, has_aux: bool = False):
        self.example_fn = example_fn
        self.check_every_call = check
        self.has_aux = has_aux
        self.backend = resolve_backend(backend)
        self.example = trace(example_fn, example_args, has_aux=has_aux)
        self.penalty = None
        if penalty is not None:
            batched_positions = argnum_list(list(batched), len(example_args))
            shared = [i for i in range(len(example_args)) if i not in batched_positions]
            self.penalty = trace(penalty, [example_args[i] for i in shared], prefix='_p', positions=shared,
                                 arg_names=[self.example.arg_names[i] for i in shared])
        self.plan = plan_batch(self.example, self.penalty, batched, argnums)
        self.__name__ = f"{self.example.name}_batch"
        if self.backend == 'numpy':
            # NumPy is optional: its backend is imported only when asked for.
            from autodiff.codegen import array_math, numpy_code

            self.source = numpy_code.numpy_batch_source(self.plan)
            self._run = array_math.quiet_as_the_engine(
                build(self.source, batch_code.MAIN, array_math.numpy_namespace()))
        else:
            self.source = python_batch_source(self.plan)
            self._run = build(self.source, batch_code.MAIN, namespace())

    @property
    def operations(self) -> int:
        """Operations per example (forward lines of the example function)."""
        return len(self.example.steps)

    def __call__(self, *args: Any) -> tuple[float, Any]:
        if self.check_every_call:
            self.check(*args)
        return self._run(*args)

    def check(self, *args: Any) -> bool:
        """Re-trace the example function at every example of a batch; see `CompiledFunction.check`."""
        batched = self.plan.batched
        for examples in zip(*(args[i] for i in batched)):
            one = list(args)
            for i, item in zip(batched, examples):
                one[i] = item
            compare_traces(self.example, trace(self.example_fn, one, arg_names=self.example.arg_names,
                                               has_aux=self.has_aux))
        return True


def compile_batch(example_fn: Callable[..., Any], example_args: Sequence[Any], *, batched: Sequence[int],
                  argnums: int | Sequence[int] | None = 0, penalty: Callable[..., Any] | None = None,
                  backend: str = 'python', check: bool = False, has_aux: bool = False) -> CompiledBatch:
    """Compile the mean of a per-example function over batches, with its gradient.

    ``example_fn(*args)`` computes one example's value; ``example_args``
    are one example's arguments.  The arguments at the positions in
    ``batched`` become lists (or arrays) with one entry per example; the
    others are shared; the gradient is taken with respect to the shared
    argument(s) ``argnums`` (default 0, the parameters in ``f(params, x, y)``;
    ``None`` for all shared arguments, as a tuple).  ``penalty(*shared_args)``, if given, is added once
    (weight decay, say).  ``backend`` is ``'python'`` (a loop over examples),
    ``'numpy'`` (every operation on whole arrays; needs ``chainrule[fast]``)
    or ``'auto'`` (see :func:`autodiff.codegen.backends.resolve_backend`).
    ``has_aux=True``: ``example_fn`` returns ``(value, aux)`` (aux: a scalar
    or list of scalars, say the model's output) and the call gives
    ``(value, aux per example), grads``.

    >>> loss = compile_batch(lambda w, x: (w * x).relu(), (1.0, 1.0), batched=[1],
    ...                      penalty=lambda w: 0.5 * w * w)
    >>> loss(3.0, [1.0, -1.0, 2.0])        # mean(3, 0, 6) + 0.5 * 9; slope: mean(1, 0, 2) + 3
    (7.5, 4.0)
    >>> with_outputs = compile_batch(lambda w, x: ((w * x).relu(), w * x), (1.0, 1.0), batched=[1],
    ...                              has_aux=True)
    >>> with_outputs(3.0, [1.0, -1.0])     # the mean, each example's w * x, and the slope
    ((1.5, [3.0, -3.0]), 0.5)
    """
    return CompiledBatch(example_fn, example_args, batched, argnums, penalty, backend, check, has_aux)
