"""Compiled mode: trace a function once, then run generated straight-line Python.

An eager step builds a `Value` per operation and walks the graph to apply
the chain rule.  When the *sequence* of operations is the same for every
input (true of any function that does not branch on ``.data``: an MLP's
relu is a branch-free operation), that work can be done once.  `compile`
runs the function on `Value` inputs, records the graph, and writes it down
as a Python function: one line per operation forward, then one line per
local derivative backward, each read from the engine's one rule table
(:data:`autodiff.rules.RULES`, turned into source by :mod:`autodiff.symbolic`).
The generated function works on plain floats, so no node is ever built.

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
def f(x, y):
    # forward: one line per operation
    v1 = x * y
    v2 = v1 + y
    v3 = tanh(v2)
    # backward: grad_v is ∂f/∂v, from the output back to the inputs
    grad_v3 = 1.0
    grad_v2 = grad_v3 * (1 - v3 * v3)  # tanh: ∂v3/∂v2 = 1 - v3 * v3
    grad_v1 = grad_v2  # +: ∂v2/∂v1 = 1
    grad_y = grad_v2  # +: ∂v2/∂y = 1
    grad_x = grad_v1 * y  # *: ∂v1/∂x = y
    grad_y += grad_v1 * x  # *: ∂v1/∂y = x
    return v3, (grad_x, grad_y)

**When the function branches on values.**  The trace records the operations
that ran for the example arguments.  Code such as ``if h.data > 0: ...`` or
``x * x.data`` (a value used as a constant) gives a program that is right
for the example and silently wrong where the branch would go the other way.
`compile(..., check=True)` re-traces the function at every call and raises
`TraceMismatchError` when the operations, their wiring or their constants
differ; `CompiledFunction.check` does the same for chosen validation points.
Operations whose results do not reach the output are not part of the graph,
so they are not compiled: an error such a dead operation would raise in
eager mode does not happen.  Values the function reads from outside its arguments (a model's parameters
captured in a closure) are constants of the trace, frozen at their traced
values: pass them as arguments (the very `Value` objects work, see
`compile`) to differentiate with respect to them.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import keyword
import linecache
import numbers
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autodiff import scalar_math
from autodiff.modes import enable_grad
from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol, number_text
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
        aux = [] if self.aux is None else [('aux', key(a)) for a in _aux_list(self.aux)]
        return [(s.name, s.op, tuple(key(o) for o in s.operands)) for s in self.steps] + [
            ('output', key(self.output))] + aux


# ----------------------------------------------------------------------
# Tracing: run the function on Values and read the graph back.
# ----------------------------------------------------------------------
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
    aux: Any = None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{_function_name(fn)} has aux: it must return (value, aux), got {result!r}")
        result, aux = result
        if not all(isinstance(a, (Value, numbers.Real)) for a in _aux_list(aux)):
            raise TypeError(f"{_function_name(fn)}: aux must be a scalar or a list of scalars, got {aux!r}")
    if not isinstance(result, (Value, numbers.Real)):
        raise TypeError(f"{_function_name(fn)} must return a scalar (a Value or a number), got {result!r}")

    operand_of: dict[Value, Operand] = dict(inputs)
    taken = set(inputs.values()) | _RESERVED | set(taken)
    counter = itertools.count(1)
    steps: list[Step] = []
    # The value's graph first, in the eager order; then whatever only the aux needs.
    roots = [r for r in [result] + _aux_list(aux) if isinstance(r, Value)]
    order = [node for root in roots for node in _topological_order(root, inputs)]
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
    def operand(node: Value | numbers.Real) -> Operand:
        return operand_of[node] if isinstance(node, Value) else float(node)
    program_aux = None if aux is None else (
        [operand(a) for a in aux] if isinstance(aux, (list, tuple)) else operand(aux))
    return Program(_function_name(fn), names, layouts, steps, operand(result), list(inputs.values()),
                   program_aux)


def _aux_list(aux: Any) -> list:
    """The aux of a ``has_aux`` function as a list (empty for none)."""
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


def _parameter_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The names of fn's first ``count`` parameters (``arg0``... where unknown)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names = []
    for i in range(count):
        p = parameters[i] if i < len(parameters) else None
        usable = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        names.append(_safe_name(p.name if usable else f"arg{i}", set(names)))
    return names


def _safe_name(name: str, taken: set[str]) -> str:
    """``name``, with underscores appended until it clashes with nothing the code uses."""
    while name in taken or name in _RESERVED or keyword.iskeyword(name) or name.startswith('grad_'):
        name += '_'
    return name


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


# ----------------------------------------------------------------------
# Writing code: forward expressions from rule.forward, derivatives from the
# rules themselves, evaluated on symbols.
# ----------------------------------------------------------------------
#: Forward functions written as Python operators (the engine computes them so too).
INFIX = {operator.add: '+', operator.sub: '-', operator.mul: '*'}


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


def namespace() -> dict[str, Any]:
    """The globals of generated Python code: the float functions, by name.

    >>> namespace()['heaviside'](2.0, 0.0)
    1.0
    """
    space: dict[str, Any] = {name: getattr(scalar_math, name) for name in dir(scalar_math)
                             if not name.startswith('_')}
    space.update({name: getattr(FLOAT_MATH, name) for name in RULE_MATH_NAMES})
    for op, name in function_names().items():
        space.setdefault(name, RULES[op].forward)
    return space


#: Names the generated code relies on: user variables are renamed around them.
_RESERVED = set(namespace()) | {'abs', 'max', 'min', 'len', 'zip', 'math', 'float', 'ValueError',
                                'seed', 'total', 'count', 'example', 'aux'}


def operand_text(operand: Operand) -> str:
    """A variable's name, or a constant written as a literal.

    >>> operand_text('v1'), operand_text(2.0), operand_text(-0.5)
    ('v1', '2', '-0.5')
    """
    return operand if isinstance(operand, str) else number_text(operand)


def forward_expression(step: Step, names: dict[str, str]) -> str:
    """The right-hand side computing a step: infix for + - * and negation, else a call.

    >>> forward_expression(Step('v2', '+', ('v1', 1.0)), function_names())
    'v1 + 1'
    >>> forward_expression(Step('v3', '**', ('v2', 3.0)), function_names())
    'power(v2, 3)'
    """
    forward = RULES[step.op].forward
    texts = [operand_text(o) for o in step.operands]
    if forward in INFIX:
        left, right = texts
        # Negative literals on the right keep their meaning: "v1 - -2" is legal Python.
        return f"{left} {INFIX[forward]} {right}"
    if forward is operator.neg:
        return f"-{texts[0]}"
    return f"{names[step.op]}({', '.join(texts)})"


def local_derivatives(step: Step) -> list[tuple[int, Symbol | float]]:
    """(position, ∂step/∂operand) for each operand that is a variable, from the rule table.

    The rule runs on symbols (constants stay numbers), so the result is the
    rule's own formula written in this step's variable names.

    >>> [(i, str(d)) for i, d in local_derivatives(Step('v2', 'tanh', ('v1',)))]
    [(0, '1 - v2 * v2')]
    >>> [(i, str(d)) for i, d in local_derivatives(Step('v2', '*', ('v1', 3.0)))]
    [(0, '3.0')]
    """
    rule = RULES[step.op]
    args = [Symbol(o) if isinstance(o, str) else o for o in step.operands]
    partials = rule.partials(SYMBOLIC_MATH, Symbol(step.name), *args)
    return [(i, d) for i, (operand, d) in enumerate(zip(step.operands, partials))
            if isinstance(operand, str) and d is not None and i not in rule.constants]


def derivative_text(d: Symbol | float) -> str:
    """A local derivative as written in a comment."""
    return str(d) if isinstance(d, Symbol) else number_text(d)


def wanted_names(steps: Sequence[Step], inputs: set[str]) -> set[str]:
    """The inputs whose gradients are asked for, and every step that depends on one.

    Only these need a gradient: the backward pass skips the rest (an MLP's
    data inputs, for example), which saves a line per product they enter.

    >>> steps = trace(lambda w, x: w * x + x, (1.0, 2.0)).steps
    >>> sorted(wanted_names(steps, {'w'}))
    ['v1', 'v2', 'w']
    """
    wanted = set(inputs)
    for step in steps:
        if any(o in wanted for o in step.operands):
            wanted.add(step.name)
    return wanted


def backward_contributions(steps: Sequence[Step], seeded: set[str], wanted: set[str]):
    """The chain rule over ``steps``, last first: (step, target, local derivative, contribution).

    ``seeded`` names already hold a gradient.  A gradient is complete when
    its step is reached, because every consumer of a step comes later in
    topological order.  Targets outside ``wanted`` are skipped.
    """
    has_grad = set(seeded)
    for step in reversed(steps):
        if step.name not in has_grad:
            continue  # nothing flows back through this step
        upstream = Symbol('grad_' + step.name)
        for i, d in local_derivatives(step):
            target = step.operands[i]
            if target not in wanted:
                continue
            contribution = upstream * d  # folds grad * 1 to grad, grad * -1 to -grad
            if not isinstance(contribution, Symbol) and contribution == 0:
                continue  # a constant zero slope (x ** 0) adds nothing
            has_grad.add(target)
            yield step, target, d, contribution


def backward_lines(steps: Sequence[Step], seeded: set[str], accumulators: set[str], wanted: set[str],
                   indent: str) -> tuple[list[str], set[str]]:
    """The chain rule as Python lines: one line per local derivative.

    ``accumulators`` are initialised before and only ever added to.
    Returns the lines and the names that received a gradient.
    """
    lines = []
    has_grad = set(seeded) | set(accumulators)
    for step, target, d, contribution in backward_contributions(steps, has_grad, wanted):
        assign = '+=' if target in has_grad else '='
        has_grad.add(target)
        lines.append(f"{indent}grad_{target} {assign} {derivative_text(contribution)}"
                     f"  # {step.op}: ∂{step.name}/∂{target} = {derivative_text(d)}")
    return lines, has_grad


def _grads_text(layout: Layout, has_grad: set[str]) -> str:
    """The gradients of one argument, in the argument's shape."""
    if isinstance(layout, str):
        return f"grad_{layout}" if layout in has_grad else '0.0'
    return '[' + ', '.join(_grads_text(item, has_grad) for item in layout) + ']'


