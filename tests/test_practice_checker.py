"""The practice checker: right answers, every mistake kind, the first-wrong-node rule, reveal, answer text."""

import math

import pytest

from autodiff import Value
from autodiff.pictures.renderers import available_renderers
from autodiff.practice import MISTAKES, AnswerError, check, parse_answer
from tests.graphs import notes_example


def labelled(value, name):
    value.label = name
    return value


def test_the_notes_right_answers_are_all_right():
    g, *_ = notes_example()
    # By hand: ∂g/∂p = z = -3, ∂g/∂z = p = 4, ∂g/∂x = ∂g/∂y = ∂g/∂p · 1 = -3.
    result = check(g, {'g': 1, 'p': -3, 'z': 4, 'x': '-3', 'y': '-1*3'})
    assert result.all_right and result.first_wrong is None and result.score == (5, 5)
    assert 'All right' in result.text()


def test_a_tanh_neuron_answered_with_expressions():
    x, w, b = Value(2.0, label='x'), Value(-1.0, label='w'), Value(2.5, label='b')
    n = labelled(w * x + b, 'n')
    o = labelled(n.tanh(), 'o')
    slope = 1 - math.tanh(0.5) ** 2  # d tanh(n)/dn at n = 0.5, computed here
    result = check(o, {'n': '1-0.4621**2', 'b': slope, 'w': slope * 2, 'x': slope * -1})
    assert result.all_right, result.text()


def notes_mistake(answers):
    g, *_ = notes_example()
    return check(g, answers)


@pytest.mark.parametrize('answers, node, kind', [
    ({'g': 1, 'z': 4, 'p': 3}, 'p', 'sign'),                       # -(-3)
    ({'g': 1, 'z': -3}, 'z', 'swapped_factors'),                  # the notes' slip: z for ∂g/∂z
    ({'g': 1, 'z': 4, 'p': 4}, 'p', 'swapped_factors'),           # p for ∂g/∂p
    ({'g': 1, 'z': 4, 'p': -3, 'x': 1}, 'x', 'upstream_forgotten'),  # ∂p/∂x = 1 alone
    ({'g': -12}, 'g', 'wrong_seed'),                              # seeded with g's value
    ({'z': -48, 'p': 36}, 'z', 'wrong_seed'),                     # the same, root not answered
    ({'g': 1, 'z': 8}, 'z', 'constant_factor'),                   # 2 · p
])
def test_each_mistake_kind_on_the_notes_graph(answers, node, kind):
    result = notes_mistake(answers)
    assert result.first_wrong.name == node and result.first_wrong.mistake == kind, result.text()
    assert MISTAKES[kind].title in result.text()


def test_a_missing_path_at_a_fan_out():
    x, y = Value(2.0, label='x'), Value(-1.0, label='y')
    u = labelled(x * y, 'u')
    f = labelled(u + x, 'f')
    # ∂f/∂x = y + 1 = 0 by hand; the share through u alone is y = -1, the direct one alone 1.
    for forgotten_path, answer in (('u', 1.0), ('f', -1.0)):
        result = check(f, {'f': 1, 'u': 1, 'x': answer})
        wrong = result.first_wrong
        assert (wrong.name, wrong.mistake) == ('x', 'missing_path')
        assert f"share through {forgotten_path}" in wrong.hint


@pytest.mark.parametrize('op, x, wrong_local', [
    ('exp', 2.0, 2.0),                      # x where exp(x) belongs
    ('tanh', 0.5, 1 - 0.5 ** 2),            # 1 - x² instead of 1 - tanh(x)²
    ('sigmoid', 1.0, 1.0 * (1 - 1.0)),      # x(1 - x) instead of s(1 - s)
])
def test_the_input_used_where_the_output_belongs(op, x, wrong_local):
    a = Value(x, label='a')
    b = Value(3.0, label='b')
    h = labelled(getattr(a, op)(), 'h')
    f = labelled(h * b, 'f')
    # ∂f/∂a = b · h'(a): the learner has the upstream (3) right and the local wrong.
    result = check(f, {'h': 3, 'a': 3 * wrong_local})
    assert (result.first_wrong.name, result.first_wrong.mistake) == ('a', 'input_for_output'), result.text()


