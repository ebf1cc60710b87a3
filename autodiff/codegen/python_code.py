"""Writing a traced program down as straight-line Python: forward lines, then backward lines.

Forward, each step is one line computed by the operation's forward function
from the rule table (``v2 = tanh(v1)``; ``+ - *`` and negation as operators).
Backward, nothing is derived here: the engine's one chain-rule walker
(:func:`autodiff.chain_rule.backpropagate`) walks the steps, last first,
with symbols in place of numbers (:data:`GENERATED_CODE_MATH`, the symbolic math),
and hands over each ``upstream × local`` contribution as a formula; this
module writes it as a line, ``grad_x += <contribution>  # op: ∂out/∂x = <local>``.

>>> from autodiff.codegen.tracing import trace
>>> print(python_source(trace(lambda x, y: x * y, (1.0, 2.0))))
def f(x, y):
    # forward: one line per operation
    v1 = x * y
    # backward: grad_v is ∂f/∂v, from the output back to the inputs
    grad_v1 = 1.0
    grad_x = grad_v1 * y  # *: ∂v1/∂x = y
    grad_y = grad_v1 * x  # *: ∂v1/∂y = x
    return v1, (grad_x, grad_y)
"""

from __future__ import annotations

import builtins
import itertools
import linecache
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from autodiff import scalar_math
from autodiff.chain_rule import backpropagate
from autodiff.codegen.tracing import (
    Layout,
    Operand,
    Program,
    Step,
    argnum_list,
    flatten_layout,
    function_names,
)
from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES
from autodiff.rules import RULES
from autodiff.symbolic import Symbol, SymbolicMath, number_text

#: Forward functions written as Python operators (the engine computes them so too).
INFIX = {operator.add: '+', operator.sub: '-', operator.mul: '*'}


def namespace() -> dict[str, Any]:
    """The globals of generated Python code: the float functions, by name.

    The names a rule may call (``heaviside``, ``xlogy`` ...) come from
    :data:`autodiff.rule_math.FLOAT_MATH`, so generated code takes every
    special limit exactly as the eager engine does.

    >>> namespace()['heaviside'](2.0, 0.0), namespace()['xlogy'](0.0, 0.0)
    (1.0, 0.0)
    """
    space: dict[str, Any] = {name: getattr(scalar_math, name) for name in dir(scalar_math)
                             if not name.startswith('_')}
    space.update({name: getattr(FLOAT_MATH, name) for name in RULE_MATH_NAMES})
    for op, name in function_names().items():
        space.setdefault(name, RULES[op].forward)
    return space


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


def derivative_text(d: Symbol | float) -> str:
    """A local derivative (or a contribution) as written in generated code.

    >>> derivative_text(Symbol('grad_v1') * Symbol('x')), derivative_text(3.0)
    ('grad_v1 * x', '3')
    """
    return str(d) if isinstance(d, Symbol) else number_text(d)


def wanted_names(steps: Sequence[Step], inputs: set[str]) -> set[str]:
    """The inputs whose gradients are asked for, and every step that depends on one.

    Only these need a gradient: the backward pass skips the rest (an MLP's
    data inputs, for example), which saves a line per product they enter.

    >>> from autodiff.codegen.tracing import trace
    >>> steps = trace(lambda w, x: w * x + x, (1.0, 2.0)).steps
    >>> sorted(wanted_names(steps, {'w'}))
    ['v1', 'v2', 'w']
    """
    wanted = set(inputs)
    for step in steps:
        if any(o in wanted for o in step.operands):
            wanted.add(step.name)
    return wanted


# ----------------------------------------------------------------------
# Backward: the chain-rule walker on symbols, one line per contribution.
# ----------------------------------------------------------------------
class SymbolNode:
    """A variable (or constant) of generated code, shaped like a `Value` for the chain-rule walker.

    ``data`` is what a rule sees for it: ``Symbol(name)``, or the constant
    itself; ``grad`` is ``Symbol('grad_<name>')`` once a gradient has
    reached it, else 0.0; ``_op``, ``_a``, ``_b`` are the step, as in `Value`.
    """

    __slots__ = ('name', 'data', 'grad', 'label', '_op', '_a', '_b')

    def __init__(self, name: str | None, data: Symbol | float):
        self.name, self.data, self.grad, self.label = name, data, 0.0, name or ''
        self._op, self._a, self._b = '', None, None

    @property
    def _prev(self) -> tuple:
        return tuple(v for v in (self._a, self._b) if v is not None)

    def __repr__(self) -> str:
        return f"SymbolNode({self.name or self.data!r})"


