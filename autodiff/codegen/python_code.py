"""Writing a traced program down as straight-line Python: forward lines, then backward lines.

Forward, each step is one line computed by the operation's forward function
from the rule table (``_v2 = tanh(_v1)``; ``+ - *`` and negation as operators).
Backward, nothing is derived here: the engine's one chain-rule walker
(:func:`autodiff.chain_rule.backpropagate`) walks the steps, last first,
with symbols in place of numbers (:data:`~autodiff.symbolic.SYMBOLIC_MATH`),
and hands over each ``upstream × local`` contribution as a formula; this
module writes it as a line, ``_ga0 += <contribution>  # op: ∂out/∂x = <local>``.
Names are positional (see :mod:`autodiff.codegen.tracing`): ``_a0`` is the
first argument, ``_v1`` the first step, ``_gv1`` its gradient.

>>> from autodiff.codegen.tracing import trace
>>> print(python_source(trace(lambda x, y: x * y, (1.0, 2.0))))
def _compiled(_a0, _a1):
    # <lambda>(x, y), with x as _a0, y as _a1
    # forward: one line per operation
    _v1 = _a0 * _a1
    # backward, output to inputs: _gv1 is ∂<lambda>/∂_v1, _ga0 is ∂<lambda>/∂_a0, and so on
    _gv1 = 1.0
    _ga0 = 0.0
    _ga1 = 0.0
    _ga0 += _gv1 * _a1  # *: ∂_v1/∂_a0 = _a1
    _ga1 += _gv1 * _a0  # *: ∂_v1/∂_a1 = _a0
    return _v1, (_ga0, _ga1)

A long program is cut into parts of at most `PART_LINES` lines, each its
own function (see `python_parts`): CPython's compiler then never holds more
than one part, so compiling a million operations costs memory in
proportion to the eager graph, not many times it.
"""

from __future__ import annotations

