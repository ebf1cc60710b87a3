"""Functions in, functions out: `grad`, `value_and_grad`, `gradients` and `gradcheck`.

In the spirit of JAX: ``grad(f)`` is a new function that returns the
derivative of ``f``.  It composes, so ``grad(grad(f))`` is the second
derivative.  All of them are built on one primitive, the chain-rule walker
of :mod:`autodiff.chain_rule`.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, Sequence
from typing import Any

from autodiff.chain_rule import run_chain_rule
from autodiff.graph import topological_order
from autodiff.modes import enable_grad
from autodiff.value import Value


def gradients(output: Value | numbers.Real, inputs: Sequence[Value], create_graph: bool = False) -> list:
    """∂output/∂input for each input, leaving every ``.grad`` as it was.

    The functional form of `backward` (like ``torch.autograd.grad``): the
    answer is returned instead of stored.  An input the output does not
    depend on gets 0.0.

    >>> x, y = Value(2.0), Value(5.0)
    >>> gradients(x * y, [x, y])
    [5.0, 2.0]
    >>> x.grad
    0.0
    """
    if not isinstance(output, Value):  # a constant: nothing depends on the inputs
        zero = Value(0.0) if create_graph else 0.0
        return [zero for _ in inputs]
    order = topological_order(output)
    saved = [node.grad for node in order]
    for node in order:
        node.grad = 0.0
    try:
        output.grad = 1.0
        run_chain_rule(order, create_graph)
        in_graph = set(order)
        found: list[Any] = [node.grad if node in in_graph else 0.0 for node in inputs]
    finally:
        # Restoring the old gradients also drops the references from this
        # graph's nodes to the recorded gradient graph (no reference cycle).
        for node, old in zip(order, saved):
            node.grad = old
    if create_graph:
        found = [g if isinstance(g, Value) else Value(g) for g in found]
    return found


class _Nesting(threading.local):
    """How many `grad`-made functions are running in this thread.

    Inside one, a nested ``grad(g)`` must return a `Value` (not a float) so
    the outer one can differentiate through it.  Per thread, like every
    switch of the engine: another thread's ``grad`` is no reason to trace.
    """

    depth = 0


_nesting = _Nesting()


def value_and_grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0
                   ) -> Callable[..., tuple[Any, Any]]:
    """A function returning ``(f(*args), ∂f/∂args[argnums])``.

    Arguments are numbers (or Values); those not differentiated reach ``f``
    as constant Values, so its body can treat all arguments alike.  For a
    tuple of ``argnums`` the gradient is a tuple.  Called with plain numbers, the results are
    floats; called with `Value` arguments or inside another `grad`, they
    are `Value` graphs that can be differentiated again.

    >>> f = lambda x, y: x * y + y.exp()
    >>> value_and_grad(f, argnums=(0, 1))(2.0, 0.0)
    (1.0, (0.0, 3.0))
    """
    positions = _positions(argnums)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        chosen = _resolve(positions, len(args), f)
        traced = _nesting.depth > 0 or any(isinstance(args[i], Value) for i in chosen)
        values = list(args)
        for i, arg in enumerate(values):
            if i not in chosen and isinstance(arg, numbers.Real):
                # Not differentiated, but still a Value: f may treat all its arguments alike.
                values[i] = Value(_real(arg, i))
        _nesting.depth += 1
        try:
            with enable_grad():  # differentiating works inside no_grad blocks too
                inputs = []
                for i in chosen:
                    if isinstance(values[i], Value):
                        # A fresh node standing for this argument: the gradient
                        # then counts only f's uses of its argument, not uses of
                        # the same Value captured from an enclosing function.
                        values[i] = values[i] + 0.0
                    else:
                        values[i] = Value(_real(values[i], i))
                    inputs.append(values[i])
                out = f(*values, **kwargs)
                if not isinstance(out, (Value, numbers.Real)):
                    raise TypeError(
                        f"{_name(f)} must return a scalar (a Value or a number), got {out!r}"
                    )
                found = gradients(out, inputs, create_graph=traced)
        finally:
            _nesting.depth -= 1
        if not traced:
            out = float(out.data if isinstance(out, Value) else out)
        return out, (found[0] if isinstance(argnums, int) else tuple(found))

    value_and_grad_f.__name__ = f"value_and_grad({_name(f)})"
    value_and_grad_f.__doc__ = f"The value and gradient of {_name(f)}."
    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """A function computing ∂f/∂args[argnums]: a float, or a tuple of them.

    >>> f = lambda x: x ** 3
    >>> grad(f)(2.0)             # 3x² at 2
    12.0
    >>> grad(grad(f))(2.0)       # 6x at 2
    12.0
    >>> grad(grad(grad(f)))(2.0)
    6.0
    """
    both = value_and_grad(f, argnums)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return both(*args, **kwargs)[1]

    grad_f.__name__ = f"grad({_name(f)})"
    grad_f.__doc__ = f"The gradient of {_name(f)}."
    return grad_f


def gradcheck(f: Callable[..., Any], *args: float, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check backward against finite differences at ``args``, with every point inside f's domain.

    For each argument x: numeric = (f(x + eps) - f(x - eps)) / (2 eps), and
    it passes when |analytic - numeric| <= atol + rtol * |numeric|.
    Returns True, or raises AssertionError with one line per argument.

    Near the edge of f's domain (``sqrt`` or ``log`` at x = 1e-7, where
    x - eps < 0) a point outside would raise or give nan: the step is then
    shrunk until both points are inside, and well inside (a 64th of the
    first step that fits, so the curvature near the edge does not spoil
    the difference); when x sits on the edge itself, a one-sided
    difference is taken on the side where f is defined; when f is defined
    on neither side, a ``ValueError`` says so in one line.  Each line of
    the report names the difference used.

    >>> gradcheck(lambda x, y: (x * y).tanh(), 0.3, -1.2)
    True
    >>> gradcheck(lambda x: x.sqrt(), 1e-7)       # x - 1e-6 would be outside sqrt's domain
    True
    """
    if not args:
        raise ValueError("gradcheck needs at least one argument to differentiate")
    if not eps > 0 or not math.isfinite(eps):
        raise ValueError(f"gradcheck: eps must be positive (and finite), got {eps!r}")
    point = [_real(a.data if isinstance(a, Value) else a, i) for i, a in enumerate(args)]
    analytic = grad(f, argnums=tuple(range(len(point))))(*point)

    lines, ok = [], True
    for i, slope in enumerate(analytic):
        numeric, how = _numeric_slope(f, point, i, eps)
        tolerance = atol + rtol * abs(numeric)
        passed = abs(slope - numeric) <= tolerance or (math.isnan(slope) and math.isnan(numeric))
        ok = ok and passed
        lines.append(
            f"  input {i} = {point[i]!r}: analytic {slope!r}, numeric {numeric!r} ({how}), "
            f"difference {abs(slope - numeric):.3g}, tolerance {tolerance:.3g} "
            f"{'ok' if passed else 'MISMATCH'}"
        )
    if not ok:
        raise AssertionError(f"gradcheck failed for {_name(f)}:\n" + "\n".join(lines))
    return True


