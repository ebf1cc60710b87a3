"""The NumPy batch backend: every scalar operation of a per-example program on a whole batch.

The per-example program traced by :func:`autodiff.codegen.compiled.compile_batch`
runs once per batch instead of once per example: each per-example variable
is an array over the examples, each shared one (a parameter) stays a
number, and the generated lines are the pure-Python backend's lines with
NumPy functions of the same names (:class:`ArrayMath`, the rules' math
contract on arrays).  A shared value's gradient is the sum over the
examples of its per-example contributions, so each contribution from a
per-example operation is summed where it arises: a product's
``grad_w += Σ grad_v · x`` is one ``dot`` call.

Dense layers get one more step.  A neuron's ``b + w1·x1 + ... + wn·xn``
is, in the trace, a chain of n adds over n products; neurons reading the
same inputs form a layer.  `find_layers` recognises these and the code
runs each layer as one matrix product, forward and backward (see
`numpy_batch_source`).

NumPy is imported by this module only; the engine never needs it.
Domain errors raise as in the scalar engine (``log`` of a non-positive
number, division by zero), checked over the whole array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # NumPy is the optional extra chainrule[fast]; without it this module loads but cannot run
    import numpy as np
except ImportError:  # pragma: no cover - exercised on installs without NumPy
    np = None  # type: ignore[assignment]  # checked before any array code runs

from autodiff.codegen.batch import (
    MAIN,
    BatchPlan,
    batch_count_lines,
    hoisted_backward_lines,
    hoisted_forward_lines,
    penalty_lines,
)
from autodiff.codegen.python_code import (
    SymbolGraph,
    SymbolNode,
    derivative_text,
    forward_expression,
    grads_return,
    header_comment,
    operand_text,
    unpack_lines,
    worth_a_line,
)
from autodiff.codegen.tracing import (
    Operand,
    Step,
    aux_list,
    comment_text,
    flatten_layout,
    function_names,
    grad_name,
)
from autodiff.rule_math import RULE_MATH_NAMES, RuleMath
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol


# ----------------------------------------------------------------------
# Array math: the float functions of autodiff.scalar_math on arrays.  Each
# gives the same numbers as its scalar twin (to rounding) and raises where it does.
# ----------------------------------------------------------------------
def _refuse(bad: Any, error: type, message: str, x: Any) -> None:
    """Raise ``error`` naming (up to five of) the offending entries, if any entry is ``bad``."""
    if np.any(bad):
        raise error(f"{message}: {np.asarray(x)[np.asarray(bad)].ravel()[:5]!r}")


class ArrayMath(RuleMath):
    """``m`` for rules applied to NumPy arrays: the primitives element by element.

    ``xlogy`` is inherited from :class:`~autodiff.rule_math.RuleMath`, so its
    limit at 0 is the one every namespace takes.

    >>> ARRAY_MATH.xlogy(np.array([0.0, 2.0]), np.array([0.0, 1.0])).tolist()
    [0.0, 0.0]
    >>> ARRAY_MATH.heaviside(np.array([-1.0, 0.0, 3.0]), 0.5).tolist()
    [0.0, 0.5, 1.0]
    """

    @staticmethod
    def cos(x: Any) -> Any:
        return np.cos(x)

    @staticmethod
    def sin(x: Any) -> Any:
        return np.sin(x)

    @staticmethod
    def ieee_log(x: Any) -> Any:
        """The natural logarithm for slopes: -inf at 0, nan below (never raises)."""
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.log(x)

    @staticmethod
    def ieee_power(x: Any, y: Any) -> Any:
        """x ** y for slopes: inf at 0 ** negative and on overflow, nan off the reals (never raises)."""
        with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
            return np.where(np.logical_and(np.equal(x, 0), np.less(y, 0)), np.inf, np.power(x, y))

    @staticmethod
    def sigmoid(x: Any) -> Any:
        """1 / (1 + e^-x), the stable form of the scalar engine on each side of 0."""
        e = np.exp(-np.abs(x))
        return np.where(np.greater_equal(x, 0), 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def heaviside(x: Any, at_zero: float) -> Any:
        return np.heaviside(x, at_zero)

    @staticmethod
    def sign(x: Any) -> Any:
        return np.sign(x)

    @staticmethod
    def is_zero(x: Any) -> Any:
        return np.equal(x, 0)

    @staticmethod
    def select(condition: Any, if_true: Any, if_false: Any) -> Any:
        return np.where(condition, if_true, if_false)


#: The namespace ``m`` for rules applied to NumPy arrays.
ARRAY_MATH = ArrayMath()


def log(x: Any) -> Any:
    """Natural logarithm (the forward of ``log``); ValueError where x <= 0, as in the scalar engine."""
    _refuse(np.less_equal(x, 0), ValueError, "log is defined only for positive numbers, got", x)
    return np.log(x)


def log1p(x: Any) -> Any:
    """log(1 + x); ValueError where x <= -1."""
    _refuse(np.less_equal(x, -1), ValueError, "log1p is defined only for numbers > -1, got", x)
    return np.log1p(x)


def sqrt(x: Any) -> Any:
    """Square root; ValueError where x < 0."""
    _refuse(np.less(x, 0), ValueError, "sqrt is defined only for numbers >= 0, got", x)
    return np.sqrt(x)


def divide(a: Any, b: Any) -> Any:
    """a / b; ZeroDivisionError where b == 0."""
    _refuse(np.equal(b, 0), ZeroDivisionError, "division by zero, divisors", b)
    return np.true_divide(a, b)


def power(x: Any, y: Any) -> Any:
    """x ** y over the reals: 0 ** negative and negative ** fraction raise."""
    _refuse(np.logical_and(np.equal(x, 0), np.less(y, 0)), ZeroDivisionError,
            "zero cannot be raised to a negative power; bases", x)
    _refuse(np.logical_and(np.less(x, 0), np.not_equal(y, np.floor(y))), ValueError,
            "a negative number to a non-integer power is not a real number; bases", x)
    return np.power(x, y)


def softplus(x: Any) -> Any:
    """max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def relu(x: Any) -> Any:
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def leaky_relu(x: Any, negative_slope: Any) -> Any:
    """x where x > 0, else negative_slope * x."""
    return np.where(np.greater(x, 0), x, negative_slope * x)