class SymbolGraph:
    """Steps as `SymbolNode` graphs for :func:`~autodiff.chain_rule.backpropagate`, and who has a gradient.

    One node per variable name, shared by every step that reads it;
    ``has_grad`` holds the names whose ``grad_<name>`` exists in the code.

    >>> graph = SymbolGraph(has_grad={'v1'})
    >>> [node._op for node in graph.order([Step('v1', 'exp', ('x',))])], graph.node('v1').grad
    (['exp'], Symbol('grad_v1'))
    """

    def __init__(self, has_grad: Iterable[str] = ()):
        self.has_grad = set(has_grad)
        self.nodes: dict[str, SymbolNode] = {}

    def node(self, operand: Operand) -> SymbolNode:
        """The node of a variable (made on first use), or a new node for a constant."""
        if not isinstance(operand, str):
            return SymbolNode(None, operand)
        node = self.nodes.get(operand)
        if node is None:
            node = self.nodes[operand] = SymbolNode(operand, Symbol(operand))
            if operand in self.has_grad:
                node.grad = Symbol('grad_' + operand)
        return node

    def order(self, steps: Iterable[Step]) -> list[SymbolNode]:
        """The steps' nodes, wired to their operands, in the steps' (topological) order."""
        order = []
        for step in steps:
            node = self.node(step.name)
            inputs = [self.node(o) for o in step.operands]
            node._op, node._a, node._b = step.op, inputs[0], inputs[1] if len(inputs) == 2 else None
            order.append(node)
        return order

    def receive(self, name: str) -> None:
        """Record that ``grad_<name>`` now exists: later contributions add to it and flow on from it."""
        self.has_grad.add(name)
        self.node(name).grad = Symbol('grad_' + name)

    def walk(self, steps: Sequence[Step], write: Callable[..., None]) -> None:
        """The chain rule over ``steps``, last first: ``write`` gets each contribution worth a line."""
        backpropagate(self.order(steps), write, m=GENERATED_CODE_MATH, primal=symbol_of)


class GeneratedCodeMath(SymbolicMath):
    """SYMBOLIC_MATH as generated code needs it: a power that could raise is written as a call.

    Generated code evaluates both branches of ``select(...)``, so a slope
    must not raise where the eager engine, which picks one branch, gives a
    number (``pow`` at (0, 0) computes 0 ** -1 in the branch it drops).
    ``x ** c`` with a constant ``c >= 0`` cannot divide by zero and stays
    inline (fast); any other exponent becomes ``ieee_power(x, y)``, the
    float (or array) function that gives inf and nan as the eager engine does.

    >>> x, y = Symbol('x'), Symbol('y')
    >>> str(GENERATED_CODE_MATH.ieee_power(x, 2.0)), str(GENERATED_CODE_MATH.ieee_power(x, y - 1))
    ('x ** 2', 'ieee_power(x, y - 1)')
    """

    def __getattribute__(self, name: str) -> Any:
        if name == 'ieee_power':
            return _power_text
        return super().__getattribute__(name)


def _power_text(x: Symbol | float, y: Symbol | float) -> Symbol | float:
    if not isinstance(y, Symbol) and y >= 0:
        return x ** y
    return Symbol(f"ieee_power({derivative_text(x)}, {derivative_text(y)})")


#: The namespace the chain-rule walker runs the rules with when writing code.
GENERATED_CODE_MATH = GeneratedCodeMath()


def symbol_of(node: SymbolNode) -> Symbol | float:
    """What a rule sees for a node of a `SymbolGraph`: its variable's symbol, or the constant."""
    return node.data


def worth_a_line(node: SymbolNode, parent: SymbolNode, contribution: Any, wanted: set[str]) -> bool:
    """Whether a contribution changes a wanted gradient.

    It does not when its node has no gradient (nothing flows back through
    it), when its target is a constant or a name nobody asked for, or when
    it is a constant zero (the slope of ``x ** 0``).
    """
    if not isinstance(node.grad, Symbol) or parent.name not in wanted:
        return False
    return isinstance(contribution, Symbol) or contribution != 0