import builtins
import itertools
import linecache
import operator
import re
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
    comment_text,
    flatten_layout,
    function_names,
    grad_name,
)
from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol, SymbolicMath, number_text

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

    >>> operand_text('_v1'), operand_text(2.0), operand_text(-0.5)
    ('_v1', '2', '-0.5')
    """
    return operand if isinstance(operand, str) else number_text(operand)


#: Float forward functions written inline as conditional expressions, each exactly its
#: function's body in :mod:`autodiff.scalar_math` (nan passes through as there).  A Python
#: call costs more than the arithmetic it wraps: inlined, relu costs one comparison.
INLINE_FORWARD: dict[Callable[..., float], Callable[..., str]] = {
    scalar_math.relu: lambda x: f"(0.0 if {x} <= 0.0 else {x})",
    scalar_math.maximum: lambda a, b: f"({a} if ({a} > {b} or {a} != {a}) else {b})",
    scalar_math.minimum: lambda a, b: f"({a} if ({a} < {b} or {a} != {a}) else {b})",
    scalar_math.leaky_relu: lambda x, slope: f"({x} if {x} > 0.0 else {slope} * {x})",
}
#: A whole numeric literal of generated code (so ``1e-05`` is one literal, not ``1e-`` and ``05``).
_LITERAL = re.compile(r'(?<![\w.])\d+(?:\.\d*)?(?:e[-+]?\d+)?(?![\w.])')


def float_literals(code: str) -> str:
    """``code`` with whole-number literals written as floats: ``1 - _v3`` becomes ``1.0 - _v3``.

    The traced constants are floats; they are written ``3`` for reading.  For
    CPython a float op an int is a slow generic path, a float op a float a
    specialised fast one, and the result is the same (the int converts exactly).

    >>> float_literals('2 * _v12 ** 2 + 1e-05 - 0.5')
    '2.0 * _v12 ** 2.0 + 1e-05 - 0.5'
    """
    return _LITERAL.sub(lambda m: m.group(0) if '.' in m.group(0) or 'e' in m.group(0)
                        else m.group(0) + '.0', code)


def forward_expression(step: Step, names: dict[str, str], inline: bool = False) -> str:
    """The right-hand side computing a step: infix for + - * and negation, else a call.

    ``inline`` (float code only) writes the functions of `INLINE_FORWARD` as
    conditional expressions instead of calls, and constants as float literals.

    >>> forward_expression(Step('_v2', '+', ('_v1', 1.0)), function_names())
    '_v1 + 1'
    >>> forward_expression(Step('_v3', '**', ('_v2', 3.0)), function_names())
    'power(_v2, 3)'
    >>> forward_expression(Step('_v4', 'relu', ('_v3',)), function_names(), inline=True)
    '(0.0 if _v3 <= 0.0 else _v3)'
    """
    if inline:  # float code: float literals too
        return float_literals(_expression(step, names, True))
    return _expression(step, names, False)


def _expression(step: Step, names: dict[str, str], inline: bool) -> str:
    forward = RULES[step.op].forward
    texts = [operand_text(o) for o in step.operands]
    if inline and forward in INLINE_FORWARD:
        return INLINE_FORWARD[forward](*texts)
    if forward in INFIX:
        left, right = texts
        # Negative literals on the right keep their meaning: "v1 - -2" is legal Python.
        return f"{left} {INFIX[forward]} {right}"
    if forward is operator.neg:
        return f"-{texts[0]}"
    return f"{names[step.op]}({', '.join(texts)})"


def derivative_text(d: Symbol | float) -> str:
    """A local derivative (or a contribution) as written in generated code.

    >>> derivative_text(Symbol('_gv1') * Symbol('_a0')), derivative_text(3.0)
    ('_gv1 * _a0', '3')
    """
    return str(d) if isinstance(d, Symbol) else number_text(d)


def wanted_names(steps: Sequence[Step], inputs: set[str]) -> set[str]:
    """The inputs whose gradients are asked for, and every step that depends on one.

    Only these need a gradient: the backward pass skips the rest (an MLP's
    data inputs, for example), which saves a line per product they enter.

    >>> from autodiff.codegen.tracing import trace
    >>> steps = trace(lambda w, x: w * x + x, (1.0, 2.0)).steps
    >>> sorted(wanted_names(steps, {'_a0'}))
    ['_a0', '_v1', '_v2']
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
    itself; ``grad`` is the symbol of `grad_name` once a gradient has
    reached it, else 0.0; ``_op``, ``_a``, ``_b`` are the step, as in `Value`.
    """

    __slots__ = ('name', 'data', 'grad', 'label', '_op', '_a', '_b')

    def __init__(self, name: str | None, data: Symbol | float):
        self.name, self.data, self.label = name, data, name or ''
        self.grad: Symbol | float = 0.0
        self._op = ''
        self._a: SymbolNode | None = None
        self._b: SymbolNode | None = None

    @property
    def _prev(self) -> tuple:
        return tuple(v for v in (self._a, self._b) if v is not None)

    def __repr__(self) -> str:
        return f"SymbolNode({self.name or self.data!r})"


class SymbolGraph:
    """Steps as `SymbolNode` graphs for :func:`~autodiff.chain_rule.backpropagate`, and who has a gradient.

    One node per variable name, shared by every step that reads it;
    ``has_grad`` holds the names whose gradient variable exists in the code.

    >>> graph = SymbolGraph(has_grad={'_v1'})
    >>> [node._op for node in graph.order([Step('_v1', 'exp', ('_a0',))])], graph.node('_v1').grad
    (['exp'], Symbol('_gv1'))
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
                node.grad = Symbol(grad_name(operand))
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
        """Record that ``name``'s gradient now exists: later contributions add to it and flow on from it."""
        self.has_grad.add(name)
        self.node(name).grad = Symbol(grad_name(name))

    def walk(self, steps: Sequence[Step], write: Callable[..., None],
             m: SymbolicMath = SYMBOLIC_MATH) -> None:
        """The chain rule over ``steps``, last first: ``write`` gets each contribution worth a line.

        ``m`` writes the rules' functions: as calls (`SYMBOLIC_MATH`, any
        namespace runs them), or partly inline for floats (`INLINE_MATH`).
        """
        # SYMBOLIC_MATH writes a power that could raise (a negative or fractional
        # exponent) as the call ieee_power(x, y): generated code evaluates both
        # branches of select(...), and neither may raise where eager gives a number.
        backpropagate(self.order(steps), write, m=m, primal=symbol_of)


