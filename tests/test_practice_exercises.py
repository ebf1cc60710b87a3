"""Exercises: deterministic, pleasant numbers; keys and worked solutions equal to the engine's gradients."""

import math
import random
import re

import pytest

from autodiff.graph import topological_order
from autodiff.practice import KINDS, exam_sheet, make_exercise, variant

CASES = [(kind, difficulty, seed) for kind in KINDS for difficulty in (1, 2, 3) for seed in (0, 1, 17)]


def engine_gradients(exercise):
    """∂output/∂node for every labelled node, by the engine's ordinary backward pass."""
    root = exercise.graph()
    root.backward()
    return {node.label: node.grad for node in topological_order(root) if node.label}


def finite_difference(exercise, name, eps=1e-6):
    """Central difference of the output with respect to one input, rebuilding the graph each time."""
    def output(shift):
        inputs = tuple((n, v + shift if n == name else v) for n, v in exercise.inputs)
        return type(exercise)(exercise.kind, exercise.difficulty, exercise.seed, exercise.title,
                              exercise.lines, inputs, exercise.asked).graph().data
    return (output(eps) - output(-eps)) / (2 * eps)


@pytest.mark.parametrize('kind, difficulty, seed', CASES)
def test_key_and_worked_solution_equal_the_engine(kind, difficulty, seed):
    exercise = make_exercise(kind, difficulty, seed)
    truth = engine_gradients(exercise)
    key = exercise.answer_key()
    assert list(key) == list(exercise.asked) and exercise.asked[0] == exercise.output
    for name, gradient in key.items():
        assert gradient == pytest.approx(truth[name], rel=1e-12, abs=1e-12)
    for name, _ in exercise.inputs:
        assert truth.get(name, 0.0) == pytest.approx(finite_difference(exercise, name), rel=1e-5, abs=1e-6)
    # The worked solution's closing "Gradients:" lines, read back as numbers.
    solution = exercise.worked_solution()
    listed = dict(re.findall(r'∂\w+/∂(\S+) = (\S+)', solution.split('Gradients:')[1]))
    for name, _ in exercise.inputs:
        assert float(listed[name]) == pytest.approx(truth[name], rel=1e-3, abs=1e-4)
    assert exercise.check(key).all_right


@pytest.mark.parametrize('kind, difficulty, seed', CASES)
def test_numbers_are_pleasant(kind, difficulty, seed):
    exercise = make_exercise(kind, difficulty, seed)
    for name, value in exercise.inputs:
        assert abs(value) <= 10 and round(value * 10) == pytest.approx(value * 10), (name, value)
    assert all(abs(v) <= 50 for v in exercise.forward_values().values())
    if not (kind == 'two_layer' and difficulty == 3):   # there a ReLU may be off on purpose
        assert all(g != 0 for g in exercise.answer_key().values())


def test_the_notes_graph_with_the_notes_numbers():
    exercise = make_exercise('notes_graph', 1, seed=0)
    assert dict(exercise.inputs) == {'x': 1.0, 'y': 3.0, 'z': -3.0}
    assert exercise.answer_key() == {'g': 1.0, 'z': 4.0, 'p': -3.0, 'y': -3.0, 'x': -3.0}
    assert 'g = p * z = 4 * (-3) = -12' in exercise.worked_solution()


@pytest.mark.parametrize('difficulty', [1, 2, 3])
def test_logistic_regression_has_dz_equal_a_minus_y(difficulty):
    exercise = make_exercise('logistic_regression', difficulty, seed=4)
    values = exercise.forward_values()
    a = 1 / (1 + math.exp(-values['z']))       # the sigmoid, computed here
    key = exercise.answer_key()
    assert key['z'] == pytest.approx(a - values['y'], rel=1e-12)
    weight = 'w' if 'w' in key else 'w1'
    assert key[weight] == pytest.approx(values['x' if weight == 'w' else 'x1'] * (a - values['y']))
    if difficulty == 1:
        assert a == 0.5


def test_deterministic_from_the_seed_and_the_global_random_state_untouched():
    random.seed(123)
    state = random.getstate()
    for kind in KINDS:
        assert make_exercise(kind, 2, seed=9) == make_exercise(kind, 2, seed=9)
        assert len({make_exercise(kind, 2, seed=s).inputs for s in range(10)}) >= 5
    assert random.getstate() == state


def test_variants_are_stable_and_different_between_students():
    students = [f"s{i:02d}" for i in range(30)]
    first = [variant(s, 'week 3', 'notes_graph') for s in students]
    assert first == [variant(s, 'week 3', 'notes_graph') for s in students]
    assert len({e.inputs for e in first}) >= 25
    assert variant('s01', 'week 3', 'notes_graph') != variant('s01', 'week 4', 'notes_graph')
    sheets = [tuple(e.inputs for e in exam_sheet(s, seed=5)) for s in students]
    assert len(set(sheets)) == len(students)


def test_bad_requests_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown exercise kind 'graph'; kinds: chain, fanout"):
        make_exercise('graph')
    with pytest.raises(ValueError, match='difficulty must be 1, 2 or 3, got 4'):
        make_exercise('chain', 4)
    with pytest.raises(ValueError, match='seed must be an integer'):
        make_exercise('chain', 1, seed='x')
    with pytest.raises(ValueError, match='student id must not be empty'):
        variant(' ', 'week 3')
