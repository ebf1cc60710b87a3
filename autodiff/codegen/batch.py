"""Batches: a per-example program planned for whole batches, and its Python loop.

`plan_batch` splits a traced per-example program into what depends on the
example (*looped*) and what reads the shared arguments only (*hoisted*:
computed once per batch, its gradient summed over the examples, since the
chain rule is linear).  `python_batch_source` writes the plan as a Python
loop over the examples; :mod:`autodiff.codegen.numpy_code` writes the same
plan as NumPy lines on whole arrays.

>>> from autodiff.codegen.tracing import trace
>>> plan = plan_batch(trace(lambda w, x: w * w * x, (1.0, 2.0)), None, [1], None)
>>> [s.name for s in plan.hoisted], [s.name for s in plan.looped], plan.accumulators
(['_v1'], ['_v2'], ['_a0', '_v1'])
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from autodiff import scalar_math
from autodiff.codegen.python_code import (
    backward_lines,
    first_slot_lines,
    forward_lines,
    generated_names,
    grads_return,
    header_comment,
    inline_single_use,
    operand_text,
    skip_off_relus,
    tuple_text,
    unpack_lines,
    wanted_names,
    wrapped_statement,
)
from autodiff.codegen.tracing import (
    Operand,
    Program,
    Step,
    argnum_list,
    comment_text,
    flatten_layout,
    grad_name,
)
from autodiff.rule_math import RuleMath
from autodiff.rules import RULES
from autodiff.symbolic import number_text

#: The name of the generated batch function.
MAIN = '_compiled_batch'


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
        """The positions of the shared (unbatched) arguments."""
        return [i for i in range(len(self.example.layouts)) if i not in self.batched]


def plan_batch(example: Program, penalty: Program | None, batched: Sequence[int],
               argnums: int | Sequence[int] | None) -> BatchPlan:
    """Split ``example`` into per-batch and per-example steps (see `BatchPlan`).

    >>> from autodiff.codegen.tracing import trace
    >>> plan = plan_batch(trace(lambda w, x: w * x, (1.0, 2.0)), None, [1], None)
    >>> plan.parameters, sorted(plan.batched_names)
    (['_a0', '_b1'], ['_a1', '_v1'])
    """
    count = len(example.layouts)
    batched = argnum_list(list(batched), count)
    if not batched:
        raise ValueError("a batch function needs at least one batched argument")
    shared = [i for i in range(count) if i not in batched]
    chosen = shared if argnums is None else argnum_list(argnums, count)
    if any(i in batched for i in chosen):
        raise ValueError("gradients are summed over the batch only for shared (unbatched) arguments")
    # A batched argument arrives as the whole batch, _b<i>; its example is _a<i> in the loop.
    parameters = [f"_b{i}" if i in batched else f"_a{i}" for i in range(count)]
    batched_names = {n for i in batched for n in flatten_layout(example.layouts[i])}
    hoisted, looped = [], []
    for step in example.steps:
        if any(o in batched_names for o in step.operands):
            batched_names.add(step.name)
            looped.append(step)
        else:
            hoisted.append(step)
    chosen_inputs = {n for i in chosen for n in flatten_layout(example.layouts[i])}
    wanted = wanted_names(example.steps, chosen_inputs)
    penalty_wanted = wanted_names(penalty.steps, chosen_inputs) if penalty else set()
    accumulators = [n for i in chosen for n in flatten_layout(example.layouts[i])]
    accumulators += [s.name for s in hoisted if s.name in wanted]
    return BatchPlan(example, penalty, batched, chosen, parameters, batched_names, hoisted, looped,
                     wanted, penalty_wanted, accumulators, argnums)


def python_batch_source(plan: BatchPlan) -> str:
    """Generated Python for the mean of the example function over a batch, and its gradient.

    The example's straight-line code is the body of a loop over examples:
    small enough for CPython to compile quickly, and the shared gradients
    are running sums (``+=``) across iterations.  The body is what runs most,
    so it is written for CPython to run it fast, bit for bit the same:
    temporaries read once go into their readers (`inline_single_use`), a
    relu that is off skips its gradient's sum where that is exact
    (`input_bound`, `skip_off_relus`), and the loop's names take the first
    local slots (`first_slot_lines`).

    >>> from autodiff.codegen.tracing import trace
    >>> source = python_batch_source(plan_batch(trace(lambda w, x: w * x, (1.0, 2.0)), None, [1], 0))
    >>> [line.strip() for line in source.splitlines() if '_ga0' in line]
    ['_ga0 = 0.0', '_ga0 += _seed * _a1  # *: ∂_v1/∂_a0 = _a1', 'return _value, _ga0']
    """
    example, params = plan.example, plan.parameters
    accumulators = set(plan.accumulators)
    lines = [f"def {MAIN}({', '.join(params)}):", header_comment(example, params)]
    for i in plan.shared:
        lines += unpack_lines(params[i], example.layouts[i], '    ', example.arg_names[i])
    lines += batch_count_lines(plan)
    lines += hoisted_forward_lines(plan)
    lines.append('    # gradients of the shared values, summed over the examples')
    lines += [f"    {grad_name(n)} = 0.0" for n in plan.accumulators]
    lines += ["    _seed = 1 / _count  # ∂mean/∂(one example's value)", "    _total = 0.0"]
    if example.aux is not None:
        lines.append("    _aux = []  # one entry per example")
    loop = _loop_lines(plan, accumulators)
    after = hoisted_backward_lines(plan) + ['    _value = _total / _count'] + penalty_lines(plan)
    grads = grads_return(example.layouts, plan.chosen, plan.argnums, accumulators)
    after.append(f"    return {'(_value, _aux)' if example.aux is not None else '_value'}, {grads}")
    body = inline_single_use(loop[1:], lines + after)
    before, body = _relu_skip(plan, body)
    lines += before
    slots = first_slot_lines(loop[:1] + body, generated_names(lines), '    ', taken=len(params),
                             first=['_bounded', '_shared_size'] if before else [])
    return '\n'.join(lines[:2] + slots + lines[2:] + loop[:1] + body + after)


def _loop_lines(plan: BatchPlan, accumulators: set[str]) -> list[str]:
    """The loop over the examples: unpack one, its forward lines, then its backward lines."""
    example, params = plan.example, plan.parameters
    targets = ', '.join(f"_a{i}" for i in plan.batched)
    sources = params[plan.batched[0]] if len(plan.batched) == 1 else \
        f"zip({', '.join(params[i] for i in plan.batched)})"
    lines = [f"    for {targets} in {sources}:"]
    for i in plan.batched:
        lines += unpack_lines(f"_a{i}", example.layouts[i], '        ', example.arg_names[i])
    lines.append('        # forward: one line per operation (a temporary read once is written where read)')
    lines += forward_lines(example, plan.looped, '        ', fast=True)
    output = example.output
    lines.append(f"        _total += {operand_text(output)}")
    if example.aux is not None:
        lines.append(f"        _aux.append({aux_text(example.aux)})")
    lines.append("        # backward: _gv1 is ∂(this example's value)/∂_v1 times _seed, and so on")
    seeded = set()
    if output in plan.batched_names:
        lines.append(f"        {grad_name(output)} = _seed")
        seeded.add(output)
    elif output in accumulators:
        lines.append(f"        {grad_name(output)} += _seed")
    more, _ = backward_lines(plan.looped, seeded, accumulators, plan.wanted, '        ', fast=True)
    return lines + more


# ----------------------------------------------------------------------
# Where a relu that is off may skip its gradient's sum: examples too small to overflow.
# ----------------------------------------------------------------------
#: Bounds of |f(a, b)| given bounds of |a| and |b|, for the forward functions whose
#: values and gradients are then bounded too (sums and products: polynomials, with relu).
_SIZE_BOUNDS: dict[Callable[..., Any], Callable[..., float]] = {
    operator.add: lambda a, b: a + b, operator.sub: lambda a, b: a + b,
    operator.mul: lambda a, b: a * b, operator.neg: lambda a: a, scalar_math.relu: lambda a: a}
#: Every value and gradient below this is finite, with room for rounding (floats reach 2**1024).
SIZE_LIMIT = 2.0 ** 1000


class _SlopeBounds(RuleMath):
    """The rules' namespace on sizes (bounds of |x|): a step function is at most 1."""

    def heaviside(self, x: Any, at_zero: float) -> float:
        return 1.0