def _batch_count_lines(plan: BatchPlan) -> list[str]:
    """Generated lines that set ``count``, the batch size, and refuse ragged or empty batches."""
    params = plan.parameters
    first = params[plan.batched[0]]
    lines = [f"    count = len({first})"]
    for i in plan.batched[1:]:
        lines += [f"    if len({params[i]}) != count:",
                  f"        raise ValueError(f'{params[i]} has {{len({params[i]})}} examples, "
                  f"{first} has {{count}}')"]
    return lines + ["    if count == 0:",
                    "        raise ValueError('the mean over an empty batch is undefined')"]


def _unpack_lines(name: str, layout: Layout, indent: str) -> list[str]:
    """``w_0, w_1 = w``: the scalars of a list argument as local variables."""
    if isinstance(layout, str):
        return []

    def targets(item: Layout) -> str:
        return item if isinstance(item, str) else '(' + ', '.join(map(targets, item)) + (
            ',)' if len(item) == 1 else ')')
    text = ', '.join(targets(item) for item in layout)
    if len(layout) == 1:
        text += ','
    if not layout:
        return [f"{indent}if len({name}) != 0:", f"{indent}    raise ValueError('{name} must be empty')"]
    return [f"{indent}{line}" for line in _wrap(f"({text}) = {name}")]