def test_the_first_wrong_node_at_a_fan_out_and_what_follows_from_it():
    x, y = Value(2.0, label='x'), Value(3.0, label='y')
    u = labelled(x * y, 'u')                # u = 6, used twice
    v = labelled(u + x, 'v')                # v = 8
    f = labelled(v * u, 'f')                # f = 48
    # By hand: ∂f/∂v = u = 6; ∂f/∂u = v + ∂f/∂v = 8 + 6 = 14; ∂f/∂x = 14·y + 6 = 48; ∂f/∂y = 14·x = 28.
    right = {'f': 1, 'v': 6, 'u': 14, 'x': 48, 'y': 28}
    assert check(f, right).all_right
    # u's share through v forgotten (8): x and y then follow from that wrong u: 8·3 + 6 = 30 and 8·2 = 16.
    result = check(f, {**right, 'u': 8, 'x': 30, 'y': 16})
    assert result.first_wrong.name == 'u' and result.first_wrong.mistake == 'missing_path'
    for name in ('x', 'y'):
        assert result[name].status == 'carried' and result[name].follows_from == ('u',)
        assert result[name].mistake is None
    assert 'follows from your earlier answer for u' in result.text()
    # A second, separate slip after the first is wrong, but not "the first wrong".
    result = check(f, {**right, 'u': 8, 'x': 30, 'y': -16})
    assert result['y'].status == 'wrong' and not result['y'].first and result.first_wrong.name == 'u'


def test_a_wrong_seed_carries_through_the_whole_graph():
    g, *_ = notes_example()
    result = check(g, {'g': -12, 'z': -48, 'p': 36, 'x': 36, 'y': 36})
    assert result.first_wrong.name == 'g'
    assert [r.status for r in result.nodes[1:]] == ['carried'] * 4


def test_other_answers_are_not_revealed_unless_asked():
    x, y, z = Value(2.0, label='x'), Value(5.0, label='y'), Value(-3.0, label='z')
    p = labelled(x + y, 'p')
    g = labelled(p * z, 'g')       # ∂g/∂p = ∂g/∂x = ∂g/∂y = -3, ∂g/∂z = 7
    hidden = check(g, {'z': 3})
    assert all(r.answer is None for r in hidden.nodes)
    assert hidden['z'].step.endswith('= …') and '-3' not in hidden.text() and 'right:' not in hidden.text()
    shown = check(g, {'z': 3}, reveal=True)
    assert [shown[n].answer for n in ('z', 'p', 'y', 'x')] == [7.0, -3.0, -3.0, -3.0]
    assert shown['z'].step.endswith('= 7') and '(right: -3)' in shown.text()


def test_a_step_does_not_show_an_upstream_the_learner_has_not_got():
    x, y = Value(2.0, label='x'), Value(4.0, label='y')
    u = labelled(x * y, 'u')
    f = labelled(u * u, 'f')        # ∂f/∂u = 2u = 16 (not given); ∂f/∂x = 16 · y = 64
    step = check(f, {'x': 1}).first_wrong.step
    assert '∂f/∂u · y = ∂f/∂u · 4' in step and '16' not in step


def test_answers_by_explainer_name_and_by_node():
    x = Value(3.0, label='x')
    f = (x * x).exp()   # unlabelled: v1 = x * x, v2 = exp(v1)
    slope = math.exp(9.0)
    assert check(f, {'v1': slope, x: 6 * slope}).all_right


def test_answer_text_is_computed_safely():
    assert parse_answer('1-0.76**2') == pytest.approx(0.4224)
    assert parse_answer('2*0.5') == 1.0 and parse_answer('-(3)') == -3.0
    for bad in ('abc', '', '__import__("os").system("true")', 'x.real', '[1]', '2**10000', 'open("f")'):
        with pytest.raises(AnswerError) as error:
            parse_answer(bad)
        assert '\n' not in str(error.value)


def test_unknown_names_and_bad_answers_are_refused_in_one_line():
    g, *_ = notes_example()
    with pytest.raises(AnswerError, match=r"no node named 'q'.*names are: x, y, p, z, g"):
        check(g, {'q': 1})
    with pytest.raises(AnswerError, match=r"the answer for p: not a number: 'abc'"):
        check(g, {'p': 'abc'})


def test_checking_leaves_the_graph_untouched():
    g, x, y, z, p = notes_example()
    g.backward()
    before = [v.grad for v in (g, x, y, z, p)]
    check(g, {'p': 1, 'x': 2}, reveal=True)
    assert [v.grad for v in (g, x, y, z, p)] == before


def test_agrees_with_pytorch_float64():
    torch = pytest.importorskip('torch')
    values = {'w': 0.7, 'x': -1.3, 'b': 0.2}
    w, x, b = (Value(v, label=k) for k, v in values.items())
    loss = labelled(((w * x + b).sigmoid() - 1.0) ** 2, 'L')
    tw, tx, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values.values())
    ((tw * tx + tb).sigmoid() - 1.0).pow(2).backward()
    result = check(loss, {'w': tw.grad.item(), 'x': tx.grad.item(), 'b': tb.grad.item()})
    assert result.all_right, result.text()


def test_html_shows_the_graph_small_with_right_green_and_first_wrong_red():
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed (dot or chainrule[viz])')
    g, *_ = notes_example()
    page = check(g, {'g': 1, 'z': 4, 'p': 3})._repr_html_()
    assert '<svg' in page and '#2ca02c' in page and '#d62728' in page
    assert 'sign error' in page and len(page) < 20_000