def _forward_functions() -> dict[str, Callable[..., Any]]:
    """The forward functions the generated code calls by name, on arrays (beyond the contract's)."""
    return {
        'exp': np.exp, 'log': log, 'log1p': log1p, 'sqrt': sqrt, 'tanh': np.tanh, 'softplus': softplus,
        'relu': relu, 'leaky_relu': leaky_relu, 'divide': divide, 'power': power, 'abs': np.abs,
        'maximum': np.maximum, 'minimum': np.minimum,
    }


def numpy_namespace() -> dict[str, Any]:
    """The globals of generated NumPy code: the math contract and the forward functions, on arrays.

    An operation added with `defrule` whose forward function has no array
    version here runs element by element (correct, not fast).

    >>> numpy_namespace()['xlogy'] == ARRAY_MATH.xlogy
    True
    """
    if np is None:
        raise ImportError("the numpy backend needs NumPy: pip install 'chainrule[fast]'")
    space: dict[str, Any] = {'np': np, 'dot': np.dot, 'total': np.sum}
    space.update({name: getattr(ARRAY_MATH, name) for name in RULE_MATH_NAMES})
    space.update(_forward_functions())
    for op, name in function_names().items():
        if name not in space:
            space[name] = np.vectorize(RULES[op].forward, otypes=[float])
    return space