def _wrap(line: str, width: int = 100) -> list[str]:
    """Split a long unpacking line after commas (inside its parentheses)."""
    if len(line) <= width:
        return [line]
    pieces, current = [], ''
    for part in line.split(', '):
        if current and len(current) + len(part) + 2 > width:
            pieces.append(current + ',')
            current = '    ' + part
        else:
            current = f"{current}, {part}" if current else part
    return pieces + [current]


def _flatten(layout: Layout) -> list[str]:
    """The variable names of one argument, in order."""
    return [layout] if isinstance(layout, str) else [n for item in layout for n in _flatten(item)]


def _argnum_list(argnums: int | Sequence[int] | None, count: int) -> list[int]:
    chosen = list(range(count)) if argnums is None else (
        [argnums] if isinstance(argnums, int) else list(argnums))
    for i in chosen:
        if not -count <= i < count:
            raise ValueError(f"argnums {i} is out of range for {count} arguments")
    return [i % count for i in chosen]


def _grads_return(layouts: list[Layout], chosen: list[int], argnums: Any, has_grad: set[str]) -> str:
    texts = [_grads_text(layouts[i], has_grad) for i in chosen]
    if isinstance(argnums, int):
        return texts[0]
    return '(' + ', '.join(texts) + (',)' if len(texts) == 1 else ')')


