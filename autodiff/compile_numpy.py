"""The NumPy batch backend of compiled mode: every scalar operation on a whole batch.

The per-example program traced by :func:`autodiff.compile.compile_batch`
runs once per batch instead of once per example: each per-example variable
is an array over the examples, each shared one (a parameter) stays a
number, and the generated lines are the pure-Python backend's lines with
NumPy functions of the same names.  A shared value's gradient is the sum
over the examples of its per-example contributions, so each contribution
from a per-example operation is summed where it arises: a product's
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
    np = None

from autodiff.compile import (
    BatchPlan,
    Step,
    _aux_list,
    _batch_count_lines,
    _flatten,
    _grads_return,
    _penalty_lines,
    _unpack_lines,
    backward_lines,
    derivative_text,
    forward_expression,
    function_names,
    local_derivatives,
    operand_text,
)
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol


# ----------------------------------------------------------------------
# The float functions of autodiff.scalar_math, on arrays.  Each gives the
# same numbers as its scalar twin (to rounding) and raises where it does.
# ----------------------------------------------------------------------
def _check(bad: Any, error: type, message: str, x: Any) -> None:
    if np.any(bad):
        raise error(f"{message}: {np.asarray(x)[np.asarray(bad)].ravel()[:5]!r}")


def log(x: Any) -> Any:
    """Natural logarithm; ValueError where x <= 0."""
    _check(x <= 0, ValueError, "log is defined only for positive numbers, got", x)
    return np.log(x)


def log1p(x: Any) -> Any:
    """log(1 + x); ValueError where x <= -1."""
    _check(x <= -1, ValueError, "log1p is defined only for numbers > -1, got", x)
    return np.log1p(x)


def sqrt(x: Any) -> Any:
    """Square root; ValueError where x < 0."""
    _check(x < 0, ValueError, "sqrt is defined only for numbers >= 0, got", x)
    return np.sqrt(x)


def divide(a: Any, b: Any) -> Any:
    """a / b; ZeroDivisionError where b == 0."""
    _check(np.equal(b, 0), ZeroDivisionError, "division by zero, divisors", b)
    return np.true_divide(a, b)


def power(x: Any, y: Any) -> Any:
    """x ** y over the reals: 0 ** negative and negative ** fraction raise."""
    _check(np.logical_and(np.equal(x, 0), np.less(y, 0)), ZeroDivisionError,
           "zero cannot be raised to a negative power; bases", x)
    _check(np.logical_and(np.less(x, 0), np.not_equal(y, np.floor(y))), ValueError,
           "a negative number to a non-integer power is not a real number; bases", x)
    return np.power(x, y)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), the stable form of the scalar engine on each side of 0."""
    e = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: Any) -> Any:
    """max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def relu(x: Any) -> Any:
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def leaky_relu(x: Any, negative_slope: Any) -> Any:
    """x where x > 0, else negative_slope * x."""
    return np.where(np.greater(x, 0), x, negative_slope * x)


def xlogy(x: Any, y: Any) -> Any:
    """x * log(y), 0 where x == 0 (whatever y is there)."""
    zero = np.equal(x, 0)
    return np.where(zero, 0.0, x * log(np.where(zero, 1.0, y)))


def _heaviside(x: Any, at_zero: float) -> Any:
    return np.heaviside(x, at_zero)


def _array_functions() -> dict[str, Callable[..., Any]]:
    """Each scalar_math name the generated code calls, on arrays."""
    return {
        'exp': np.exp, 'log': log, 'log1p': log1p, 'sqrt': sqrt, 'sin': np.sin, 'cos': np.cos,
        'tanh': np.tanh, 'sigmoid': sigmoid, 'softplus': softplus, 'relu': relu, 'leaky_relu': leaky_relu,
        'divide': divide, 'power': power, 'heaviside': _heaviside, 'sign': np.sign, 'xlogy': xlogy,
        'abs': np.abs, 'max': np.maximum, 'min': np.minimum,
    }


def namespace() -> dict[str, Any]:
    """The globals of generated NumPy code: array versions of the float functions.

    An operation added with `defrule` whose forward function has no array
    version here runs element by element (correct, not fast).
    """
    if np is None:
        raise ImportError("the numpy backend needs NumPy: pip install 'chainrule[fast]'")
    arrays = _array_functions()
    space: dict[str, Any] = {'np': np, 'dot': np.dot, 'total': np.sum}
    for op, name in function_names().items():
        space[name] = arrays.get(name) or np.vectorize(RULES[op].forward, otypes=[float])
    for name, function in arrays.items():
        space.setdefault(name, function)
    return space


def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
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

    ``sums[j]`` is the list of add steps of neuron j (the last is its output);
    ``products[j]`` its multiply steps; ``inputs`` the per-example names.
    """

    name: str
    inputs: list[str]
    weights: list[list[str]]
    biases: list[str | float | None]
    outputs: list[str]
    internal: set[str]