_SLOPE_BOUNDS = _SlopeBounds()


def input_bound(program: Program) -> float | None:
    """A size M such that inputs no larger than M keep every value and gradient of ``program`` finite.

    Only for programs of sums, products and relu, whose values are bounded
    by polynomials in their inputs: the bounds are computed through the
    steps (|a·b| ≤ |a|·|b|, the slopes from the rule table, seed 1), for M
    from 2**64 down to 1.  None: no such M, or another operation.

    >>> from autodiff.codegen.tracing import trace
    >>> input_bound(trace(lambda w, x: (w * x + 1.0).relu(), (1.0, 1.0))) == 2.0 ** 64
    True
    >>> input_bound(trace(lambda w, x: (w * x).exp(), (1.0, 1.0))) is None
    True
    """
    if any(RULES[s.op].forward not in _SIZE_BOUNDS for s in program.steps):
        return None
    for exponent in (64, 16, 4, 1, 0):
        if _all_below(program, 2.0 ** exponent, SIZE_LIMIT):
            return 2.0 ** exponent
    return None


def _all_below(program: Program, m: float, limit: float) -> bool:
    """Whether, with inputs of size at most ``m``, every value and gradient is below ``limit``."""
    size: dict[str, float] = {}

    def of(o: Operand) -> float:
        return size.get(o, m) if isinstance(o, str) else abs(o)
    for s in program.steps:
        size[s.name] = _SIZE_BOUNDS[RULES[s.op].forward](*map(of, s.operands))
    grad: dict[Operand, float] = {program.output: 1.0}
    for s in reversed(program.steps):
        upstream = grad.get(s.name, 0.0)
        if upstream:
            slopes = RULES[s.op].partials(_SLOPE_BOUNDS, size[s.name], *map(of, s.operands))
            for o, slope in zip(s.operands, slopes):
                if isinstance(o, str) and slope is not None:
                    grad[o] = grad.get(o, 0.0) + upstream * abs(slope)
    return all(v <= limit for v in size.values()) and all(v <= limit for v in grad.values())


