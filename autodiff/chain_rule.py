"""The chain rule, written once: one walker over a graph in reverse topological order.

For each operation node, last first, :func:`backpropagate` asks the rule
table (:mod:`autodiff.rules`) for the node's local derivatives ∂out/∂input
and hands each input its contribution ``upstream × local``, where
``upstream`` is the node's ``.grad``.  By the time a node is reached every
node that uses it has passed its share back, so its gradient is complete.

Every consumer of the chain rule is this walker with a different *combine*
(what to do with a contribution) and a different view of the values the rule
sees (*primal*):

* ``backward()`` on floats: ``combine=None``, the contributions are added
  into ``.grad`` right in the loop (the everyday pass);
* ``backward(create_graph=True)``: the rule runs on the nodes themselves and
  :data:`ADD_VALUES` adds Values, so the backward pass is itself recorded;
* anomaly mode: :func:`checked` wraps a combine with a nan/inf check;
* the explainer records a step per contribution; the code generators write
  a line per contribution (``grad_x += ...``) with symbols as primals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from autodiff import modes as _modes
from autodiff.graph import describe, operations_in_order, topological_order
from autodiff.rule_math import FLOAT_MATH, VALUE_MATH, RuleMath
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol, number_text

#: ``combine(node, position, parent, local, contribution)``: what a consumer does with one contribution.
Combine = Callable[[Any, int, Any, Any, Any], None]


def backpropagate(order: Sequence[Any], combine: Combine | None = None, *, m: RuleMath = FLOAT_MATH,
                  primal: Callable[[Any], Any] | None = None, pending: float | None = None) -> None:
    """Apply the chain rule over ``order`` (inputs before outputs), last node first.

    Args:
        order: the graph's nodes in topological order (:func:`topological_order`);
            each node's ``.grad`` holds its upstream gradient when it is reached.
        combine: called with each ``(node, position, parent, local, contribution)``;
            ``None`` adds the contribution into ``parent.grad``.
        m: the namespace the rules run with (floats, Values, symbols, arrays).
        primal: what the rule sees for a node; ``None`` means its float ``.data``.
            Inputs that are constants of the operation are always passed as floats.
        pending: the float zero that :func:`operations_in_order` left in every
            operation node's ``.grad``; a node still holding it has had no
            contribution yet (see the everyday step below).

    >>> from autodiff import Value
    >>> x = Value(3.0)
    >>> y = x * x
    >>> y.grad = 1.0
    >>> backpropagate([x, y])
    >>> x.grad
    6.0
    """
    rules = RULES
    general = primal is not None
    node = None
    try:  # free in CPython 3.11+ unless raised; it lets the error name the node
        for node in reversed(order):
            a = node._a
            if a is None:  # a leaf: nothing to pass on
                continue
            if general:
                step(node, combine, m=m, primal=primal)  # any view, any number of inputs
                continue
            # The everyday pass: floats read straight from the two input slots.
            try:
                rule = rules[node._op]
                b = node._b
                if b is None:
                    (da,) = rule.partials(m, node.data, a.data)
                    db = None
                else:
                    da, db = rule.partials(m, node.data, a.data, b.data)
            except (AttributeError, KeyError):
                # A node built micrograd's way keeps its inputs in a tuple (no
                # ``.data``) and may have its own ``_backward``: the general step
                # handles it.  Raising costs only such nodes; the rest pay nothing.
                step(node, combine, m=m)
                continue
            # The same step for the first input and for the second, written out
            # rather than looped: a loop costs a tuple and an iterator per node.
            # A partial of None marks a constant of the operation: no gradient.
            # An input whose .grad is still ``pending`` (a float zero) takes its
            # first contribution as it is, without the addition 0.0 + c: no new
            # float, and a partial of exactly 1 (as in +) passes the upstream
            # float object itself, so a chain of sums shares one gradient object.
            # ``or 0.0`` keeps the result bit for bit that of 0.0 + c, which is
            # +0.0 for c = -0.0 (and c itself for every other c, nan included).
            upstream = node.grad
            if da is not None:
                if combine is not None:  # upstream * 1 is upstream: skipping it spares a recorded node
                    combine(node, 0, a, da, upstream if da == 1 else upstream * da)
                elif a.grad is pending:
                    a.grad = (upstream if da == 1.0 else upstream * da) or 0.0
                else:
                    a.grad += upstream * da
            if db is not None:
                if combine is not None:
                    combine(node, 1, b, db, upstream if db == 1 else upstream * db)
                elif b.grad is pending:
                    b.grad = (upstream if db == 1.0 else upstream * db) or 0.0
                else:
                    b.grad += upstream * db
    except _modes.AnomalyError:
        raise
    except (ArithmeticError, ValueError, KeyError) as error:
        raise rule_failed(node, error) from error


def step(node: Any, combine: Combine | None = None, *, m: RuleMath = FLOAT_MATH,
         primal: Callable[[Any], Any] | None = None) -> None:
    """One node's share of the chain rule, for any number of inputs (the walker's general case).

    Arguments as for :func:`backpropagate`.  A node built micrograd's way,
    ``Value(data, children, op)``, that was given its own ``_backward``
    runs that instead.

    >>> from autodiff import Value
    >>> x, y = Value(2.0), Value(5.0)
    >>> z = x * y
    >>> z.grad = 1.0
    >>> step(z)
    >>> x.grad, y.grad
    (5.0, 2.0)
    """
    inputs = node._prev
    if not inputs:
        return
    if type(node._a) is tuple:  # built by Value(data, children, op)
        own_step = node.__dict__.get('_backward')
        if own_step is not None:
            own_step()
            return
    rule = RULES[node._op]
    view = _data if primal is None else primal
    local = rule.partials(m, view(node), *[v.data if i in rule.constants else view(v)
                                           for i, v in enumerate(inputs)])
    upstream = node.grad
    for position, (parent, d) in enumerate(zip(inputs, local)):
        if d is None:  # a constant of the operation gets no gradient
            continue
        if combine is None:
            parent.grad += upstream * d
        else:  # upstream * 1 is upstream: skipping it spares a recorded node
            combine(node, position, parent, d, upstream if d == 1 else upstream * d)


def _data(node: Any) -> float:
    return node.data


def add_values(node: Any, position: int, parent: Any, local: Any, contribution: Any) -> None:
    """Combine for a recorded pass: add the contribution to ``parent.grad`` as a Value.

    A parent whose gradient is still the float 0.0 takes the contribution
    itself, so no needless ``0 + ...`` node is recorded.
    """
    old = parent.grad
    parent.grad = contribution if (type(old) is float and old == 0.0) else old + contribution


def checked(combine: Combine) -> Combine:
    """``combine`` preceded by anomaly mode's check: raise `AnomalyError` at the first nan/inf gradient.

    >>> from autodiff import Value
    >>> x = Value(1000.0, label='x')
    >>> y = x.exp()
    >>> y.grad = 1e300
    >>> backpropagate([x, y], checked(add_values))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    autodiff.modes.AnomalyError: exp produced a gradient of inf for 'x' in the backward pass; ...
    """
    def check_then_combine(node: Any, position: int, parent: Any, local: Any, contribution: Any) -> None:
        value = contribution.data if hasattr(contribution, 'data') else contribution
        if not math.isfinite(value):
            who = repr(parent.label) if parent.label else f"the input {parent.data!r}"
            upstream = node.grad.data if hasattr(node.grad, 'data') else node.grad
            raise _modes.AnomalyError(
                f"{node._op} produced a gradient of {value} for {who} in the backward pass; "
                f"inputs: {describe(node._prev)}; upstream gradient: {upstream}"
            )
        combine(node, position, parent, local, contribution)
    return check_then_combine


def backward(root: Any, seed: Any, create_graph: bool = False) -> list:
    """`Value.backward`: fill in ``.grad`` on the whole graph below ``root``; returns its order.

    ``seed`` is ∂root/∂root (a float, or a Value when recording).  The order
    holds every node when recording or checking anomalies, and only the
    operation nodes in the everyday pass (see :func:`operations_in_order`).
    """
    if create_graph or _modes.is_anomaly_enabled():
        order = topological_order(root)
        for node in order:
            if node._a is not None:
                node.grad = 0.0  # a non-leaf's gradient is this pass's alone
        root.grad = seed if root._a is not None else root.grad + seed
        run_chain_rule(order, create_graph)
        return order
    # The everyday pass: the search resets each operation node's gradient to
    # a float zero made for this pass, which tells the walker "no contribution yet".
    placed = float(0)
    order = operations_in_order(root, float(0), placed)
    root.grad = seed if root._a is not None else root.grad + seed
    backpropagate(order, pending=placed)
    return order


def run_chain_rule(order: Sequence[Any], create_graph: bool) -> None:
    """The walker with the consumer that the modes ask for: floats, recorded Values, checked or not."""
    anomaly = _modes.is_anomaly_enabled()
    if not create_graph and not anomaly:
        backpropagate(order)
        return
    combine = checked(add_values) if anomaly else add_values
    if create_graph:
        backpropagate(order, combine, m=VALUE_MATH, primal=_itself)
    else:
        backpropagate(order, combine)


def _itself(node: Any) -> Any:
    return node


def rule_failed(node: Any, error: Exception) -> Exception:
    """The error to raise when a node's rule fails: it names the node.

    >>> from autodiff import Value
    >>> rule_failed(Value(1.0, (Value(2.0, label='x'),), 'cube'), KeyError('cube')).args[0][:40]
    "no derivative rule for operation 'cube';"
    """
    if node is None:
        return error
    if isinstance(error, KeyError) and node._op not in RULES:
        return KeyError(
            f"no derivative rule for operation {node._op!r}; known: {', '.join(RULES)}"
        )
    where = f"backward through {node._op}({describe(node._prev)})"
    return type(error)(f"{where}: the local derivative {local_formulas(node)} is undefined here ({error})")


def local_formulas(node: Any) -> str:
    """The rule's local derivatives for ``node``, written out: ``∂out/∂x = 0.5 / out``.

    >>> from autodiff import Value
    >>> local_formulas(Value(4.0).sqrt())
    '∂out/∂x = 0.5 / out'
    >>> local_formulas(Value(2.0) * Value(3.0))
    '∂out/∂a = b, ∂out/∂b = a'
    """
    rule = RULES[node._op]
    inputs = node._prev
    names = ['x'] if len(inputs) == 1 else [chr(ord('a') + i) for i in range(len(inputs))]
    args = [v.data if i in rule.constants else Symbol(n) for i, (v, n) in enumerate(zip(inputs, names))]
    try:
        written = rule.partials(SYMBOLIC_MATH, Symbol('out'), *args)
    except Exception:  # a rule that branches on its inputs' values has no single formula
        return 'of this operation'
    return ', '.join(f"∂out/∂{n} = {number_text(d) if not isinstance(d, Symbol) else d}"
                     for n, d in zip(names, written) if d is not None)
