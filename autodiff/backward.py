"""Reverse-mode differentiation: the chain rule applied in reverse topological order.

Both loops below read the one derivative table, :data:`autodiff.rules.RULES`:
the float loop is the everyday backward pass; the general loop records the
backward pass as new `Value` nodes (``create_graph=True``) and/or checks every
gradient for nan/inf (anomaly mode).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from autodiff import modes as _modes
from autodiff.rules import FLOAT_MATH, RULES, VALUE_MATH
from autodiff.value import Value, describe


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its inputs.

    Iterative depth-first search: no recursion, so a chain of a million
    nodes is fine.  A node stays on the stack until both of its inputs
    (``_a``, ``_b``) have been placed, then follows them.

    >>> x = Value(1.0, label='x')
    >>> y = x * 2
    >>> [v.label or v._op or v.data for v in topological_order(y + x)]
    ['x', 2.0, '*', '+']
    """
    order: list[Value] = []
    seen = {root}
    stack = [root]
    while stack:
        node = stack[-1]
        a = node._a
        if a is not None and a not in seen:
            seen.add(a)
            stack.append(a)
            continue
        b = node._b
        if b is not None and b not in seen:
            seen.add(b)
            stack.append(b)
            continue
        stack.pop()  # both inputs placed: the node can follow them
        order.append(node)
    return order


def backward(root: Value, gradient: Value | float = 1.0, create_graph: bool = False) -> None:
    """`Value.backward`: fill in ``.grad`` on the whole graph below ``root``."""
    order = topological_order(root)
    for node in order:
        if node._a is not None:
            node.grad = 0.0  # a non-leaf's gradient is this pass's alone
    root.grad = _seed(gradient) if root._a is not None else root.grad + _seed(gradient)
    _run_chain_rule(order, create_graph)


def gradients(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list:
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
        _run_chain_rule(order, create_graph)
        in_graph = set(order)
        found = [node.grad if node in in_graph else 0.0 for node in inputs]
    finally:
        # Restoring the old gradients also drops the references from this
        # graph's nodes to the recorded gradient graph (no reference cycle).
        for node, old in zip(order, saved):
            node.grad = old
    if create_graph:
        found = [g if isinstance(g, Value) else Value(g) for g in found]
    return found


def _seed(gradient: Value | float) -> Value | float:
    if isinstance(gradient, Value):
        return gradient
    if isinstance(gradient, (int, float)) and not isinstance(gradient, bool):
        return float(gradient)
    raise TypeError(f"backward: gradient must be a number or a Value, got {gradient!r}")


def _run_chain_rule(order: list[Value], create_graph: bool) -> None:
    if create_graph or _modes.anomaly_enabled:
        _chain_rule_general(order, create_graph, check=_modes.anomaly_enabled)
        if create_graph:
            for node in order:
                if not isinstance(node.grad, Value):
                    node.grad = Value(node.grad)
    else:
        _chain_rule_floats(order)


def _chain_rule_floats(order: list[Value]) -> None:
    """The everyday pass: floats in, floats out, one rule call per node.

    The inputs are read from their slots (``_a``, ``_b``) and the partials
    unpacked by hand: it spares a tuple and a zip per node, the bulk of
    the loop's own cost.  A partial of ``None`` marks a constant of the
    operation, which gets no gradient.
    """
    rules = RULES
    m = FLOAT_MATH
    node = None
    try:  # free in CPython 3.11+ unless raised; it lets the error name the node
        for node in reversed(order):
            a = node._a
            if a is None:  # a leaf
                continue
            g = node.grad
            b = node._b
            if b is None:
                (da,) = rules[node._op].partials(m, node.data, a.data)
                a.grad += g * da
            else:
                da, db = rules[node._op].partials(m, node.data, a.data, b.data)
                if da is not None:
                    a.grad += g * da
                if db is not None:
                    b.grad += g * db
    except (ArithmeticError, ValueError, KeyError) as error:
        raise _rule_failed(node, error) from error


def _chain_rule_general(order: list[Value], create_graph: bool, check: bool) -> None:
    """The recorded (``create_graph``) and/or checked (anomaly) pass.

    Recorded: each rule runs on the graph's own nodes with ``m`` =
    VALUE_MATH, so every partial, product and sum becomes a node.
    """
    m = VALUE_MATH if create_graph else FLOAT_MATH
    node = None
    try:
        for node in reversed(order):
            inputs = node._prev
            if not inputs:
                continue
            rule = RULES[node._op]
            if create_graph:
                out = node
                args = [v.data if i in rule.constants else v for i, v in enumerate(inputs)]
            else:
                out = node.data
                args = [v.data for v in inputs]
            g = node.grad
            for parent, d in zip(inputs, rule.partials(m, out, *args)):
                if d is None:
                    continue
                # g * 1 would be a needless node when recording (d == 1 is False for a Value).
                contribution = g if d == 1 else g * d
                if check:
                    _check_gradient(node, parent, contribution)
                old = parent.grad
                parent.grad = contribution if (type(old) is float and old == 0.0) else old + contribution
    except _modes.AnomalyError:
        raise
    except (ArithmeticError, ValueError, KeyError) as error:
        raise _rule_failed(node, error) from error


def _rule_failed(node: Value | None, error: Exception) -> Exception:
    """The error to raise when a node's rule fails: it names the node."""
    if node is None:
        return error
    if isinstance(error, KeyError) and node._op not in RULES:
        return KeyError(
            f"no derivative rule for operation {node._op!r}; known: {', '.join(RULES)}"
        )
    where = f"backward through {node._op}({describe(node._prev)})"
    return type(error)(f"{where}: the local derivative is undefined here ({error})")


def _check_gradient(node: Value, parent: Value, contribution: Value | float) -> None:
    value = contribution.data if isinstance(contribution, Value) else contribution
    if not math.isfinite(value):
        who = repr(parent.label) if parent.label else f"the input {parent.data!r}"
        upstream = node.grad.data if isinstance(node.grad, Value) else node.grad
        raise _modes.AnomalyError(
            f"{node._op} produced a gradient of {value} for {who} in the backward pass; "
            f"inputs: {describe(node._prev)}; upstream gradient: {upstream}"
        )