class InlineSymbolicMath(SymbolicMath):
    """`SYMBOLIC_MATH` for float code: the step function written inline when its input is a name.

    ``heaviside(x, c)`` becomes a conditional expression with exactly the
    values of :func:`autodiff.scalar_math.heaviside` (nan at nan): relu's
    slope then costs a comparison instead of a call.  An input that is an
    expression (``a - b``) keeps the call, so it is computed once.

    >>> str(INLINE_MATH.heaviside(Symbol('_v1'), 0.0))
    '(1.0 if _v1 > 0.0 else 0.0 if _v1 <= 0.0 else math.nan)'
    >>> str(INLINE_MATH.heaviside(Symbol('_v1') - Symbol('_v2'), 0.5))
    'heaviside(_v1 - _v2, 0.5)'
    """

    def __getattribute__(self, name: str) -> Any:
        if name == 'heaviside':
            return _inline_heaviside
        return super().__getattribute__(name)


def _inline_heaviside(x: Symbol | float, at_zero: float) -> Symbol | float:
    if not isinstance(x, Symbol):
        return FLOAT_MATH.heaviside(x, at_zero)
    if not _SIMPLE_NAME.fullmatch(x.text) or isinstance(at_zero, Symbol):
        return SYMBOLIC_MATH.heaviside(x, at_zero)
    name, at = x.text, number_text(at_zero)
    if at_zero == 0:  # x == 0 and x < 0 give the same 0: one comparison fewer
        return Symbol(f"(1.0 if {name} > 0.0 else 0.0 if {name} <= 0.0 else math.nan)")
    return Symbol(f"(1.0 if {name} > 0.0 else 0.0 if {name} < 0.0 else {at} if {name} == 0.0 else math.nan)")


_SIMPLE_NAME = re.compile(r'[A-Za-z_]\w*')
_IDENTIFIER = re.compile(r'(?<![\w.])[A-Za-z_]\w*')
#: The rules' namespace for generated float code (see `InlineSymbolicMath`).
INLINE_MATH = InlineSymbolicMath()


def symbol_of(node: SymbolNode) -> Symbol | float:
    """What a rule sees for a node of a `SymbolGraph`: its variable's symbol, or the constant."""
    return node.data


def worth_a_line(node: SymbolNode, parent: SymbolNode, contribution: Any, wanted: set[str]) -> bool:
    """Whether a contribution changes a wanted gradient.

    It does not when its node has no gradient (nothing flows back through
    it), when its target is a constant or a name nobody asked for, or when
    it is the number 0.
    """
    if not isinstance(node.grad, Symbol) or parent.name is None or parent.name not in wanted:
        return False
    return isinstance(contribution, Symbol) or contribution != 0


def backward_lines(steps: Sequence[Step], seeded: set[str], accumulators: set[str], wanted: set[str],
                   indent: str, fast: bool = False) -> tuple[list[str], set[str]]:
    """The chain rule as Python lines for floats: one line per local derivative.

    ``fast`` writes step functions inline (`INLINE_MATH`) and constants as
    float literals (`float_literals`): for code that runs per example.

    ``seeded`` names already hold a gradient; ``accumulators`` are
    initialised before and only ever added to.  Returns the lines and the
    names that hold a gradient afterwards.

    >>> lines, _ = backward_lines([Step('_v1', 'sin', ('_a0',))], {'_v1'}, set(), {'_a0'}, '')
    >>> lines
    ['_ga0 = _gv1 * cos(_a0)  # sin: ∂_v1/∂_a0 = cos(_a0)']
    """
    graph = SymbolGraph(set(seeded) | set(accumulators))
    lines: list[str] = []

    def write_line(node: SymbolNode, position: int, parent: SymbolNode, local: Any,
                   contribution: Any) -> None:
        target = parent.name
        if target is None or not worth_a_line(node, parent, contribution, wanted):
            return
        assign = '+=' if target in graph.has_grad else '='
        graph.receive(target)
        text = derivative_text(contribution)
        lines.append(f"{indent}{grad_name(target)} {assign} {float_literals(text) if fast else text}"
                     f"  # {comment_text(node._op)}: ∂{node.name}/∂{target} = {derivative_text(local)}")
    graph.walk(steps, write_line, INLINE_MATH if fast else SYMBOLIC_MATH)
    return lines, graph.has_grad