def _relu_skip(plan: BatchPlan, body: list[str]) -> tuple[list[str], list[str]]:
    """The loop ``body`` with relu's slope skipping its sum where exact (`skip_off_relus`), and the
    line to put before the loop; nothing changes for a program `input_bound` cannot bound."""
    bound = input_bound(plan.example)
    if bound is None:
        return [], body
    body, changed = skip_off_relus(body, '_bounded')
    if not changed:
        return [], body
    shared = [n for i in plan.shared for n in flatten_layout(plan.example.layouts[i])]
    example = [n for i in plan.batched for n in flatten_layout(plan.example.layouts[i])]
    before = [f"    # _bounded: the example's inputs have Σ|x| ≤ {number_text(bound)}, so none of its values",
              "    # or gradients can be inf or nan: a relu that is off passes back 0.0 without its sum",
              wrapped_statement(f"_shared_size = sum(map(abs, {tuple_text(shared)}))", '    ')]
    guard = wrapped_statement(f"_bounded = _shared_size + sum(map(abs, {tuple_text(example)})) <= "
                       f"{bound!r}", '        ')
    at = next(i for i, line in enumerate(body) if line.strip().startswith('# forward'))
    return before, body[:at] + [guard] + body[at:]


def hoisted_forward_lines(plan: BatchPlan) -> list[str]:
    """The once-per-batch steps' forward lines (none when nothing is hoisted)."""
    if not plan.hoisted:
        return []
    return ['    # once per batch: operations on the shared arguments only'] + forward_lines(
        plan.example, plan.hoisted, '    ', fast=True)


def hoisted_backward_lines(plan: BatchPlan) -> list[str]:
    """The chain rule through the once-per-batch steps, after every example has added its share."""
    if not plan.hoisted:
        return []
    more, _ = backward_lines(plan.hoisted, set(), set(plan.accumulators), plan.wanted, '    ', fast=True)
    return ['    # backward through the once-per-batch operations'] + more


def aux_text(aux: Operand | list[Operand]) -> str:
    """One example's aux as a Python expression: a name or literal, or a list of them.

    >>> aux_text('_v3'), aux_text(['_v1', 2.0])
    ('_v3', '[_v1, 2]')
    """
    if isinstance(aux, list):
        return '[' + ', '.join(map(operand_text, aux)) + ']'
    return operand_text(aux)


def penalty_lines(plan: BatchPlan) -> list[str]:
    """The penalty (a function of the shared arguments), added once: forward and backward."""
    penalty = plan.penalty
    if penalty is None:
        return []
    accumulators = set(plan.accumulators)
    lines = [f"    # the penalty {comment_text(penalty.name)}, added once per batch"]
    lines += forward_lines(penalty, penalty.steps, '    ', fast=True)
    seeded = set()
    if penalty.output in {s.name for s in penalty.steps}:
        lines.append(f"    {grad_name(penalty.output)} = 1.0")
        seeded.add(penalty.output)
    elif penalty.output in accumulators:
        lines.append(f"    {grad_name(penalty.output)} += 1.0")
    more, _ = backward_lines(penalty.steps, seeded, accumulators, plan.penalty_wanted, '    ',
                             fast=True)
    # An L2 penalty is a chain of hundreds of adds and aliases: written into fewer statements.
    return inline_single_use(lines + more + [f"    _value += {operand_text(penalty.output)}"],
                             [' '.join(plan.accumulators)])


def batch_count_lines(plan: BatchPlan) -> list[str]:
    """Generated lines that set ``_count``, the batch size, and refuse ragged or empty batches.

    The messages name the arguments as the user did, inside string literals (``repr``).
    """
    params, names = plan.parameters, plan.example.arg_names
    first = plan.batched[0]
    lines = [f"    _count = len({params[first]})"]
    for i in plan.batched[1:]:
        has, other = repr(f"{names[i]} has "), repr(f" examples, {names[first]} has ")
        lines += [f"    if len({params[i]}) != _count:",
                  f"        raise ValueError({has} + str(len({params[i]})) + {other} + str(_count))"]
    return lines + ["    if _count == 0:",
                    "        raise ValueError('the mean over an empty batch is undefined')"]