def python_source(program: Program, argnums: int | Sequence[int] | None = None) -> str:
    """The generated Python function for ``program``: forward, then backward.

    >>> print(python_source(trace(lambda x: x.exp() * 3.0, (1.0,)), argnums=0))
    def f(x):
        # forward: one line per operation
        v1 = exp(x)
        v2 = v1 * 3
        # backward: grad_v is ∂f/∂v, from the output back to the inputs
        grad_v2 = 1.0
        grad_v1 = grad_v2 * 3  # *: ∂v2/∂v1 = 3
        grad_x = grad_v1 * v1  # exp: ∂v1/∂x = v1
        return v2, grad_x
    """
    chosen = _argnum_list(argnums, len(program.layouts))
    lines = [f"def {program.name}({', '.join(program.arg_names)}):"]
    for name, layout in zip(program.arg_names, program.layouts):
        lines += _unpack_lines(name, layout, '    ')
    lines.append('    # forward: one line per operation')
    names = function_names()
    lines += [f"    {s.name} = {forward_expression(s, names)}" for s in program.steps]
    lines.append(f"    # backward: grad_v is ∂{program.name}/∂v, from the output back to the inputs")
    seeded = set()
    if isinstance(program.output, str):
        lines.append(f"    grad_{program.output} = 1.0")
        seeded.add(program.output)
    wanted = wanted_names(program.steps, {name for i in chosen for name in _flatten(program.layouts[i])})
    more, has_grad = backward_lines(program.steps, seeded, set(), wanted, '    ')
    lines += more
    grads = _grads_return(program.layouts, chosen, argnums, has_grad)
    lines.append(f"    return {operand_text(program.output)}, {grads}")
    return '\n'.join(lines)


_source_counter = itertools.count(1)


def build(source: str, name: str, space: dict[str, Any]) -> Callable[..., Any]:
    """Compile generated source and return its function.

    The source is registered with :mod:`linecache`, so a traceback (a
    domain error, say) shows the generated line that failed.

    >>> build('def double(x):\\n    return 2 * x\\n', 'double', {})(4.0)
    8.0
    """
    filename = f"<autodiff.compile {name} #{next(_source_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = builtins.compile(source, filename, 'exec')
    scope: dict[str, Any] = dict(space)
    exec(code, scope)  # noqa: S102 - the code is ours, generated from the rule table
    return scope[name]


# ----------------------------------------------------------------------
# The compiled function.
# ----------------------------------------------------------------------
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
        self.source = python_source(self.program, argnums)
        self.function = build(self.source, self.program.name, namespace())
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
        autodiff.compile.TraceMismatchError: f records different operations at these arguments \