# ----------------------------------------------------------------------
# Arguments in, gradients out, and the whole function.
# ----------------------------------------------------------------------
def grads_return(layouts: list[Layout], chosen: list[int], argnums: Any, has_grad: set[str]) -> str:
    """The returned gradients: one per chosen argument, in its shape (a bare one for an int argnums).

    >>> grads_return(['_a0', ['_a1_0', '_a1_1']], [1], None, {'_a1_0'})
    '([_ga1_0, 0.0],)'
    """
    texts = [_grads_text(layouts[i], has_grad) for i in chosen]
    if isinstance(argnums, int):
        return texts[0]
    return tuple_text(texts)


def tuple_text(items: Sequence[str]) -> str:
    """Python's text for a tuple of ``items`` (a one-item tuple keeps its comma).

    >>> tuple_text(['_a0']), tuple_text(['_a0', '_a1'])
    ('(_a0,)', '(_a0, _a1)')
    """
    return '(' + ', '.join(items) + (',)' if len(items) == 1 else ')')


def _grads_text(layout: Layout, has_grad: set[str]) -> str:
    """The gradients of one argument, in the argument's shape."""
    if isinstance(layout, str):
        return grad_name(layout) if layout in has_grad else '0.0'
    return '[' + ', '.join(_grads_text(item, has_grad) for item in layout) + ']'


def unpack_lines(name: str, layout: Layout, indent: str, shown: str = '') -> list[str]:
    """``(_a0_0, _a0_1) = _a0``: the scalars of a list argument as local variables.

    One entry per statement (a long one spans lines); ``shown`` names the
    argument in the error for a list that should be empty.

    >>> unpack_lines('_a0', ['_a0_0', ['_a0_1_0']], '')
    ['(_a0_0, (_a0_1_0,)) = _a0']
    """
    if isinstance(layout, str):
        return []
    if not layout:
        message = repr(f"{shown or name} must be empty")
        return [f"{indent}if len({name}) != 0:\n{indent}    raise ValueError({message})"]

    def targets(item: Layout) -> str:
        return item if isinstance(item, str) else tuple_text([targets(i) for i in item])
    text = ', '.join(targets(item) for item in layout)
    if len(layout) == 1:
        text += ','
    return [wrapped_statement(f"({text}) = {name}", indent)]


def wrapped_statement(code: str, indent: str) -> str:
    """One statement at ``indent``, a long one continued on more lines after commas (`wrap_line`).

    >>> wrapped_statement('_t = (_a0, _a1)', '    ')
    '    _t = (_a0, _a1)'
    """
    return f"\n{indent}".join(f"{indent}{line}" if i == 0 else line for i, line in enumerate(wrap_line(code)))


def wrap_line(line: str, width: int = 100) -> list[str]:
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


def header_comment(program: Program, names: Sequence[str], indent: str = '    ') -> str:
    """The comment that says which argument is which: user text, escaped, in a comment only.

    >>> from autodiff.codegen.tracing import trace
    >>> header_comment(trace(lambda w, x: w[0] * x, ([1.0], 2.0)), ['_a0', '_a1'], '')
    '# <lambda>(w, x), with w as _a0 (w[i] as _a0_i), x as _a1'
    """
    described = []
    for user, name, layout in zip(program.arg_names, names, program.layouts):
        item = '' if isinstance(layout, str) else f" ({user}[i] as {name}_i)"
        described.append(f"{user} as {name}{item}")
    text = f"{program.name}({', '.join(program.arg_names)}), with {', '.join(described)}"
    return f"{indent}# {comment_text(text)}"


def forward_lines(program: Program, steps: Iterable[Step], indent: str,
                  fast: bool = False) -> list[str]:
    """One line per step, the step's label (if any) as a comment; ``fast``: see `forward_expression`."""
    names, labels = function_names(), program.labels
    lines = []
    for s in steps:
        line = f"{indent}{s.name} = {forward_expression(s, names, inline=fast)}"
        label = labels.get(s.name)
        lines.append(f"{line}  # {comment_text(label)}" if label else line)
    return lines


def python_source(program: Program, argnums: int | Sequence[int] | None = None) -> str:
    """The generated Python function for ``program``: forward, then backward.

    A long program comes as several functions (`python_parts`), the main one last.

    >>> from autodiff.codegen.tracing import trace
    >>> print(python_source(trace(lambda x: x.exp() * 3.0, (1.0,)), argnums=0))
    def _compiled(_a0):
        # <lambda>(x), with x as _a0
        # forward: one line per operation
        _v1 = exp(_a0)
        _v2 = _v1 * 3
        # backward, output to inputs: _gv1 is ∂<lambda>/∂_v1, _ga0 is ∂<lambda>/∂_a0, and so on
        _gv2 = 1.0
        _ga0 = 0.0
        _gv1 = _gv2 * 3  # *: ∂_v2/∂_v1 = 3
        _ga0 += _gv1 * _v1  # exp: ∂_v1/∂_a0 = _v1
        return _v2, _ga0
    """
    return '\n\n'.join(python_parts(program, argnums))