def _linear_chain(out: Step, by_name: dict[str, Step], uses: dict[str, int], batched: set[str],
                  shared_inputs: set[str]):
    """If ``out`` ends ``bias + w1*x1 + ... + wn*xn`` (w shared, x per example), return its parts."""
    terms: list[tuple[str, str]] = []
    steps = []
    node = out
    while True:
        if node.op != '+' or len(node.operands) != 2:
            break
        left, right = node.operands
        product = by_name.get(right) if isinstance(right, str) else None
        pair = _weight_times_input(product, batched, shared_inputs) if product else None
        if pair is None or uses.get(right) != 1:
            break
        terms.append(pair)
        steps += [node.name, right]
        inner = by_name.get(left) if isinstance(left, str) else None
        if inner is not None and inner.op == '+' and uses.get(left) == 1 and left in batched:
            node = inner
            continue
        # left ends the chain: a bias (shared input or constant) or the first product.
        first = _weight_times_input(inner, batched, shared_inputs) if inner else None
        if first is not None and uses.get(left) == 1:
            terms.append(first)
            steps.append(left)
            bias = None
        elif left in shared_inputs or not isinstance(left, str):
            bias = left
        else:
            return None
        terms.reverse()
        return terms, bias, set(steps)
    return None


def _weight_times_input(step: Step | None, batched: set[str], shared_inputs: set[str]):
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


