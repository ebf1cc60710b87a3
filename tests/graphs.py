"""Graphs several test modules share."""

from __future__ import annotations

from autodiff import Value


def notes_example() -> tuple[Value, Value, Value, Value, Value]:
    """The lecture notes' graph: x=1, y=3, z=-3, p = x + y, g = p * z; returns (g, x, y, z, p)."""
    x, y, z = Value(1.0, label='x'), Value(3.0, label='y'), Value(-3.0, label='z')
    p = x + y
    p.label = 'p'
    g = p * z
    g.label = 'g'
    return g, x, y, z, p