#: The longest function body generated in one piece; longer ones are cut into parts.
PART_LINES = 2000
#: The generated identifiers (``_a0``, ``_a0_1``, ``_v12``, ``_gv12``, ``_p3``): what crosses between parts.
_GENERATED_NAME = re.compile(r'(?<![\w.])_[a-z]{1,2}\d+(?:_\d+)*\b')
MAIN = '_compiled'


def python_parts(program: Program, argnums: int | Sequence[int] | None = None) -> list[str]:
    """The generated function as source pieces, each a complete ``def``; the main one (`MAIN`) last.

    Up to `PART_LINES` statements it is one function.  Beyond, the body is
    cut into parts ``_part1``, ``_part2``, ...: each reads the variables it
    needs from earlier parts out of one dict and leaves there the ones later
    parts read; the main function calls them in order.
    """
    chosen = argnum_list(argnums, len(program.layouts))
    params = [f"_a{i}" for i in range(len(program.layouts))]
    body = []
    for name, user, layout in zip(params, program.arg_names, program.layouts):
        body += unpack_lines(name, layout, '    ', user)
    body.append('    # forward: one line per operation')
    body += forward_lines(program, program.steps, '    ')
    who = comment_text(program.name)
    body.append(f"    # backward, output to inputs: _gv1 is ∂{who}/∂_v1, _ga0 is ∂{who}/∂_a0, and so on")
    seeded = set()
    if isinstance(program.output, str):
        body.append(f"    {grad_name(program.output)} = 1.0")
        seeded.add(program.output)
    inputs = [n for i in chosen for n in flatten_layout(program.layouts[i])]
    wanted = wanted_names(program.steps, set(inputs))
    # An input's gradient starts at 0.0 and each contribution is added, as a leaf's .grad
    # in the eager engine: 0.0 + (-0.0) is +0.0, so even the sign of a zero gradient agrees.
    accumulators = [n for n in dict.fromkeys(inputs) if n in wanted and n not in seeded]
    body += [f"    {grad_name(n)} = 0.0" for n in accumulators]
    more, has_grad = backward_lines(program.steps, seeded, set(accumulators), wanted, '    ')
    body += more
    del more
    grads = grads_return(program.layouts, chosen, argnums, has_grad)
    body.append(f"    return {operand_text(program.output)}, {grads}")
    head = [f"def {MAIN}({', '.join(params)}):", header_comment(program, params)]
    if len(body) <= PART_LINES:
        return ['\n'.join(head + body)]
    return _cut_into_parts(head, body, params)


def _cut_into_parts(head: list[str], body: list[str], params: list[str]) -> list[str]:
    """``body`` as functions of at most `PART_LINES` statements sharing variables through a dict.

    A part reads from the dict the names that earlier parts (or the
    arguments) defined, and stores there the names it assigns that a later
    part reads.  One pass over the lines; memory in proportion to them.
    """
    pieces = [body[i:i + PART_LINES] for i in range(0, len(body), PART_LINES)]
    appearing: list[set[str]] = []
    assigned: list[set[str]] = []
    last_part: dict[str, int] = {}  # the last part each name appears in
    for k, piece in enumerate(pieces):
        seen, targets = set(), set()
        for line in piece:
            code = line.split('  # ', 1)[0]
            seen.update(_GENERATED_NAME.findall(code))
            target = _ASSIGNMENT.split(code, maxsplit=1)
            if len(target) == 2:
                targets.update(_GENERATED_NAME.findall(target[0]))
        for name in seen:
            last_part[name] = k
        appearing.append(seen)
        assigned.append(targets)
    defined, parts = set(params), []
    for k, piece in enumerate(pieces):
        imports = sorted(appearing[k] & defined)
        exports = sorted(name for name in assigned[k] if last_part[name] > k)
        lines = [f"def _part{k + 1}(_s):"]
        lines += [f"    {name} = _s[{name!r}]" for name in imports]
        lines += piece
        lines += [f"    _s[{name!r}] = {name}" for name in exports]
        parts.append('\n'.join(lines))
        defined |= assigned[k]
    start = '    _s = {' + ', '.join(f"{name!r}: {name}" for name in params) + '}'
    calls = [f"    _part{k}(_s)" for k in range(1, len(pieces))] + [f"    return _part{len(pieces)}(_s)"]
    return parts + ['\n'.join(head + [start] + calls)]