than when it was compiled: step 1 is now v1 = neg(x), was v1 = *(x, 2)
        """
        retraced = trace(self.fn, args, arg_names=self.program.arg_names)
        compare_traces(self.program, retraced)
        return True


def compare_traces(expected: Program, actual: Program) -> None:
    """Raise `TraceMismatchError` at the first difference between two traces."""
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
    if entry[0] == 'output':
        return f"the output {entry[1]}"
    name, op, operands = entry
    return f"{name} = {op}({', '.join(operands)})"


def compile(fn: Callable[..., Any], example_args: Sequence[Any], *,
            argnums: int | Sequence[int] | None = None, check: bool = False) -> CompiledFunction:
    """Trace ``fn`` at ``example_args`` and return a `CompiledFunction` for new arguments.

    ``fn`` takes numbers or lists of numbers (as `Value` objects while
    tracing) and returns a scalar.  The compiled function takes plain
    floats (and lists) of the same shape and returns ``(value, grads)``.
    ``argnums`` (an int or tuple, default: every argument) chooses which
    gradients to return; ``check=True`` re-traces at every call to catch
    functions that branch on ``.data`` (slow: a debugging aid).

    >>> f = compile(lambda x, y: x / y, (1.0, 2.0))
    >>> f(3.0, 4.0)
    (0.75, (0.25, -0.1875))
    """
    return CompiledFunction(fn, example_args, argnums, check)


# ----------------------------------------------------------------------
# Batches: the per-example function, looped (or vectorized) over examples.
# ----------------------------------------------------------------------
@dataclass
class BatchPlan:
    """How a per-example program runs over a batch: what is per example, what once.

    ``batched`` are the positions of the arguments that hold one entry per
    example; the others (the parameters) are shared.  Steps that read
    shared arguments only are *hoisted*: computed once per batch, with
    their gradients summed over the examples (the chain rule is linear).
    ``accumulators`` are the shared names whose gradients sum over examples.
    """

    example: Program
    penalty: Program | None
    batched: list[int]
    chosen: list[int]
    parameters: list[str]
    batched_names: set[str]
    hoisted: list[Step]
    looped: list[Step]
    wanted: set[str]
    penalty_wanted: set[str]
    accumulators: list[str]
    argnums: int | Sequence[int] | None

    @property
    def shared(self) -> list[int]:
        return [i for i in range(len(self.example.layouts)) if i not in self.batched]


def plan_batch(example: Program, penalty: Program | None, batched: Sequence[int],
               argnums: int | Sequence[int] | None) -> BatchPlan:
    """Split ``example`` into per-batch and per-example steps (see `BatchPlan`).

    >>> plan = plan_batch(trace(lambda w, x: w * w * x, (1.0, 2.0)), None, [1], None)
    >>> [s.name for s in plan.hoisted], [s.name for s in plan.looped], plan.accumulators
    (['v1'], ['v2'], ['w', 'v1'])
    """
    count = len(example.layouts)
    batched = _argnum_list(list(batched), count)
    if not batched:
        raise ValueError("a batch function needs at least one batched argument")
    shared = [i for i in range(count) if i not in batched]
    chosen = shared if argnums is None else _argnum_list(argnums, count)
    if any(i in batched for i in chosen):
        raise ValueError("gradients are summed over the batch only for shared (unbatched) arguments")
    taken = {n for layout in example.layouts for n in _flatten(layout)} | {s.name for s in example.steps}
    parameters = [_safe_name(f"{name}_batch", taken) if i in batched else name
                  for i, name in enumerate(example.arg_names)]
    batched_names = {n for i in batched for n in _flatten(example.layouts[i])}
    hoisted, looped = [], []
    for step in example.steps:
        if any(o in batched_names for o in step.operands):
            batched_names.add(step.name)
            looped.append(step)
        else:
            hoisted.append(step)
    chosen_inputs = {n for i in chosen for n in _flatten(example.layouts[i])}
    wanted = wanted_names(example.steps, chosen_inputs)
    penalty_wanted = wanted_names(penalty.steps, chosen_inputs) if penalty else set()
    accumulators = [n for i in chosen for n in _flatten(example.layouts[i])]
    accumulators += [s.name for s in hoisted if s.name in wanted]
    return BatchPlan(example, penalty, batched, chosen, parameters, batched_names, hoisted, looped,
                     wanted, penalty_wanted, accumulators, argnums)


def python_batch_source(plan: BatchPlan) -> str:
    """Generated Python for the mean of the example function over a batch, and its gradient.

    The example's straight-line code is the body of a loop over examples:
    small enough for CPython to compile quickly, and the shared gradients
    are running sums (``+=``) across iterations.
    """
    example, names, params = plan.example, plan.example.arg_names, plan.parameters
    accumulators = set(plan.accumulators)
    fnames = function_names()
    lines = [f"def {example.name}_batch({', '.join(params)}):"]
    for i in plan.shared:
        lines += _unpack_lines(names[i], example.layouts[i], '    ')
    lines += _batch_count_lines(plan)
    if plan.hoisted:
        lines.append('    # once per batch: operations on the shared arguments only')
        lines += [f"    {s.name} = {forward_expression(s, fnames)}" for s in plan.hoisted]
    lines.append('    # gradients of the shared values, summed over the examples')
    lines += [f"    grad_{n} = 0.0" for n in plan.accumulators]
    lines.append("    seed = 1 / count  # ∂mean/∂(one example's value)")
    lines.append("    total = 0.0")
    if example.aux is not None:
        lines.append("    aux = []  # one entry per example")
    targets = ', '.join(names[i] for i in plan.batched)
    sources = params[plan.batched[0]] if len(plan.batched) == 1 else \
        f"zip({', '.join(params[i] for i in plan.batched)})"
    lines.append(f"    for {targets} in {sources}:")
    for i in plan.batched:
        lines += _unpack_lines(names[i], example.layouts[i], '        ')
    lines.append('        # forward: one line per operation')
    lines += [f"        {s.name} = {forward_expression(s, fnames)}" for s in plan.looped]
    output = example.output
    lines.append(f"        total += {operand_text(output)}")
    if example.aux is not None:
        lines.append(f"        aux.append({aux_text(example.aux)})")
    lines.append('        # backward: grad_v is ∂(this example\'s value)/∂v, times seed')
    seeded = set()
    if output in plan.batched_names:
        lines.append(f"        grad_{output} = seed")
        seeded.add(output)
    elif output in accumulators:
        lines.append(f"        grad_{output} += seed")
    more, _ = backward_lines(plan.looped, seeded, accumulators, plan.wanted, '        ')
    lines += more
    if plan.hoisted:
        lines.append('    # backward through the once-per-batch operations')
        more, _ = backward_lines(plan.hoisted, set(), accumulators, plan.wanted, '    ')
        lines += more
    lines.append('    value = total / count')
    lines += _penalty_lines(plan, accumulators, fnames)
    grads = _grads_return(example.layouts, plan.chosen, plan.argnums, accumulators)
    lines.append(f"    return {'(value, aux)' if example.aux is not None else 'value'}, {grads}")
    return '\n'.join(lines)


def aux_text(aux: Operand | list[Operand]) -> str:
    """One example's aux as a Python expression: a name or literal, or a list of them.

    >>> aux_text('v3'), aux_text(['v1', 2.0])
    ('v3', '[v1, 2]')
    """
    if isinstance(aux, list):
        return '[' + ', '.join(map(operand_text, aux)) + ']'
    return operand_text(aux)


def _penalty_lines(plan: BatchPlan, accumulators: set[str], fnames: dict[str, str]) -> list[str]:
    """The penalty (a function of the shared arguments), added once: forward and backward."""
    penalty = plan.penalty
    if penalty is None:
        return []
    lines = [f"    # the penalty {penalty.name}, added once per batch"]
    lines += [f"    {s.name} = {forward_expression(s, fnames)}" for s in penalty.steps]
    seeded = set()
    if penalty.output in {s.name for s in penalty.steps}:
        lines.append(f"    grad_{penalty.output} = 1.0")
        seeded.add(penalty.output)
    elif penalty.output in accumulators:
        lines.append(f"    grad_{penalty.output} += 1.0")
    more, _ = backward_lines(penalty.steps, seeded, accumulators, plan.penalty_wanted, '    ')
    return lines + more + [f"    value += {operand_text(penalty.output)}"]


class CompiledBatch:
    """A per-example function compiled for whole batches: ``value, grads = f(*args)``.

    ``value`` is the mean of the example function over the batch (plus the
    penalty, if any), ``grads`` its gradient with respect to the shared
    arguments (all of them unless ``argnums`` chose), in their shapes.
    With ``has_aux`` the call returns ``(value, aux), grads``: ``aux`` has
    one entry per example, what the example function returned beside its value.

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
        self.example = trace(example_fn, example_args, has_aux=has_aux)
        self.penalty = None
        batched_positions = _argnum_list(list(batched), len(example_args))
        shared = [i for i in range(len(example_args)) if i not in batched_positions]
        if penalty is not None:
            taken = {s.name for s in self.example.steps} | set(self.example.inputs)
            self.penalty = trace(penalty, [example_args[i] for i in shared], prefix='p', taken=taken,
                                 arg_names=[self.example.arg_names[i] for i in shared])
        self.plan = plan_batch(self.example, self.penalty, batched, argnums)
        self.backend = _choose_backend(backend)
        if self.backend == 'numpy':
            from autodiff import compile_numpy  # NumPy is optional: imported only when asked for

            self.source = compile_numpy.numpy_batch_source(self.plan)
            self._run = compile_numpy.wrap(build(self.source, f"{self.example.name}_batch",
                                                 compile_numpy.namespace()))
        else:
            self.source = python_batch_source(self.plan)
            self._run = build(self.source, f"{self.example.name}_batch", namespace())
        self.__name__ = f"{self.example.name}_batch"

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


def _choose_backend(backend: str) -> str:
    if backend == 'auto':
        try:
            import numpy  # noqa: F401 - only asking whether it is installed
        except ImportError:
            return 'python'
        return 'numpy'
    if backend not in ('python', 'numpy'):
        raise ValueError(f"unknown backend {backend!r}: use 'python', 'numpy' or 'auto'")
    return backend


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
    or ``'auto'`` (NumPy when installed).  ``has_aux=True``: ``example_fn``
    returns ``(value, aux)`` (aux: a scalar or list of scalars, say the
    model's output) and the call gives ``(value, aux per example), grads``.

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