def ignoring_overflow(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run generated code with NumPy's overflow warnings off: exp(1000) is inf, as in the engine."""
    def run(*args: Any) -> Any:
        with np.errstate(over='ignore', under='ignore'):
            return function(*args)
    run.__name__ = function.__name__
    return run


# ----------------------------------------------------------------------
# Dense layers.
# ----------------------------------------------------------------------
@dataclass
class Layer:
    """Neurons ``out_j = bias_j + Σ_k weights[j][k] * inputs[k]`` sharing their inputs.

    ``outputs[j]`` is neuron j's last add step, ``weights[j]`` its weights
    (shared names), ``inputs`` the per-example names, ``internal`` every
    step of the neurons' chains (the matrix product computes them all).
    """

    name: str
    inputs: list[str]
    weights: list[list[str]]
    biases: list[str | float | None]
    outputs: list[str]
    internal: set[str]


def _linear_chain(out: Step, by_name: dict[str, Step], uses: dict[str, int], batched: set[str],
                  shared_inputs: set[str]) -> tuple[list[tuple[str, str]], Operand | None, set[str]] | None:
    """If ``out`` ends ``bias + w1*x1 + ... + wn*xn`` (w shared, x per example), return its parts."""
    terms: list[tuple[str, str]] = []
    steps = []
    node = out
    while True:
        if node.op != '+' or len(node.operands) != 2:
            break
        left, right = node.operands
        if not isinstance(right, str):
            break
        product = by_name.get(right)
        pair = _weight_times_input(product, batched, shared_inputs) if product else None
        if pair is None or uses.get(right) != 1:
            break
        terms.append(pair)
        steps += [node.name, right]
        inner = by_name.get(left) if isinstance(left, str) else None
        if inner is not None and inner.op == '+' and uses.get(inner.name) == 1 and inner.name in batched:
            node = inner
            continue
        # left ends the chain: a bias (shared input or constant) or the first product.
        first = _weight_times_input(inner, batched, shared_inputs) if inner else None
        if inner is not None and first is not None and uses.get(inner.name) == 1:
            terms.append(first)
            steps.append(inner.name)  # the step that computes ``left``
            bias = None
        elif left in shared_inputs or not isinstance(left, str):
            bias = left
        else:
            return None
        terms.reverse()
        return terms, bias, set(steps)
    return None


def _weight_times_input(step: Step | None, batched: set[str],
                        shared_inputs: set[str]) -> tuple[str, str] | None:
    """(weight, input) for a step ``w * x`` or ``x * w``, w a shared input, x per example."""
    if step is None or step.op != '*':
        return None
    a, b = step.operands
    if a in shared_inputs and b in batched:
        return a, b
    if b in shared_inputs and a in batched:
        return b, a
    return None


def fusion_matches_the_rules() -> bool:
    """Whether the rule table's ``*`` and ``+`` are what a fused layer's backward assumes.

    A layer's backward, ``∂W = G Xᵀ, ∂b = Σ G, ∂X = Wᵀ G``, is the chain rule
    through ``b + Σ w·x`` with ∂(w·x)/∂w = x, ∂(w·x)/∂x = w and ∂(a + b)/∂a =
    ∂(a + b)/∂b = 1.  Those partials are read from the table here, not
    assumed: were a rule ever changed, layers would simply not be fused.

    >>> fusion_matches_the_rules()
    True
    """
    w, x, out = Symbol('w'), Symbol('x'), Symbol('out')
    times = RULES['*'].partials(SYMBOLIC_MATH, out, w, x)
    plus = RULES['+'].partials(SYMBOLIC_MATH, out, w, x)
    return [str(d) for d in times] == ['x', 'w'] and list(plus) == [1, 1]


def _use_counts(plan: BatchPlan) -> dict[str, int]:
    """How often each name is read: by the looped steps, and once more for the output and aux."""
    uses: dict[str, int] = {}
    for s in plan.looped:
        for o in s.operands:
            if isinstance(o, str):
                uses[o] = uses.get(o, 0) + 1
    # The output and the aux are read after the forward pass: a chain must not be fused through them.
    for name in [plan.example.output] + aux_list(plan.example.aux):
        if isinstance(name, str):
            uses[name] = uses.get(name, 0) + 1
    return uses


def find_layers(plan: BatchPlan, min_width: int = 2) -> list[Layer]:
    """Groups of per-example linear combinations (neurons) that read the same inputs.

    Only chains whose intermediate steps are used nowhere else qualify,
    so replacing a chain by its layer's matrix product changes nothing
    else in the program.
    """
    steps = plan.looped
    by_name = {s.name: s for s in steps}
    uses = _use_counts(plan)
    shared_inputs = {n for i in plan.shared for n in flatten_layout(plan.example.layouts[i])}
    groups: dict[tuple[str, ...], list] = {}
    claimed: set[str] = set()
    for step in reversed(steps):  # outermost adds first: each chain is found from its end
        if step.name in claimed or step.op != '+':
            continue
        found = _linear_chain(step, by_name, uses, plan.batched_names, shared_inputs)
        if found is None or len(found[0]) < min_width:
            continue
        terms, bias, internal = found
        claimed |= internal
        key = tuple(x for _, x in terms)
        groups.setdefault(key, []).append((step.name, [w for w, _ in terms], bias, internal))
    position = {s.name: i for i, s in enumerate(steps)}
    ordered = sorted(groups.items(), key=lambda group: min(position[n[0]] for n in group[1]))
    layers = []
    for number, (inputs, neurons) in enumerate(ordered, 1):
        neurons.reverse()  # back in program order
        layers.append(Layer(f"_layer{number}", list(inputs), [n[1] for n in neurons], [n[2] for n in neurons],
                            [n[0] for n in neurons], set().union(*(n[3] for n in neurons))))
    return layers


# ----------------------------------------------------------------------
# Code generation.
# ----------------------------------------------------------------------
def numpy_batch_source(plan: BatchPlan, fuse_layers: bool = True) -> str:
    """Generated NumPy code: the example's program with each line on whole batches.

    Per-example names hold arrays over the examples; shared names hold
    numbers.  Gradients of per-example names are built with ``a = a + b``
    (never ``+=``: two names may hold the same array).  A shared name's
    gradient adds each contribution summed over the batch (``dot`` for a
    product with a per-example factor, ``total`` otherwise).  With
    ``fuse_layers`` each recognised dense layer is one matrix product.
    """
    example = plan.example
    layers = find_layers(plan) if fuse_layers and fusion_matches_the_rules() else []
    lines = [f"def {MAIN}({', '.join(plan.parameters)}):", header_comment(example, plan.parameters)]
    lines += _argument_lines(plan)
    lines += hoisted_forward_lines(plan)
    lines += _looped_forward_lines(plan, layers)
    output = example.output
    lines.append(f"    _value = float(total({operand_text(output)})) / _count" if output in plan.batched_names
                 else f"    _value = float({operand_text(output)})")
    lines.append('    # backward: _gv1 is ∂(mean over the batch)/∂_v1 per example, and so on')
    lines += [f"    {grad_name(n)} = 0.0" for n in plan.accumulators]
    graph = SymbolGraph(plan.accumulators)
    if output in plan.batched_names:
        lines.append(f"    {grad_name(output)} = np.full(_count, 1 / _count)")
        graph.receive(output)
    elif output in graph.has_grad:
        lines.append(f"    {grad_name(output)} += 1.0")
    lines += _looped_backward_lines(plan, layers, graph)
    lines += hoisted_backward_lines(plan)
    lines += penalty_lines(plan)
    grads = grads_return(example.layouts, plan.chosen, plan.argnums, set(plan.accumulators))
    if example.aux is None:
        lines.append(f"    return _value, {grads}")
    else:
        lines.append(f"    return (_value, {_aux_lines(example.aux)}), {grads}")
    return '\n'.join(lines)


def _argument_lines(plan: BatchPlan) -> list[str]:
    """Shared arguments unpacked, batched ones as float arrays, one column per per-example scalar."""
    example, params = plan.example, plan.parameters
    lines = []
    for i in plan.shared:
        lines += unpack_lines(params[i], example.layouts[i], '    ', example.arg_names[i])
    for i in plan.batched:
        lines.append(f"    {params[i]} = np.asarray({params[i]}, dtype=float)")
    lines += batch_count_lines(plan)
    lines.append('    # one array over the examples per per-example scalar')
    for i in plan.batched:
        lines += _column_lines(params[i], example.layouts[i], ())
    return lines


def _looped_forward_lines(plan: BatchPlan, layers: list[Layer]) -> list[str]:
    """The per-example steps on whole arrays; a layer's chains become its matrix product."""
    fnames = function_names()
    layer_of_output = {out: (layer, j) for layer in layers for j, out in enumerate(layer.outputs)}
    # Steps inside a layer's chains are computed by its matrix product.
    fused = set().union(*(layer.internal for layer in layers)) - set(layer_of_output)
    lines = ['    # forward: one line per operation (a matrix product per dense layer)']
    for step in plan.looped:
        if step.name in layer_of_output:
            layer, j = layer_of_output[step.name]
            if j == 0:
                lines += _layer_forward(layer)
            lines.append(f"    {step.name} = {layer.name}_out[{j}]")
        elif step.name not in fused:
            label = plan.example.labels.get(step.name)
            line = f"    {step.name} = {forward_expression(step, fnames)}"
            lines.append(f"{line}  # {comment_text(label)}" if label else line)
    return lines


def _looped_backward_lines(plan: BatchPlan, layers: list[Layer], graph: SymbolGraph) -> list[str]:
    """The chain rule through the per-example steps, last first, as whole-batch lines.

    The chain-rule walker takes the runs of ordinary steps; a layer's
    backward runs where its first output stands, since by then every
    output's gradient is complete.
    """
    lines: list[str] = []
    write = _batch_line_writer(plan, graph, lines)
    layer_at = {layer.outputs[0]: layer for layer in layers}
    in_a_layer = set().union(*(layer.internal for layer in layers))
    run: list[Step] = []  # ordinary steps since the last layer, last first
    for step in reversed(plan.looped):
        if step.name in layer_at:
            graph.walk(run[::-1], write)
            run = []
            lines += _layer_backward(layer_at[step.name], graph, plan)
        elif step.name not in in_a_layer:
            run.append(step)
    graph.walk(run[::-1], write)
    return lines


def _batch_line_writer(plan: BatchPlan, graph: SymbolGraph, lines: list[str]) -> Callable[..., None]:
    """The walker's combine for per-example steps: each contribution as a line on whole batches."""
    def write(node: SymbolNode, position: int, parent: SymbolNode, local: Any, contribution: Any) -> None:
        target = parent.name
        if target is None or not worth_a_line(node, parent, contribution, plan.wanted):
            return
        grad = grad_name(target)
        comment = f"  # {comment_text(node._op)}: ∂{node.name}/∂{target} = {derivative_text(local)}"
        if target in plan.batched_names:
            text = derivative_text(contribution)
            lines.append(f"    {grad} = {grad} + {text}{comment}" if target in graph.has_grad
                         else f"    {grad} = {text}{comment}")
        else:  # a shared value: sum this contribution over the examples
            if isinstance(local, Symbol) and local.text in plan.batched_names:
                summed = f"dot({derivative_text(node.grad)}, {local.text})"
            else:
                summed = f"total({derivative_text(contribution)})"
            lines.append(f"    {grad} += {summed}{comment}")
        graph.receive(target)
    return write


def _aux_lines(aux: Any) -> str:
    """The aux of every example as plain lists (a number per example, or a row)."""
    def column(operand: Any) -> str:  # a shared value or constant is the same for every example
        return f"np.broadcast_to({operand_text(operand)}, (_count,)).astype(float)"
    if isinstance(aux, list):
        return f"np.stack([{', '.join(map(column, aux))}], axis=1).tolist()" if aux else "[[]] * _count"
    return f"{column(aux)}.tolist()"


def _column_lines(source: str, layout: Any, index: tuple[int, ...]) -> list[str]:
    """``_a1_0 = _b1[:, 0]``: each per-example scalar as its column of the batch."""
    if isinstance(layout, str):
        where = ', '.join([':'] + [str(i) for i in index])
        return [f"    {layout} = {source}[{where}]" if index else f"    {layout} = {source}"]
    return [line for i, item in enumerate(layout) for line in _column_lines(source, item, index + (i,))]


def _layer_forward(layer: Layer) -> list[str]:
    """``out = W @ X + b``: the layer's neurons at once, over the whole batch."""
    weights = '[' + ', '.join('[' + ', '.join(row) + ']' for row in layer.weights) + ']'
    lines = [f"    # {layer.name}: {len(layer.outputs)} neurons of {len(layer.inputs)} inputs, "
             f"each bias + Σ w·x: one matrix product",
             f"    {layer.name}_w = np.array({weights})",
             f"    {layer.name}_x = np.stack(({', '.join(layer.inputs)},))",
             f"    {layer.name}_out = {layer.name}_w @ {layer.name}_x"]
    if any(b is not None for b in layer.biases):
        biases = ', '.join('0.0' if b is None else operand_text(b) for b in layer.biases)
        lines.append(f"    {layer.name}_out += np.array([[{'], ['.join(biases.split(', '))}]])")
    return lines


def _layer_backward(layer: Layer, graph: SymbolGraph, plan: BatchPlan) -> list[str]:
    """The chain rule through a layer: ∂W = G Xᵀ, ∂b = Σ G, ∂X = Wᵀ G.

    These follow from the table's rules for ``*`` and ``+``, which
    :func:`fusion_matches_the_rules` reads before any layer is fused.
    """
    name = layer.name
    rows = ', '.join(grad_name(o) if o in graph.has_grad else '_zero' for o in layer.outputs)
    lines = [f"    # {name} backward: grad_W = G @ Xᵀ, grad_b = G summed over examples, grad_X = Wᵀ @ G",
             "    _zero = np.zeros(_count)",
             f"    {name}_g = np.stack(({rows},))"]
    if any(w in plan.wanted for row in layer.weights for w in row):
        lines.append(f"    {name}_gw = ({name}_g @ {name}_x.T).tolist()")
        for j, row in enumerate(layer.weights):
            for k, w in enumerate(row):
                if w in plan.wanted:
                    lines.append(f"    {grad_name(w)} += {name}_gw[{j}][{k}]")
                    graph.receive(w)
    if any(isinstance(b, str) and b in plan.wanted for b in layer.biases):
        lines.append(f"    {name}_gb = {name}_g.sum(axis=1).tolist()")
        for j, b in enumerate(layer.biases):
            if isinstance(b, str) and b in plan.wanted:
                lines.append(f"    {grad_name(b)} += {name}_gb[{j}]")
                graph.receive(b)
    wanted_inputs = [(k, x) for k, x in enumerate(layer.inputs) if x in plan.wanted]
    if wanted_inputs:
        lines.append(f"    {name}_gx = {name}_w.T @ {name}_g")
        for k, x in wanted_inputs:
            lines.append(f"    {grad_name(x)} = {grad_name(x)} + {name}_gx[{k}]" if x in graph.has_grad
                         else f"    {grad_name(x)} = {name}_gx[{k}]")
            graph.receive(x)
    return lines