#: Where an assignment's targets end: `` = `` or `` += `` (generated code has no other).
_ASSIGNMENT = re.compile(r' \+?= ')
_source_counter = itertools.count(1)


def build(source: str | Sequence[str], name: str, space: dict[str, Any]) -> Callable[..., Any]:
    """Compile generated source (one piece, or the pieces of `python_parts`) and return its function.

    Each piece is compiled on its own, so CPython's compiler holds one at a
    time.  The source is registered with :mod:`linecache`, so a traceback
    (a domain error, say) shows the generated line that failed.

    >>> build('def double(x):\\n    return 2 * x\\n', 'double', {})(4.0)
    8.0
    """
    pieces = [source] if isinstance(source, str) else source
    scope: dict[str, Any] = dict(space)
    for piece in pieces:
        filename = f"<autodiff.codegen {name} #{next(_source_counter)}>"
        linecache.cache[filename] = (len(piece), None, piece.splitlines(True), filename)
        code = builtins.compile(piece, filename, 'exec')
        exec(code, scope)  # noqa: S102 - the code is ours, generated from the rule table
    return scope[name]



# ----------------------------------------------------------------------
# Fewer statements for CPython: single-use temporaries written into their reader.
# ----------------------------------------------------------------------
#: A statement ``target = expression`` or ``target += expression`` of generated code.
_STATEMENT = re.compile(r'^(?P<indent>\s*)(?P<target>_\w+) (?P<op>\+?=) (?P<expr>.*)$')
#: What an expression may hold to be moved: names, numbers, + - *, comparisons, conditionals.
#: Nothing in it can raise, so computing it a few lines later changes no error.
_MOVABLE = re.compile(r'(?:\s|_\w+|\d+(?:\.\d*)?(?:e[-+]?\d+)?|math\.nan|[-+*()<>=!]|if|else|or)*')
#: The most generated names an expression built by substitution may read: CPython's
#: parser limits nesting (200 parentheses deep).  64 keeps a sum of 32 products
#: (an MLP unit with 31 inputs, or its input's gradient) one statement.
MOVED_NAMES = 64
#: The names not yet written as a line: name -> (its expression, the names that reads, its indent,
#: how many generated names it reads).
_Pending = dict[str, tuple[str, set[str], str, int]]


def inline_single_use(body: list[str], outside: Iterable[str] = ()) -> list[str]:
    """``body`` with each temporary read once, and each alias ``a = b``, written into its reader.

    Each generated line stores its result in a local and the next line
    loads it back; for a temporary read only once, that store and load
    (and, past 256 locals, their EXTENDED_ARG prefixes) are pure
    interpreter overhead.  A temporary assigned once (or assigned, then
    only added to with ``+=``) and read once, whose expression cannot
    raise, is written in parentheses where it is read; an alias
    ``_gv2 = _gv3`` is replaced by its source.  Each operation and its
    operands stay as they were, so the numbers are bit for bit the same.
    ``outside`` are the lines around ``body``: what they read is kept.
    (What an expression reads is kept with it, so a line costs the time
    of its own text, not of the growing expression it joins.)

    >>> inline_single_use(['    _v1 = _a0 * _a1', '    _v2 = _v1 + _a1', '    _gv2 = _gv3',
    ...                    '    _v2 += _gv2', '    _t += _v2 * _a0  # comment'])
    ['    _t += (((_a0 * _a1) + _a1) + (_gv3)) * _a0  # comment']
    """
    reads, assigned, fixed = _name_counts(body)  # reads: counted down as substitutions happen
    kept = generated_names(outside) | fixed
    pending: _Pending = {}
    out: list[str] = []
    for line in body:
        code = _code_of(line)
        match = _STATEMENT.match(code)
        if match is None:  # a statement of another form (an unpacking, a call): everything before it
            out += _materialised(pending, None)
            out.append(line)
            continue
        target, op, indent = match['target'], match['op'], match['indent']
        can_move = _MOVABLE.fullmatch(match['expr']) is not None  # what is substituted in could move too
        expr, names, count = _substituted(match['expr'], pending, reads)
        out += _materialised(pending, target, keep=target)  # what reads the target: written before it changes
        if op == '+=' and target in pending:  # a sum still being built: one more term
            before, before_names, _, before_count = pending.pop(target)
            expr, op, names, count = f"({before}) + ({expr})", '=', names | before_names, count + before_count
        alias = _SIMPLE_NAME.fullmatch(expr) is not None
        movable = op == '=' and assigned.get(target) == 1 and target not in kept and (
            alias or (reads.get(target) == 1 and count <= MOVED_NAMES and can_move))
        if movable:
            pending[target] = (expr, names, indent, count)
        else:
            out.append(f"{indent}{target} {op} {expr}{line[len(code):]}")
    return out + _materialised(pending, None)


