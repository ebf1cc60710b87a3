"""Tracing: run a function once on `Value` inputs and read its graph back as straight-line steps.

The result, a :class:`Program`, is the intermediate representation every
code generator reads: the arguments' variable names, one :class:`Step`
(``name = op(*operands)``) per operation in topological order, and the
output.  Naming lives here too: which identifiers the generated code owns
(its functions, ``grad_*``), so that user variables are renamed around them.

>>> program = trace(lambda x, y: (x * y + y).tanh(), (0.5, 2.0))
>>> [(s.name, s.op, s.operands) for s in program.steps]
[('v1', '*', ('x', 'y')), ('v2', '+', ('v1', 'y')), ('v3', 'tanh', ('v2',))]
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import keyword
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autodiff import scalar_math
from autodiff.modes import enable_grad
from autodiff.rule_math import RULE_MATH_NAMES
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


@dataclass(frozen=True)
class Step:
    """One operation of a trace: ``name = op(*operands)``.

    >>> Step('v1', '*', ('x', 2.0))
    Step(name='v1', op='*', operands=('x', 2.0))
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

    >>> program = trace(lambda x, y: x * y + 1.0, (2.0, 3.0))
    >>> program.steps
    [Step(name='v1', op='*', operands=('x', 'y')), Step(name='v2', op='+', operands=('v1', 1.0))]
    >>> program.output, program.inputs
    ('v2', ['x', 'y'])
    """

    name: str
    arg_names: list[str]
    layouts: list[Layout]
    steps: list[Step]
    output: Operand
    inputs: list[str] = field(default_factory=list)
    #: What a ``has_aux`` function returned beside its value: an operand, or a list of them.
    aux: Operand | list[Operand] | None = None

    def signature(self) -> list[tuple]:
        """The program with constants written as text (so nan equals nan), for comparisons."""
        def key(operand: Operand) -> Operand:
            return operand if isinstance(operand, str) else number_text(operand)
        aux = [] if self.aux is None else [('aux', key(a)) for a in aux_list(self.aux)]
        return [(s.name, s.op, tuple(key(o) for o in s.operands)) for s in self.steps] + [
            ('output', key(self.output))] + aux


def trace(fn: Callable[..., Any], example_args: Sequence[Any], *,
          arg_names: Sequence[str] | None = None, prefix: str = 'v', taken: set[str] = frozenset(),
          has_aux: bool = False) -> Program:
    """Run ``fn`` on `Value` leaves made from ``example_args`` and record its operations.

    Arguments may be numbers, `Value` objects (used as the inputs themselves,
    so a model's own parameters can be inputs), or (nested) lists of them.
    Operations whose operands are all constants are folded to constants.
    With ``has_aux`` the function returns ``(value, aux)``, aux a scalar or a
    list of scalars to be reported (not differentiated), as in JAX.

    >>> program = trace(lambda w, x: w[0] * x + w[1], ([2.0, 1.0], 3.0))
    >>> program.layouts
    [['w_0', 'w_1'], 'x']
    >>> [(s.op, s.operands) for s in program.steps]
    [('*', ('w_0', 'x')), ('+', ('v1', 'w_1'))]
    """
    names = list(arg_names) if arg_names is not None else _parameter_names(fn, len(example_args))
    inputs: dict[Value, str] = {}
    layouts, traced_args = [], []
    for name, arg in zip(names, example_args):
        traced, layout = _make_inputs(arg, name, inputs)
        traced_args.append(traced)
        layouts.append(layout)
    with enable_grad():
        result = fn(*traced_args)
    result, aux = _checked_result(fn, result, has_aux)
    operand_of: dict[Value, Operand] = dict(inputs)
    # The value's graph first, in the eager order; then whatever only the aux needs.
    roots = [r for r in [result] + aux_list(aux) if isinstance(r, Value)]
    order = [node for root in roots for node in _topological_order(root, inputs)]
    steps = _record_steps(order, operand_of, set(inputs.values()) | reserved_names() | set(taken), prefix)

    def operand(node: Value | numbers.Real) -> Operand:
        return operand_of[node] if isinstance(node, Value) else float(node)
    program_aux = None if aux is None else (
        [operand(a) for a in aux] if isinstance(aux, (list, tuple)) else operand(aux))
    return Program(_function_name(fn), names, layouts, steps, operand(result), list(inputs.values()),
                   program_aux)


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


def _record_steps(order: list[Value], operand_of: dict[Value, Operand], taken: set[str],
                  prefix: str) -> list[Step]:
    """One step per operation node of ``order``; ``operand_of`` learns each node's name or constant."""
    counter = itertools.count(1)
    steps: list[Step] = []
    for node in order:
        if node in operand_of:
            continue
        operands = tuple(operand_of[parent] for parent in node._prev)
        if all(not isinstance(o, str) for o in operands):
            # A leaf that is not an input, or an operation on constants only:
            # its value is the same for every input, so it is a constant.
            operand_of[node] = node.data
            continue
        if node._op not in RULES:
            raise ValueError(f"no derivative rule for operation {node._op!r}; known: {', '.join(RULES)}")
        name = _node_name(node, prefix, counter, taken)
        steps.append(Step(name, node._op, operands))
        operand_of[node] = name
    return steps


def aux_list(aux: Any) -> list:
    """The aux of a ``has_aux`` function as a list (empty for none).

    >>> aux_list(None), aux_list('v1'), aux_list(['v1', 2.0])
    ([], ['v1'], ['v1', 2.0])
    """
    if aux is None:
        return []
    return list(aux) if isinstance(aux, (list, tuple)) else [aux]


def _make_inputs(arg: Any, name: str, inputs: dict[Value, str]) -> tuple[Any, Layout]:
    """Leaves for one argument, in its shape, registering each under its variable name."""
    if isinstance(arg, (Value, numbers.Real)):
        leaf = arg if isinstance(arg, Value) else Value(arg)
        if leaf in inputs:
            raise ValueError(f"the same Value is passed twice, as {inputs[leaf]} and {name}")
        inputs[leaf] = name
        return leaf, name
    if isinstance(arg, (str, bytes)) or not hasattr(arg, '__len__'):
        raise TypeError(f"argument {name}: expected a number, a Value or a list of them, got {arg!r}")
    pairs = [_make_inputs(item, f"{name}_{i}", inputs) for i, item in enumerate(arg)]
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
    autodiff.codegen.tracing.TraceMismatchError: f records different operations at these \
arguments than when it was compiled: step 1 is now v1 = *(x, 3), was v1 = *(x, 2)
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
# Naming: the identifiers generated code owns, and the users' names around them.
# ----------------------------------------------------------------------
def function_names() -> dict[str, str]:
    """The name the generated code calls each operation's forward function by.

    A function of :mod:`autodiff.scalar_math` (or a builtin such as ``abs``)
    goes by its own name, so a domain error raises the engine's own message;
    a forward function defined elsewhere (an extension's `defrule`) is
    passed in as ``forward_<op>``.

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
            names[op] = 'forward_' + ''.join(c if c.isalnum() else '_' for c in op)
    return names


#: Local names of the generated code itself (the batch loop's bookkeeping, builtins it calls).
_GENERATED_LOCALS = {'abs', 'max', 'min', 'len', 'zip', 'math', 'float', 'ValueError',
                     'seed', 'total', 'count', 'example', 'aux', 'np', 'dot', 'zero'}


def reserved_names() -> set[str]:
    """Names the generated code relies on: user variables are renamed around them.

    >>> {'exp', 'xlogy', 'forward_cube', 'seed'} <= reserved_names() | {'forward_cube'}
    True
    """
    public_math = {name for name in dir(scalar_math) if not name.startswith('_')}
    return public_math | RULE_MATH_NAMES | set(function_names().values()) | _GENERATED_LOCALS


def safe_name(name: str, taken: set[str]) -> str:
    """``name``, with underscores appended until it clashes with nothing the code uses.

    A name starting ``grad_`` would pose as a gradient: it gets the prefix ``arg_``.

    >>> safe_name('exp', set()), safe_name('x', {'x'}), safe_name('grad_w', set())
    ('exp_', 'x_', 'arg_grad_w')
    """
    reserved = reserved_names()
    if name.startswith('grad_'):  # appending underscores would never make it safe
        name = 'arg_' + name
    while name in taken or name in reserved or keyword.iskeyword(name) or name.startswith('grad_'):
        name += '_'
    return name


def _parameter_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The names of fn's first ``count`` parameters (``arg0``... where unknown)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names: list[str] = []
    for i in range(count):
        p = parameters[i] if i < len(parameters) else None
        usable = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        names.append(safe_name(p.name if usable else f"arg{i}", set(names)))
    return names


def _node_name(node: Value, prefix: str, counter: Any, taken: set[str]) -> str:
    """The node's label when it is a usable identifier, else ``v1``, ``v2``..."""
    label = node.label
    if label and label.isidentifier() and not keyword.iskeyword(label) and not label.startswith('grad_') \
            and label not in taken:
        taken.add(label)
        return label
    while True:
        name = f"{prefix}{next(counter)}"
        if name not in taken:
            taken.add(name)
            return name


def _function_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, '__name__', '')
    return name if name.isidentifier() and not keyword.iskeyword(name) else 'f'


def flatten_layout(layout: Layout) -> list[str]:
    """The variable names of one argument, in order.

    >>> flatten_layout([['w_0_0', 'w_0_1'], 'w_1'])
    ['w_0_0', 'w_0_1', 'w_1']
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