def find_layers(plan: BatchPlan, min_width: int = 2) -> list[Layer]:
    """Groups of per-example linear combinations (neurons) that read the same inputs.

    Only chains whose intermediate steps are used nowhere else qualify,
    so replacing a chain by its layer's matrix product changes nothing
    else in the program.
    """
    steps = plan.looped
    by_name = {s.name: s for s in steps}
    uses: dict[str, int] = {}
    for s in steps:
        for o in s.operands:
            if isinstance(o, str):
                uses[o] = uses.get(o, 0) + 1
    # The output and the aux are read after the forward pass: a chain must not be fused through them.
    for name in [plan.example.output] + _aux_list(plan.example.aux):
        if isinstance(name, str):
            uses[name] = uses.get(name, 0) + 1
    shared_inputs = {n for i in plan.shared for n in _flatten(plan.example.layouts[i])}
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
        layers.append(Layer(f"layer{number}", list(inputs), [n[1] for n in neurons], [n[2] for n in neurons],
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
    example, names, params = plan.example, plan.example.arg_names, plan.parameters
    fnames = function_names()
    accumulators = set(plan.accumulators)
    layers = find_layers(plan) if fuse_layers and fusion_matches_the_rules() else []
    layer_of_output = {out: (layer, j) for layer in layers for j, out in enumerate(layer.outputs)}
    # Steps inside a layer's chains are computed by its matrix product.
    fused = set().union(*(layer.internal for layer in layers)) - set(layer_of_output)

    lines = [f"def {example.name}_batch({', '.join(params)}):"]
    for i in plan.shared:
        lines += _unpack_lines(names[i], example.layouts[i], '    ')
    for i in plan.batched:
        lines.append(f"    {params[i]} = np.asarray({params[i]}, dtype=float)")
    lines += _batch_count_lines(plan)
    lines.append('    # one array over the examples per per-example scalar')
    for i in plan.batched:
        lines += _column_lines(params[i], example.layouts[i], ())
    if plan.hoisted:
        lines.append('    # once per batch: operations on the shared arguments only')
        lines += [f"    {s.name} = {forward_expression(s, fnames)}" for s in plan.hoisted]
    lines.append('    # forward: one line per operation (a matrix product per dense layer)')
    for step in plan.looped:
        if step.name in layer_of_output:
            layer, j = layer_of_output[step.name]
            if j == 0:
                lines += _layer_forward(layer)
            lines.append(f"    {step.name} = {layer.name}_out[{j}]")
        elif step.name not in fused:
            lines.append(f"    {step.name} = {forward_expression(step, fnames)}")
    output = example.output
    lines.append(f"    value = float(total({operand_text(output)})) / count" if output in plan.batched_names
                 else f"    value = float({operand_text(output)})")
    lines.append('    # backward: grad_v is ∂(mean over the batch)/∂v, per example')
    lines += [f"    grad_{n} = 0.0" for n in plan.accumulators]
    has_grad = set(accumulators)
    if output in plan.batched_names:
        lines.append(f"    grad_{output} = np.full(count, 1 / count)")
        has_grad.add(output)
    elif output in accumulators:
        lines.append(f"    grad_{output} += 1.0")
    # Walk the looped steps backwards; a layer's backward runs when its first
    # output is reached, since by then every output's gradient is complete.
    for step in reversed(plan.looped):
        if step.name in fused:
            continue
        if step.name in layer_of_output:
            layer, j = layer_of_output[step.name]
            if j == 0:
                lines += _layer_backward(layer, has_grad, plan)
            continue
        if step.name not in has_grad:
            continue
        lines += _step_backward(step, has_grad, plan)
    if plan.hoisted:
        lines.append('    # backward through the once-per-batch operations')
        more, _ = backward_lines(plan.hoisted, set(), accumulators, plan.wanted, '    ')
        lines += more
    lines += _penalty_lines(plan, accumulators, fnames)
    grads = _grads_return(example.layouts, plan.chosen, plan.argnums, accumulators)
    if example.aux is None:
        lines.append(f"    return value, {grads}")
    else:
        lines.append(f"    return (value, {_aux_lines(example.aux)}), {grads}")
    return '\n'.join(lines)


def _aux_lines(aux: Any) -> str:
    """The aux of every example as plain lists (a number per example, or a row)."""
    def column(operand: Any) -> str:  # a shared value or constant is the same for every example
        return f"np.broadcast_to({operand_text(operand)}, (count,)).astype(float)"
    if isinstance(aux, list):
        return f"np.stack([{', '.join(map(column, aux))}], axis=1).tolist()" if aux else "[[]] * count"
    return f"{column(aux)}.tolist()"


def _column_lines(source: str, layout: Any, index: tuple[int, ...]) -> list[str]:
    if isinstance(layout, str):
        where = ', '.join([':'] + [str(i) for i in index])
        return [f"    {layout} = {source}[{where}]" if index else f"    {layout} = {source}"]
    return [line for i, item in enumerate(layout) for line in _column_lines(source, item, index + (i,))]


def _step_backward(step: Step, has_grad: set[str], plan: BatchPlan) -> list[str]:
    """One per-example step's local derivatives, as whole-batch lines."""
    lines = []
    upstream = Symbol('grad_' + step.name)
    for i, d in local_derivatives(step):
        target = step.operands[i]
        if target not in plan.wanted:
            continue
        contribution = upstream * d
        if not isinstance(contribution, Symbol) and contribution == 0:
            continue
        comment = f"  # {step.op}: ∂{step.name}/∂{target} = {derivative_text(d)}"
        if target in plan.batched_names:
            text = derivative_text(contribution)
            lines.append(f"    grad_{target} = grad_{target} + {text}{comment}" if target in has_grad
                         else f"    grad_{target} = {text}{comment}")
        else:  # a shared value: sum this contribution over the examples
            if isinstance(d, Symbol) and d.text in plan.batched_names:
                summed = f"dot({upstream.text}, {d.text})"
            else:
                summed = f"total({derivative_text(contribution)})"
            lines.append(f"    grad_{target} += {summed}{comment}")
        has_grad.add(target)
    return lines


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


def _layer_backward(layer: Layer, has_grad: set[str], plan: BatchPlan) -> list[str]:
    """The chain rule through a layer: ∂W = G Xᵀ, ∂b = Σ G, ∂X = Wᵀ G.

    These follow from the table's rules for ``*`` and ``+``, which
    :func:`fusion_matches_the_rules` reads before any layer is fused.
    """
    name = layer.name
    rows = ', '.join(f"grad_{o}" if o in has_grad else 'zero' for o in layer.outputs)
    lines = [f"    # {name} backward: grad_W = G @ Xᵀ, grad_b = G summed over examples, grad_X = Wᵀ @ G",
             "    zero = np.zeros(count)",
             f"    {name}_g = np.stack(({rows},))"]
    weights_wanted = any(w in plan.wanted for row in layer.weights for w in row)
    if weights_wanted:
        lines.append(f"    {name}_gw = ({name}_g @ {name}_x.T).tolist()")
        for j, row in enumerate(layer.weights):
            for k, w in enumerate(row):
                if w in plan.wanted:
                    lines.append(f"    grad_{w} += {name}_gw[{j}][{k}]")
                    has_grad.add(w)
    if any(isinstance(b, str) and b in plan.wanted for b in layer.biases):
        lines.append(f"    {name}_gb = {name}_g.sum(axis=1).tolist()")
        for j, b in enumerate(layer.biases):
            if isinstance(b, str) and b in plan.wanted:
                lines.append(f"    grad_{b} += {name}_gb[{j}]")
                has_grad.add(b)
    wanted_inputs = [(k, x) for k, x in enumerate(layer.inputs) if x in plan.wanted]
    if wanted_inputs:
        lines.append(f"    {name}_gx = {name}_w.T @ {name}_g")
        for k, x in wanted_inputs:
            lines.append(f"    grad_{x} = grad_{x} + {name}_gx[{k}]" if x in has_grad
                         else f"    grad_{x} = {name}_gx[{k}]")
            has_grad.add(x)
    return lines
