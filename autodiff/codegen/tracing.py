"""Tracing: run a function once on `Value` inputs and read its graph back as straight-line steps.

The result, a :class:`Program`, is the intermediate representation every
code generator reads: the arguments' variable names, one :class:`Step`
(``name = op(*operands)``) per operation in topological order, and the
output.  Naming lives here too.  Every identifier of generated code is
positional and starts with an underscore: argument ``i`` is ``_a<i>`` (its
scalars ``_a<i>_<j>``...), step ``k`` is ``_v<k>``, a gradient is ``_g`` and
the name without its underscore (``_gv3``).  A user never writes those names,
and nothing a user wrote (an argument's name, a label, an operation's name)
becomes an identifier: user text appears only in comments (`comment_text`)
and string literals (``repr``), so no name can collide with or break the code.

>>> program = trace(lambda x, y: (x * y + y).tanh(), (0.5, 2.0))
>>> [(s.name, s.op, s.operands) for s in program.steps]
[('_v1', '*', ('_a0', '_a1')), ('_v2', '+', ('_v1', '_a1')), ('_v3', 'tanh', ('_v2',))]
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from autodiff import scalar_math
from autodiff.modes import enable_grad
from autodiff.rules import RULES
from autodiff.symbolic import number_text
from autodiff.value import Value

#: An operand of a step: a variable name, or a constant of the trace.
Operand = str | float
#: Where each scalar of an argument lives: a name, or a list of layouts (nested lists).
Layout = str | list


class TraceMismatchError(RuntimeError):
    """The function recorded different operations for new arguments than when compiled.

    >>> issubclass(TraceMismatchError, RuntimeError)
    True
    """


class Step(NamedTuple):
    """One operation of a trace: ``name = op(*operands)``.

    A named tuple rather than a dataclass: a trace of a million operations
    makes a million steps, and a tuple is the cheapest object to make.

    >>> Step('_v1', '*', ('_a0', 2.0))
    Step(name='_v1', op='*', operands=('_a0', 2.0))
    """

    name: str
    op: str
    operands: tuple[Operand, ...]


@dataclass
class Program:
    """A traced function as straight-line steps: what every backend reads.

    ``layouts[i]`` holds the variable names of argument ``i``'s scalars in
    the argument's own shape; ``steps`` are in topological order (each after
    its operands); ``output`` is the name (or constant) of the result.
    ``name`` and ``arg_names`` are the user's (text for comments and error
    messages, never identifiers); ``labels`` maps a step's name to its
    node's label, for the same comments.

    >>> program = trace(lambda x, y: x * y + 1.0, (2.0, 3.0))
    >>> program.steps
    [Step(name='_v1', op='*', operands=('_a0', '_a1')), Step(name='_v2', op='+', operands=('_v1', 1.0))]
    >>> program.output, program.inputs, program.arg_names
    ('_v2', ['_a0', '_a1'], ['x', 'y'])
    """

    name: str
    arg_names: list[str]
    layouts: list[Layout]
    steps: list[Step]
    output: Operand
    inputs: list[str] = field(default_factory=list)
    #: What a ``has_aux`` function returned beside its value: an operand, or a list of them.
    aux: Operand | list[Operand] | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def signature(self) -> list[tuple]:
        """The program with constants written as text (so nan equals nan), for comparisons."""
        def key(operand: Operand) -> Operand:
            return operand if isinstance(operand, str) else number_text(operand)
        aux = [] if self.aux is None else [('aux', key(a)) for a in aux_list(self.aux)]
        return [(s.name, s.op, tuple(key(o) for o in s.operands)) for s in self.steps] + [
            ('output', key(self.output))] + aux


def trace(fn: Callable[..., Any], example_args: Sequence[Any], *,
          arg_names: Sequence[str] | None = None, prefix: str = '_v', has_aux: bool = False,
          positions: Sequence[int] | None = None) -> Program:
    """Run ``fn`` on `Value` leaves made from ``example_args`` and record its operations.

    Arguments may be numbers, `Value` objects (used as the inputs themselves,
    so a model's own parameters can be inputs), or (nested) lists of them.
    Operations whose operands are all constants are folded to constants.
    With ``has_aux`` the function returns ``(value, aux)``, aux a scalar or a
    list of scalars to be reported (not differentiated), as in JAX.
    Steps are named ``prefix`` and a number; argument ``i`` is ``_a<i>``, or
    ``_a<positions[i]>`` (a penalty traced on some of a batch function's arguments).

    >>> program = trace(lambda w, x: w[0] * x + w[1], ([2.0, 1.0], 3.0))
    >>> program.layouts
    [['_a0_0', '_a0_1'], '_a1']
    >>> [(s.op, s.operands) for s in program.steps]
    [('*', ('_a0_0', '_a1')), ('+', ('_v1', '_a0_1'))]
    """
    names = list(arg_names) if arg_names is not None else _parameter_names(fn, len(example_args))
    positions = list(positions) if positions is not None else list(range(len(example_args)))
    inputs: dict[Value, str] = {}
    layouts, traced_args = [], []
    for position, user_name, arg in zip(positions, names, example_args):
        traced, layout = _make_inputs(arg, f"_a{position}", user_name, inputs)
        traced_args.append(traced)
        layouts.append(layout)
    with enable_grad():
        result = fn(*traced_args)
    result, aux = _checked_result(fn, result, has_aux)
    operand_of: dict[Value, Operand] = dict(inputs)
    # The value's graph first, in the eager order; then whatever only the aux needs.
    roots = [r for r in [result] + aux_list(aux) if isinstance(r, Value)]
    order = [node for root in roots for node in _topological_order(root, inputs)]
    labels: dict[str, str] = {}
    steps = _record_steps(order, operand_of, labels, prefix)
    del order  # the traced graph is freed as soon as its steps are recorded

    def operand(node: Value | numbers.Real) -> Operand:
        return operand_of[node] if isinstance(node, Value) else float(node)
    program_aux = None if aux is None else (
        [operand(a) for a in aux] if isinstance(aux, (list, tuple)) else operand(aux))
    return Program(_function_name(fn), names, layouts, steps, operand(result), list(inputs.values()),
                   program_aux, labels)


def _checked_result(fn: Callable[..., Any], result: Any, has_aux: bool) -> tuple[Any, Any]:
    """``(value, aux)`` from what ``fn`` returned, refusing anything that is not scalar-valued."""
    aux: Any = None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{_function_name(fn)} has aux: it must return (value, aux), got {result!r}")
        result, aux = result
        if not all(isinstance(a, (Value, numbers.Real)) for a in aux_list(aux)):
            raise TypeError(f"{_function_name(fn)}: aux must be a scalar or a list of scalars, got {aux!r}")
    if not isinstance(result, (Value, numbers.Real)):
        raise TypeError(f"{_function_name(fn)} must return a scalar (a Value or a number), got {result!r}")
    return result, aux


def _record_steps(order: list[Value], operand_of: dict[Value, Operand], labels: dict[str, str],
                  prefix: str) -> list[Step]:
    """One step per operation node of ``order``; ``operand_of`` learns each node's name or constant.

    ``labels`` learns the label of every labelled step (for comments only).
    """
    steps: list[Step] = []
    rules = RULES
    uses: dict[Value, int] | None = None
    for node in order:
        if node in operand_of:
            continue
        operands = tuple(operand_of[parent] for parent in node._prev)
        if all(not isinstance(o, str) for o in operands):
            # A leaf that is not an input, or an operation on constants only:
            # its value is the same for every input, so it is a constant.
            operand_of[node] = node.data
            continue
        if node._op == '*' and 1.0 in operands and all(type(o) is str or o == 1.0 for o in operands):
            # x * 1 is x, bit for bit, and so is its gradient when x has no other use
            # (with another, x's contributions would be summed in another order).  A
            # mean over a batch of one writes it in every compiled training step.
            uses = uses if uses is not None else _uses(order)
            factor = next(parent for parent in node._prev if isinstance(operand_of[parent], str))
            if uses[factor] == 1:
                operand_of[node] = operand_of[factor]
                continue
        if node._op not in rules:
            raise ValueError(f"no derivative rule for operation {node._op!r}; known: {', '.join(RULES)}")
        name = f"{prefix}{len(steps) + 1}"
        if node.label:
            labels[name] = node.label
        steps.append(Step(name, node._op, operands))
        operand_of[node] = name
    return steps


def _uses(order: list[Value]) -> dict[Value, int]:
    """How many times each node is an input of a node of ``order``."""
    uses: dict[Value, int] = {}
    for node in order:
        for parent in node._prev:
            uses[parent] = uses.get(parent, 0) + 1
    return uses


def aux_list(aux: Any) -> list:
    """The aux of a ``has_aux`` function as a list (empty for none).

    >>> aux_list(None), aux_list('v1'), aux_list(['v1', 2.0])
    ([], ['v1'], ['v1', 2.0])
    """
    if aux is None:
        return []
    return list(aux) if isinstance(aux, (list, tuple)) else [aux]


def _make_inputs(arg: Any, name: str, shown: str, inputs: dict[Value, str]) -> tuple[Any, Layout]:
    """Leaves for one argument, in its shape, registering each under its variable name.

    ``name`` is the generated variable (``_a0_1``), ``shown`` how errors name it (``w[1]``).
    """
    if isinstance(arg, (Value, numbers.Real)):
        leaf = arg if isinstance(arg, Value) else Value(arg)
        if leaf in inputs:
            raise ValueError(f"the same Value is passed twice: the second time as {shown}")
        inputs[leaf] = name
        return leaf, name
    if isinstance(arg, (str, bytes)) or not hasattr(arg, '__len__'):
        raise TypeError(f"argument {shown}: expected a number, a Value or a list of them, got {arg!r}")
    pairs = [_make_inputs(item, f"{name}_{i}", f"{shown}[{i}]", inputs) for i, item in enumerate(arg)]
    return [traced for traced, _ in pairs], [layout for _, layout in pairs]


def _topological_order(root: Value, inputs: dict[Value, str]) -> list[Value]:
    """`autodiff.graph.topological_order`, stopping at the inputs.

    The same depth-first search as the eager engine, so the backward lines
    come in the eager order and sums of gradients round the same way.
    """
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(() if root in inputs else root._prev))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(() if parent in inputs else parent._prev)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def compare_traces(expected: Program, actual: Program) -> None:
    """Raise `TraceMismatchError` at the first difference between two traces.

    >>> compare_traces(trace(lambda x: x * 2, (1.0,)), trace(lambda x: x * 3, (1.0,)))
    Traceback (most recent call last):
    ...
    autodiff.codegen.tracing.TraceMismatchError: <lambda> records different operations at these \
arguments than when it was compiled: step 1 is now _v1 = *(_a0, 3), was _v1 = *(_a0, 2)
    """
    if expected.layouts != actual.layouts:
        raise TraceMismatchError(f"{expected.name}: the arguments have a different shape than when compiled")
    before, after = expected.signature(), actual.signature()
    for i, (old, new) in enumerate(itertools.zip_longest(before, after)):
        if old != new:
            raise TraceMismatchError(
                f"{expected.name} records different operations at these arguments than when it was "
                f"compiled: step {i + 1} is now {_describe(new)}, was {_describe(old)}")


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return 'missing'
    if entry[0] in ('output', 'aux'):
        return f"the {entry[0]} {entry[1]}"
    name, op, operands = entry
    return f"{name} = {op}({', '.join(operands)})"


# ----------------------------------------------------------------------
# Naming: positional identifiers for the code, user text only in comments and strings.
# ----------------------------------------------------------------------
def grad_name(name: str) -> str:
    """The variable holding ∂output/∂``name`` in generated code.

    >>> grad_name('_v3'), grad_name('_a0_2'), grad_name('_p1')
    ('_gv3', '_ga0_2', '_gp1')
    """
    return '_g' + name[1:]


def op_identifier(op: str) -> str:
    """An operation's name as a piece of an identifier, one to one: ``sq-`` and ``sq+`` stay apart.

    ASCII letters and digits stay; any other character (``_`` too) becomes
    ``_`` + its code point in hex + ``_``, so two names never meet.

    >>> op_identifier('cube'), op_identifier('sq-'), op_identifier('sq+'), op_identifier('µ')
    ('cube', 'sq_2d_', 'sq_2b_', '_b5_')
    """
    return ''.join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in op)


def function_names() -> dict[str, str]:
    """The name the generated code calls each operation's forward function by.

    A function of :mod:`autodiff.scalar_math` (or a builtin such as ``abs``)
    goes by its own name, so a domain error raises the engine's own message;
    a forward function defined elsewhere (an extension's `defrule`) is
    passed in as ``_forward_<op>`` (`op_identifier`).

    >>> names = function_names()
    >>> names['exp'], names['/'], names['abs'], names['tanh']
    ('exp', 'divide', 'abs', 'tanh')
    """
    names = {}
    for op, rule in RULES.items():
        name = getattr(rule.forward, '__name__', '')
        if getattr(scalar_math, name, None) is rule.forward or getattr(builtins, name, None) is rule.forward:
            names[op] = name
        else:
            names[op] = '_forward_' + op_identifier(op)
    return names


def comment_text(text: str) -> str:
    """User text made safe for a comment: on one line, printable, any character kept visible.

    A character that is not printable is written as its escape, ``\\n``:
    that covers every character some reader takes as a line break
    (``\\r``, ``\\x0c``, ``\\x85``, ``\\u2028`` ...), NUL and lone surrogates.
    Printable Unicode (``µ``) stays as it is.

    >>> comment_text('a\\nb # c µ')
    'a\\\\nb # c µ'
    """
    if text.isprintable():
        return text
    # repr escapes exactly the characters that are not printable (never a quote here).
    return ''.join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _parameter_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The names of fn's first ``count`` parameters (``arg0``... where unknown), for messages."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names: list[str] = []
    for i in range(count):
        p = parameters[i] if i < len(parameters) else None
        usable = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        names.append(p.name if p is not None and usable else f"arg{i}")
    return names


def _function_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, '__name__', '')
    return name if isinstance(name, str) and name else 'f'


def flatten_layout(layout: Layout) -> list[str]:
    """The variable names of one argument, in order.

    >>> flatten_layout([['_a0_0_0', '_a0_0_1'], '_a0_1'])
    ['_a0_0_0', '_a0_0_1', '_a0_1']
    """
    return [layout] if isinstance(layout, str) else [n for item in layout for n in flatten_layout(item)]


def argnum_list(argnums: int | Sequence[int] | None, count: int) -> list[int]:
    """The argument positions ``argnums`` chooses (None: all), negatives counted from the end.

    >>> argnum_list(None, 3), argnum_list(-1, 3), argnum_list((1, 0), 3)
    ([0, 1, 2], [2], [1, 0])
    """
    chosen = list(range(count)) if argnums is None else (
        [argnums] if isinstance(argnums, int) else list(argnums))
    for i in chosen:
        if not -count <= i < count:
            raise ValueError(f"argnums {i} is out of range for {count} arguments")
    return [i % count for i in chosen]
