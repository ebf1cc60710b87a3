"""The find-the-bug lab: each seeded bug gives the wrong numbers it should, and the tools find it."""

from __future__ import annotations

import math

import pytest

from autodiff import AnomalyError, Value, detect_anomaly, grad, gradcheck, topological_order
from autodiff.practice import check
from autodiff.practice.bugs import BUGS, ENGINE_NAMES, BuggyEngine, Lab, altered_rules, recursive_order
from autodiff.practice.lesson_checks import check_choice, check_value
from autodiff.rules import RULES


def probe():
    """o = exp(x·y − y)·x: a subtraction, an exp, and x and y each used twice."""
    x, y = Value(0.3, label='x'), Value(0.5, label='y')
    out = (x * y - y).exp() * x
    return x, y, out


def analytic(x=0.3, y=0.5):
    """∂o/∂x and ∂o/∂y of o = exp(xy − y)·x, by hand."""
    e = math.exp(x * y - y)
    return e * (1 + x * y), e * x * (x - 1)


def test_every_engine_but_the_overwrite_one_adds_shares_and_only_its_row_differs():
    for bug in BUGS:
        changed = {op for op in RULES if altered_rules(bug)[op] is not RULES[op]}
        assert changed == {'subtraction_sign': {'-'}, 'exp_uses_input': {'exp'}}.get(bug, set())


def test_the_recursive_sort_gives_the_real_order_on_shallow_graphs_and_overflows_on_deep_ones():
    x, y, out = probe()
    order = recursive_order(out)
    assert set(order) == set(topological_order(out)) and len(order) == len(set(order))
    assert all(order.index(child) < order.index(node) for node in order for child in node._prev)
    BuggyEngine('recursive_sort').backward(out)
    dx, dy = analytic()
    assert math.isclose(x.grad, dx, rel_tol=1e-12) and math.isclose(y.grad, dy, rel_tol=1e-12)
    deep = Value(1.0)
    for _ in range(5000):
        deep = deep * 1.0001
    with pytest.raises(RecursionError):
        BuggyEngine('recursive_sort').backward(deep)
    for bug in ('overwrite', 'subtraction_sign', 'exp_uses_input'):
        BuggyEngine(bug).backward(deep)  # the iterative order copes


def test_each_wrong_number_is_the_one_its_bug_predicts():
    dx, dy = analytic()
    e = math.exp(0.3 * 0.5 - 0.5)
    expected = {  # (∂o/∂x, ∂o/∂y) by hand, with the bug
        'overwrite': (0.3 * e * 0.5, e * 0.3 * 0.3),            # x and y keep only the share handed out last
        'subtraction_sign': (dx, e * 0.3 * (0.3 + 1)),          # ∂d/∂y = +1: y's share through d flips
        'exp_uses_input': (e + 0.3 * (0.3 * 0.5 - 0.5) * 0.5, 0.3 * (0.3 * 0.5 - 0.5) * (0.3 - 1)),
        'recursive_sort': (dx, dy),
    }
    for bug, (want_x, want_y) in expected.items():
        x, y, out = probe()
        BuggyEngine(bug).backward(out)
        assert math.isclose(x.grad, want_x, rel_tol=1e-12), bug
        assert math.isclose(y.grad, want_y, rel_tol=1e-12), bug


def test_gradcheck_through_an_engine_fails_for_the_three_wrong_rules_and_passes_for_the_sort():
    f = lambda x, y: (x * y - y).exp() * x  # noqa: E731
    for bug in ('overwrite', 'subtraction_sign', 'exp_uses_input'):
        with pytest.raises(AssertionError, match='MISMATCH'):
            gradcheck(BuggyEngine(bug).function(f), 0.3, 0.5)
    assert gradcheck(BuggyEngine('recursive_sort').function(f), 0.3, 0.5)
    assert math.isclose(grad(BuggyEngine('exp_uses_input').function(lambda x: x.exp()))(2.0), 2.0)


def test_the_checker_names_each_rule_bug_as_the_matching_slip():
    slips = {'overwrite': 'missing_path', 'subtraction_sign': 'sign', 'exp_uses_input': 'input_for_output'}
    for bug, slip in slips.items():
        _, _, out = probe()
        result = check(out, BuggyEngine(bug).gradients(out))
        assert result.first_wrong is not None and result.first_wrong.mistake == slip, (bug, result.text())
    _, _, out = probe()
    assert check(out, BuggyEngine('recursive_sort').gradients(out)).all_right


def test_anomaly_mode_checks_the_buggy_engines_shares():
    x = Value(700.0, label='x')
    out = x.exp() * 1e3           # about 1e307: finite, but a large seed overflows in the backward pass
    assert math.isfinite(out.data)
    with detect_anomaly(), pytest.raises(AnomalyError, match='produced a gradient of inf'):
        BuggyEngine('subtraction_sign').backward(out, 1e300)


def test_the_lab_grades_names_and_hides_the_answer_in_its_feedback():
    lab = Lab(seed=0)
    assert sorted(lab.engines) == list(ENGINE_NAMES)
    empty = lab.check({name: None for name in ENGINE_NAMES})
    assert set(empty.verdicts.values()) == {'not answered'} and not empty.all_right
    truth = {}
    for name, engine in lab.engines.items():  # identify each engine by its behaviour, as the learner would
        _, _, out = probe()
        result = check(out, engine.gradients(out))
        kind = result.first_wrong.mistake if result.first_wrong else None
        truth[name] = {'missing_path': 'overwrite', 'sign': 'subtraction_sign',
                       'input_for_output': 'exp_uses_input', None: 'recursive_sort'}[kind]
    assert lab.check(truth).all_right and lab.check(truth).score == (4, 4)
    swapped = dict(truth)
    a, b = ENGINE_NAMES[:2]
    swapped[a], swapped[b] = truth[b], truth[a]
    graded = lab.check(swapped)
    assert graded.score == (2, 4) and graded.verdicts[a] == 'wrong'
    assert truth[a] not in graded.text()  # a hint says what to try, not which bug it is
    orders = {tuple(Lab(seed)._bugs.values()) for seed in range(6)}
    assert len(orders) > 1, 'the seed shuffles which engine has which bug'


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="unknown bug 'typo'"):
        BuggyEngine('typo')
    with pytest.raises(ValueError, match="no engine named 'E'"):
        Lab().check({'E': 'overwrite'})
    with pytest.raises(ValueError, match='unknown bug'):
        Lab().check({'A': 'off by one'})
    with pytest.raises(TypeError, match='needs a Value'):
        BuggyEngine('overwrite').backward(3.0)


def test_value_and_choice_checks():
    assert check_value('rate', None, 4.0).status == 'not answered'
    assert check_value('rate', 4.02, 4.0).right
    wrong = check_value('rate', 5, 4.0, hint='the factor 1 - α/2 must stay inside (-1, 1)')
    assert wrong.status == 'wrong' and 'too large' in wrong.text()
    assert '4' not in wrong.text(), 'the feedback must not leak the answer'
    assert 'wrong sign' in check_value('slope', -4, 4.0).text()
    assert 'could not read' in check_value('rate', 'four', 4.0).text()
    assert check_choice('why', ' B ', 'b', 'abc').right
    assert check_choice('why', None, 'b', 'abc').status == 'not answered'