#: How many times `gradcheck` halves a step that leaves f's domain before giving up on a central difference.
_HALVINGS = 40
#: Once a central step fits inside the domain, it is divided by this, to stay clear of the edge's curvature.
_MARGIN = 64


def _numeric_slope(f: Callable[..., Any], point: list[float], i: int, eps: float) -> tuple[float, str]:
    """A finite-difference ∂f/∂x_i whose points all lie where f is defined, and which difference it is."""
    centre = _evaluate(f, point, i, 0.0)
    step = eps
    for _ in range(_HALVINGS + 1):
        up, down = _inside(f, point, i, step, centre), _inside(f, point, i, -step, centre)
        if up is not None and down is not None:
            if step == eps:
                return (up - down) / (2 * eps), 'central'
            step /= _MARGIN  # the first step that fits may still straddle a steep edge
            up, down = _inside(f, point, i, step, centre), _inside(f, point, i, -step, centre)
            if up is not None and down is not None:
                return (up - down) / (2 * step), f"central, step {step:.3g} to stay inside f's domain"
        step /= 2
    # x is on the edge: a second-order one-sided difference, on the side where f is defined.
    for side, name, outside in ((1.0, 'forward', 'x - eps'), (-1.0, 'backward', 'x + eps')):
        near, far = _inside(f, point, i, side * eps, centre), _inside(f, point, i, 2 * side * eps, centre)
        if near is not None and far is not None:
            slope = side * (-3 * centre + 4 * near - far) / (2 * eps)
            return slope, f"one-sided {name}: {outside} is outside f's domain"
    raise ValueError(f"gradcheck: {_name(f)} is not defined on either side of input {i} = {point[i]!r} "
                     f"(within {eps:g}), so no finite difference can check it")


def _inside(f: Callable[..., Any], point: list[float], i: int, step: float, centre: float) -> float | None:
    """f with input i moved by ``step``; None when that point is outside f's domain.

    Outside means f raises a domain error there, or gives nan or inf where
    its value at the point itself is a finite number.
    """
    try:
        value = _evaluate(f, point, i, step)
    except (ValueError, ArithmeticError):
        return None
    if math.isfinite(centre) and not math.isfinite(value):
        return None
    return value


def _evaluate(f: Callable[..., Any], point: list[float], i: int, step: float) -> float:
    shifted = [Value(x + step) if j == i else Value(x) for j, x in enumerate(point)]
    out = f(*shifted)
    return float(out.data if isinstance(out, Value) else out)


def _positions(argnums: int | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(argnums, bool) or not isinstance(argnums, (int, tuple)):
        raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
    positions = (argnums,) if isinstance(argnums, int) else argnums
    if not positions or not all(isinstance(i, int) and not isinstance(i, bool) for i in positions):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    return positions


def _resolve(positions: tuple[int, ...], count: int, f: Callable) -> list[int]:
    resolved = []
    for i in positions:
        if not -count <= i < count:
            raise IndexError(
                f"argnums {i} is out of range: {_name(f)} was called with {count} positional argument(s)"
            )
        resolved.append(i % count)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"argnums {positions} names the same argument twice")
    return resolved


def _real(x: Any, position: int) -> float:
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"argument {position} must be a real number or a Value, got {x!r}")


def _name(f: Callable) -> str:
    return getattr(f, '__name__', type(f).__name__)