def generated_names(lines: Iterable[str]) -> set[str]:
    """The generated names (`_GENERATED_NAME`) the code of ``lines`` reads or writes, comments aside.

    >>> sorted(generated_names(['    _v2 = _a0 * _v1  # _v9']))
    ['_a0', '_v1', '_v2']
    """
    return {n for line in lines for n in _GENERATED_NAME.findall(_code_of(line))}


def _code_of(line: str) -> str:
    """A generated line without its comment (generated comments start with two spaces and ``#``)."""
    return line.split('  # ', 1)[0]


def _name_counts(lines: list[str]) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """How often each generated name is read (beyond ``+=`` to itself) and assigned (``=``), and
    the names added to (``+=``) after they were first read: those stay where they are."""
    reads: dict[str, int] = {}
    assigned: dict[str, int] = {}
    added_after_read: set[str] = set()
    for line in lines:
        code = _code_of(line)
        match = _STATEMENT.match(code)
        if match is not None:
            target = match['target']
            if match['op'] == '=':
                assigned[target] = assigned.get(target, 0) + 1
            elif target in reads:
                added_after_read.add(target)
            code = match['expr']
        for name in _GENERATED_NAME.findall(code):
            reads[name] = reads.get(name, 0) + 1
    return reads, assigned, added_after_read


def _substituted(expr: str, pending: _Pending, reads_left: dict[str, int]) -> tuple[str, set[str], int]:
    """``expr`` with each pending name replaced: an alias by its source, a temporary by ``(its text)``;
    with every name the result reads (generated or not: ``_seed``; and those replaced, which are
    never assigned again), and how many generated names the result reads."""
    names = set(_IDENTIFIER.findall(expr))
    count = 0

    def replace(found: re.Match) -> str:
        nonlocal count
        name = found.group(0)
        entry = pending.get(name)
        if entry is None:
            count += 1
            return name
        text, its_names, _, its_count = entry
        names.update(its_names)
        count += its_count
        reads_left[name] -= 1
        if reads_left[name] == 0:
            del pending[name]  # every read has it now: its line is not needed
        return text if _SIMPLE_NAME.fullmatch(text) else f"({text})"
    text = _GENERATED_NAME.sub(replace, expr)
    return text, names, count


def _materialised(pending: _Pending, changed: str | None, keep: str | None = None) -> list[str]:
    """Lines for the pending names (not ``keep``) reading ``changed`` (all for None), taken off pending."""
    due = [name for name, (_, reads, _, _) in pending.items()
           if name != keep and (changed is None or changed in reads)]
    lines = [f"{pending[name][2]}{name} = {pending[name][0]}" for name in due]
    for name in due:
        del pending[name]
    return lines


# ----------------------------------------------------------------------
# A switched-off relu passes back 0.0 without summing its gradient (where that is exact).
# ----------------------------------------------------------------------
#: A statement whose right-hand side is one operand times relu's inline slope (`INLINE_MATH`).
_TIMES_RELU_SLOPE = re.compile(r'^(?P<head>\s*_\w+ \+?= )(?P<upstream>.+) \* '
                               r'\(1\.0 if (?P<x>_\w+) > 0\.0 else 0\.0 if (?P=x) <= 0\.0 else math\.nan\)$')