def backward_lines(steps: Sequence[Step], seeded: set[str], accumulators: set[str], wanted: set[str],
                   indent: str) -> tuple[list[str], set[str]]:
    """The chain rule as Python lines: one line per local derivative.

    ``seeded`` names already hold a gradient; ``accumulators`` are
    initialised before and only ever added to.  Returns the lines and the
    names that hold a gradient afterwards.

    >>> lines, _ = backward_lines([Step('v1', 'sin', ('x',))], {'v1'}, set(), {'x'}, '')
    >>> lines
    ['grad_x = grad_v1 * cos(x)  # sin: ∂v1/∂x = cos(x)']
    """
    graph = SymbolGraph(set(seeded) | set(accumulators))
    lines: list[str] = []

    def write_line(node: SymbolNode, position: int, parent: SymbolNode, local: Any,
                   contribution: Any) -> None:
        if not worth_a_line(node, parent, contribution, wanted):
            return
        assign = '+=' if parent.name in graph.has_grad else '='
        graph.receive(parent.name)
        lines.append(f"{indent}grad_{parent.name} {assign} {derivative_text(contribution)}"
                     f"  # {node._op}: ∂{node.name}/∂{parent.name} = {derivative_text(local)}")
    graph.walk(steps, write_line)
    return lines, graph.has_grad


# ----------------------------------------------------------------------
# Arguments in, gradients out, and the whole function.
# ----------------------------------------------------------------------
def grads_return(layouts: list[Layout], chosen: list[int], argnums: Any, has_grad: set[str]) -> str:
    """The returned gradients: one per chosen argument, in its shape (a bare one for an int argnums).

    >>> grads_return(['x', ['w_0', 'w_1']], [1], None, {'w_0'})
    '([grad_w_0, 0.0],)'
    """
    texts = [_grads_text(layouts[i], has_grad) for i in chosen]
    if isinstance(argnums, int):
        return texts[0]
    return '(' + ', '.join(texts) + (',)' if len(texts) == 1 else ')')


def _grads_text(layout: Layout, has_grad: set[str]) -> str:
    """The gradients of one argument, in the argument's shape."""
    if isinstance(layout, str):
        return f"grad_{layout}" if layout in has_grad else '0.0'
    return '[' + ', '.join(_grads_text(item, has_grad) for item in layout) + ']'


def unpack_lines(name: str, layout: Layout, indent: str) -> list[str]:
    """``(w_0, w_1) = w``: the scalars of a list argument as local variables.

    >>> unpack_lines('w', ['w_0', ['w_1_0']], '')
    ['(w_0, (w_1_0,)) = w']
    """
    if isinstance(layout, str):
        return []
    if not layout:
        return [f"{indent}if len({name}) != 0:", f"{indent}    raise ValueError('{name} must be empty')"]

    def targets(item: Layout) -> str:
        return item if isinstance(item, str) else '(' + ', '.join(map(targets, item)) + (
            ',)' if len(item) == 1 else ')')
    text = ', '.join(targets(item) for item in layout)
    if len(layout) == 1:
        text += ','
    return [f"{indent}{line}" for line in _wrap_line(f"({text}) = {name}")]


def _wrap_line(line: str, width: int = 100) -> list[str]:
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


def python_source(program: Program, argnums: int | Sequence[int] | None = None) -> str:
    """The generated Python function for ``program``: forward, then backward.

    >>> from autodiff.codegen.tracing import trace
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
    chosen = argnum_list(argnums, len(program.layouts))
    lines = [f"def {program.name}({', '.join(program.arg_names)}):"]
    for name, layout in zip(program.arg_names, program.layouts):
        lines += unpack_lines(name, layout, '    ')
    lines.append('    # forward: one line per operation')
    names = function_names()
    lines += [f"    {s.name} = {forward_expression(s, names)}" for s in program.steps]
    lines.append(f"    # backward: grad_v is ∂{program.name}/∂v, from the output back to the inputs")
    seeded = set()
    if isinstance(program.output, str):
        lines.append(f"    grad_{program.output} = 1.0")
        seeded.add(program.output)
    wanted = wanted_names(program.steps, {n for i in chosen for n in flatten_layout(program.layouts[i])})
    more, has_grad = backward_lines(program.steps, seeded, set(), wanted, '    ')
    lines += more
    grads = grads_return(program.layouts, chosen, argnums, has_grad)
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
    filename = f"<autodiff.codegen {name} #{next(_source_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = builtins.compile(source, filename, 'exec')
    scope: dict[str, Any] = dict(space)
    exec(code, scope)  # noqa: S102 - the code is ours, generated from the rule table
    return scope[name]
