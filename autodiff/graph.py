"""The shape of a recorded graph: the order the chain rule visits it in, and nodes named in messages.

Only structure lives here (a node's inputs are its slots ``_a`` and ``_b``);
what the operations mean is the rule table's business (:mod:`autodiff.rules`).
"""

from __future__ import annotations

from typing import Any


def topological_order(root: Any) -> list:
    """Every node ``root`` depends on, each after all of its inputs.

    Iterative depth-first search: no recursion, so a chain of a million
    nodes is fine.  A node stays on the stack until both of its inputs
    (``_a``, ``_b``; or the tuple in ``_a`` of a node built micrograd's way)
    have been placed, then follows them.

    >>> from autodiff import Value
    >>> x = Value(1.0, label='x')
    >>> y = x * 2
    >>> [v.label or v._op or v.data for v in topological_order(y + x)]
    ['x', 2.0, '*', '+']
    """
    order: list = []
    seen = {root}
    stack = [root]
    while stack:
        node = stack[-1]
        try:
            a = node._a
        except AttributeError:
            # ``node`` is the tuple of inputs of a node built micrograd's way,
            # Value(data, children, op): place its members one at a time, then
            # drop it (it is no node).  An exception costs nothing until raised,
            # so the engine's own nodes pay nothing for this case.
            child = next((c for c in node if c not in seen), None)
            if child is None:
                stack.pop()
            else:
                seen.add(child)
                stack.append(child)
            continue
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


def describe(values: tuple | list) -> str:
    """``x=1.0, 2.5``: each value's data, after its label when it has one.

    >>> from autodiff import Value
    >>> describe((Value(1.0, label='x'), Value(2.5)))
    'x=1.0, 2.5'
    """
    return ', '.join(f"{v.label}={v.data!r}" if v.label else repr(v.data) for v in values)
