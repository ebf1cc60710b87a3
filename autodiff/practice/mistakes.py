"""The usual slips of backpropagation by hand, recognized by recomputing the wrong numbers they give.

For a node whose answer is wrong, `diagnose` rebuilds the candidates each
slip would produce from the node's own chain-rule shares (see
:mod:`autodiff.practice.shares`), using the learner's *own* upstream
gradients, and returns the first that matches the answer.  The slips, in the
order they are tried (`MISTAKES`):

* ``wrong_seed``: the backward pass started from something other than ∂L/∂L = 1
  (often the output's value);
* ``sign``: the right size with the opposite sign (the whole gradient, or one
  share of a node used several times);
* ``missing_path``: a node used more than once, with one share or more left out
  (forgot to accumulate at a fan-out);
* ``swapped_factors``: the local derivative of the operation's *other* input
  used (for a product ``p · z``: ∂/∂p taken as ``p`` instead of ``z``, the notes' own slip);
* ``input_for_output``: a rule written with the output (exp, tanh, sigmoid,
  sqrt) applied to the input instead;
* ``upstream_forgotten``: the local derivative alone, not multiplied by the
  upstream gradient;
* ``constant_factor``: a constant multiple of the right answer (2, 3, 4, 10,
  their inverses, −2, −1/2): a factor counted twice or left out.

>>> MISTAKES['sign'].title
'sign error'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from autodiff.practice.shares import Share
from autodiff.value import Value

#: Multiples (answer ÷ right answer) reported as ``constant_factor``; −1 is a sign error.
FACTORS = (2.0, 3.0, 4.0, 10.0, 0.5, 1 / 3, 0.25, 0.1, -2.0, -0.5)
MAX_FAN_OUT = 6   # subsets of shares are tried for nodes used at most this many times


@dataclass(frozen=True)
class Mistake:
    """One kind of slip: its name, a short title and the advice that goes with it."""

    kind: str
    title: str
    advice: str


MISTAKES: dict[str, Mistake] = {m.kind: m for m in (
    Mistake('wrong_seed', 'wrong seed',
            'The backward pass starts at the output with ∂{root}/∂{root} = 1 (not the output\'s value).'),
    Mistake('sign', 'sign error',
            'The size is right but the sign is not: look for a minus sign in a local derivative '
            '(a subtraction, a negation, a negative factor).'),
    Mistake('missing_path', 'a missing path at a fan-out',
            '{node} is used {uses} times, so its gradient is the sum of one share per use: '
            'you left out the share through {missing}.'),
    Mistake('swapped_factors', 'product-rule factors swapped',
            'For {output} = {formula} you used the local derivative of the other input: '
            'for a product, ∂{output}/∂{node} is the other factor, not {node} itself.'),
    Mistake('input_for_output', 'the input used where the output belongs',
            'The local derivative of {op} is written with its output: ∂{output}/∂{node} = {local_formula}. '
            'You put the input {node} where the output {output} belongs.'),
    Mistake('upstream_forgotten', 'upstream gradient forgotten',
            'You gave the local derivative alone: multiply it by the upstream gradient ∂{root}/∂{output}.'),
    Mistake('constant_factor', 'off by a constant factor',
            'Your answer is a constant multiple of the right one: look for a factor counted twice or '
            'left out (an exponent, a 1/2, a mean over examples).'),
)}


@dataclass(frozen=True)
class Diagnosis:
    """The slip that explains a wrong answer, and the shares it concerns (for the advice)."""

    kind: str
    shares: tuple[Share, ...] = ()


def diagnose(answer: float, shares: Sequence[Share], upstream: Mapping[Value, float], *,
             is_root: bool, seed: float, root_value: float, seed_given: bool,
             close: Callable[[float, float], bool]) -> Diagnosis | None:
    """The first slip whose number matches ``answer``, or ``None`` when none does.

    ``upstream`` is the learner's working ∂root/∂output for each operation that
    uses the node (their answer where they gave one); ``close`` compares numbers.

    >>> from autodiff import Value
    >>> from autodiff.practice.shares import trace_shares
    >>> x, y = Value(2.0, label='x'), Value(5.0, label='y')
    >>> f = x * y
    >>> [to_x, _] = trace_shares(f).shares
    >>> diagnose(2.0, [to_x], {f: 1.0}, is_root=False, seed=1.0, root_value=10.0, seed_given=False,
    ...          close=lambda a, b: abs(a - b) < 1e-9).kind
    'swapped_factors'
    """
    if is_root:
        return None if close(answer, seed) else Diagnosis('wrong_seed')
    expected = sum(upstream[s.output] * s.local for s in shares)
    for kind, candidate, involved in _candidates(shares, upstream, seed, root_value, seed_given):
        if close(answer, candidate) and not close(candidate, expected):
            return Diagnosis(kind, involved)
    if expected != 0 and not close(answer, expected):
        ratio = answer / expected
        if any(math.isclose(ratio, factor, rel_tol=1e-3) for factor in FACTORS):
            return Diagnosis('constant_factor')
    return None


def _candidates(shares: Sequence[Share], upstream: Mapping[Value, float], seed: float,
                root_value: float, seed_given: bool) -> Iterator[tuple[str, float, tuple[Share, ...]]]:
    """``(kind, the number that slip gives, the shares involved)`` for every slip, in `MISTAKES` order."""
    parts = [upstream[s.output] * s.local for s in shares]
    total = sum(parts)
    if not seed_given and root_value not in (seed, 0.0):  # started from the output's value instead of 1
        yield 'wrong_seed', total * root_value / seed, ()
    yield 'sign', -total, ()
    for i, share in enumerate(shares):
        if len(shares) > 1:
            yield 'sign', total - 2 * parts[i], (share,)
    if 1 < len(shares) <= MAX_FAN_OUT:
        for kept in range(len(shares) - 1, 0, -1):
            for chosen in combinations(range(len(shares)), kept):
                left_out = tuple(s for j, s in enumerate(shares) if j not in chosen)
                yield 'missing_path', sum(parts[j] for j in chosen), left_out
    for i, share in enumerate(shares):
        if share.other_local is not None:
            yield 'swapped_factors', total - parts[i] + upstream[share.output] * share.other_local, (share,)
    for i, share in enumerate(shares):
        if share.local_on_input is not None:
            wrong = upstream[share.output] * share.local_on_input
            yield 'input_for_output', total - parts[i] + wrong, (share,)
    for i, share in enumerate(shares):
        yield 'upstream_forgotten', total - parts[i] + share.local, (share,)
    if len(shares) > 1:
        yield 'upstream_forgotten', sum(s.local for s in shares), tuple(shares)


def advice(diagnosis: Diagnosis, node: str, names: Mapping[Value, str], root: str, uses: int,
           formulas: Mapping[tuple[Value, int], str | None]) -> str:
    """The advice for a diagnosis, in the nodes' names; it never contains the right number.

    ``formulas`` maps ``(output node, input position)`` to the local derivative's formula.
    """
    share = diagnosis.shares[0] if diagnosis.shares else None
    output = names.get(share.output, '?') if share else '?'
    fields = {
        'root': root, 'node': node, 'uses': uses, 'output': output,
        'missing': ' and '.join(names.get(s.output, '?') for s in diagnosis.shares),
        'op': share.output._op if share else '', 'formula': _operation_text(share, names) if share else '',
        'local_formula': formulas.get((share.output, share.position)) or '?' if share else '?',
    }
    return MISTAKES[diagnosis.kind].advice.format(**fields)


def _operation_text(share: Share, names: Mapping[Value, str]) -> str:
    """``p * z``: the operation that produced the share, in names."""
    inputs = [names.get(v, f"{v.data:g}") for v in share.output._prev]
    if len(inputs) == 2:
        return f"{inputs[0]} {share.output._op} {inputs[1]}"
    return f"{share.output._op}({', '.join(inputs)})"