def skip_off_relus(lines: list[str], flag: str) -> tuple[list[str], int]:
    """``lines`` with each ``g = U * relu'(x)`` written to skip ``U`` where relu is off and ``flag`` holds.

    ``U`` is the sum of everything the relu's output passes back, often a
    dozen products.  Where ``x > 0`` the slope is 1 and ``g`` is ``U``
    itself (``U * 1.0`` is ``U``, nan included); where ``x <= 0`` the engine
    computes ``U * 0.0``, which is ±0.0 when ``U`` is finite: the line then
    gives 0.0 without computing ``U``, when ``flag`` says ``U`` is finite.
    (The sign of a zero gradient is never seen: each contribution is a
    gradient times a finite slope, and a sum that starts at 0.0 is unchanged
    by adding ±0.0.)  Without ``flag`` the line computes ``U * 0.0``, or
    ``U * nan`` at nan, as before.  Returns the lines and how many changed.

    >>> skip_off_relus(['    _gv4 = (_gv5 * _a0) * (1.0 if _v4 > 0.0 else 0.0 if _v4 <= 0.0 else math.nan)'],
    ...                '_bounded')[0]  # doctest: +NORMALIZE_WHITESPACE
    ['    _gv4 = (_gv5 * _a0) if _v4 > 0.0 else 0.0 if _bounded else
                 (_gv5 * _a0) * (0.0 if _v4 <= 0.0 else math.nan)']
    """
    out, changed = [], 0
    for line in lines:
        code = _code_of(line)
        match = _TIMES_RELU_SLOPE.match(code)
        if match is None or not _one_operand(match['upstream']):
            out.append(line)
            continue
        up, x = match['upstream'], match['x']
        out.append(f"{match['head']}{up} if {x} > 0.0 else 0.0 if {flag} else "
                   f"{up} * (0.0 if {x} <= 0.0 else math.nan){line[len(code):]}")
        changed += 1
    return out, changed


def _one_operand(text: str) -> bool:
    """Whether ``text`` is a name, or one parenthesised expression (not ``(a) * (b)``)."""
    if _SIMPLE_NAME.fullmatch(text):
        return True
    if not text.startswith('('):
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += (char == '(') - (char == ')')
        if depth == 0:
            return i == len(text) - 1
    return False


#: Local slots CPython reads and writes without an EXTENDED_ARG prefix (see `first_slot_lines`).
SHORT_SLOTS = 256


def first_slot_lines(body: list[str], defined_before: Iterable[str], indent: str,
                     first: Sequence[str] = (), taken: int = 0) -> list[str]:
    """Lines that name the temporaries of ``body`` first, the most used first: ``_v5 = _v6 = 0.0``.

    CPython numbers a function's local variables in the order they first
    appear in its code, and an instruction reaching a local past number 255
    carries an EXTENDED_ARG prefix, one more instruction each time.  A batch
    function has hundreds of parameters and gradient sums (read once per
    example) before the loop's temporaries (each read up to dozens of times
    per example): named here, at the top, those take the short numbers.
    ``defined_before`` are the names set outside ``body`` (they keep their
    place); ``first`` go ahead of the rest; ``taken`` slots are the
    function's parameters.  Assigning 0.0 changes nothing:
    the loop sets each before reading it.

    >>> body = ['_v2 = _a0 * _v1', '_v3 = _v2 * _v2']
    >>> print('\\n'.join(first_slot_lines(body, {'_a0', '_v1'}, '', taken=254)))
    # the loop temporaries first: CPython numbers locals in order of appearance (the first 256 are short)
    _v2 = _v3 = 0.0
    >>> first_slot_lines(['    _v2 = _a0 * _v1'], {'_a0', '_v1'}, '    ')  # few locals: nothing to do
    []
    """
    counts: dict[str, int] = {}
    for line in body:
        for name in _GENERATED_NAME.findall(_code_of(line)):
            counts[name] = counts.get(name, 0) + 1
    before = set(defined_before)
    if taken + len(before | set(counts)) + len(first) <= SHORT_SLOTS:
        return []  # every local has a short number anyway
    ranked = sorted((n for n in counts if n not in before), key=lambda n: -counts[n])
    names = list(first) + ranked[:max(0, SHORT_SLOTS - taken - len(first))]
    rows = [names[i:i + 12] for i in range(0, len(names), 12)]
    return [f"{indent}# the loop temporaries first: CPython numbers locals in order of appearance"
            f" (the first {SHORT_SLOTS} are short)"] + [f"{indent}{' = '.join(row)} = 0.0" for row in rows]
