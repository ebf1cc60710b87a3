"""nn.training: micrograd's demo through the plain API and through fit, update counts, History,
validation, early stopping, divergence and the progress display."""

from __future__ import annotations

import csv
import gc
import json
import math
import sys

import pytest

from autodiff import Value
from nn import MLP, SGD, Adam, linear_decay, make_blobs, make_moons
from nn.history import History
from nn.training import TrainingDiverged, TrainingInputError, evaluate, fit, predict

DEMO_SEED = 1337


def demo_data():
    X, y = make_moons(n_samples=100, noise=0.1, random_state=DEMO_SEED)
    return X, [label * 2 - 1 for label in y]  # micrograd: y = y*2 - 1


def accuracy_of(model, X, y):
    return sum((yi > 0) == (model(x).data > 0) for x, yi in zip(X, y)) / len(y)


@pytest.fixture(scope='module')
def plain_demo():
    """micrograd's demo loop, written out as in its notebook, on our MLP and data."""
    X, y = demo_data()
    model = MLP(2, [16, 16, 1], seed=DEMO_SEED)
    gc.disable()  # speed only: the graphs have no cycles to collect (see nn/training.py)
    try:
        for k in range(100):
            inputs = [list(map(Value, xrow)) for xrow in X]
            scores = list(map(model, inputs))
            losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = 1e-4 * sum(p * p for p in model.parameters())
            total_loss = data_loss + reg_loss
            model.zero_grad()
            total_loss.backward()
            learning_rate = 1.0 - 0.9 * k / 100
            for p in model.parameters():
                p.data -= learning_rate * p.grad
    finally:
        gc.enable()
    return model


@pytest.fixture(scope='module')
def fit_demo():
    X, y = demo_data()
    model = MLP(2, [16, 16, 1], seed=DEMO_SEED)
    optimizer = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, 100))
    history = fit(model, X, y, loss='hinge', optimizer=optimizer, epochs=100, batch_size=None,
                  l2=1e-4, shuffle=False, progress=False)
    return model, history


def test_micrograd_demo_plain_api_reaches_100_percent(plain_demo):
    X, y = demo_data()
    assert accuracy_of(plain_demo, X, y) == 1.0


def test_micrograd_demo_through_fit_reaches_100_percent(fit_demo):
    model, history = fit_demo
    X, y = demo_data()
    assert accuracy_of(model, X, y) == 1.0
    assert evaluate(model, X, y, loss='hinge')[1] == 1.0
    assert len(history) == 100 and history.updates == [1] * 100
    assert history.lr == [1.0 - 0.9 * k / 100 for k in range(100)]
    assert history.loss[-1] < history.loss[0] / 10


def test_fit_takes_the_same_steps_as_micrograds_loop(plain_demo, fit_demo):
    for ours, theirs in zip(fit_demo[0].parameters(), plain_demo.parameters()):
        assert ours.data == pytest.approx(theirs.data, abs=1e-9)


def test_gc_is_enabled_again_after_fit(fit_demo):
    assert gc.isenabled()


# ----------------------------------------------------------------------
# Batch, stochastic and mini-batch gradient descent
# ----------------------------------------------------------------------


class CountingSGD(SGD):
    calls = 0

    def step(self):
        self.calls += 1
        super().step()


def small_problem(n=10):
    X = [[i / n, (n - i) / n] for i in range(n)]
    y = [1 if i % 2 else -1 for i in range(n)]
    return X, y


@pytest.mark.parametrize('batch_size, per_epoch', [(None, 1), (1, 10), (3, 4), (4, 3), (10, 1), (25, 1)])
def test_updates_per_epoch(batch_size, per_epoch):
    X, y = small_problem(10)
    model = MLP(2, [4, 1], seed=0)
    optimizer = CountingSGD(model.parameters(), lr=0.01)
    history = fit(model, X, y, loss='hinge', optimizer=optimizer, epochs=3, batch_size=batch_size,
                  progress=False)
    assert optimizer.calls == 3 * per_epoch == optimizer.steps
    assert history.updates == [per_epoch] * 3


@pytest.mark.parametrize('batch_size', [None, 1, 8])
def test_each_mode_learns_a_line(batch_size):
    X = [[x / 10] for x in range(-10, 11)]
    y = [2 * row[0] + 1 for row in X]
    model = MLP(1, [1], seed=0)
    history = fit(model, X, y, loss='mse', optimizer=SGD(model.parameters(), lr=0.1), epochs=60,
                  batch_size=batch_size, progress=False)
    assert history.loss[-1] < 1e-3 < history.loss[0]
    w, b = (p.data for p in model.parameters())
    assert w == pytest.approx(2.0, abs=0.05) and b == pytest.approx(1.0, abs=0.05)


def test_default_optimizer_is_sgd():
    X, y = small_problem()
    history = fit(MLP(2, [4, 1], seed=0), X, y, loss='hinge', epochs=1, progress=False)
    assert history.lr == [0.1]


# ----------------------------------------------------------------------
# History, validation, accuracy
# ----------------------------------------------------------------------


@pytest.fixture(scope='module')
def blobs_run():
    X, y = make_blobs(60, centers=[[0, 0], [4, 0], [2, 4]], cluster_std=0.5, random_state=0)
    Xv, yv = make_blobs(30, centers=[[0, 0], [4, 0], [2, 4]], cluster_std=0.5, random_state=1)
    model = MLP(2, [8, 3], seed=0)
    history = fit(model, X, y, loss='cross_entropy', optimizer=Adam(model.parameters(), lr=0.05),
                  epochs=15, batch_size=16, validation=(Xv, yv), progress=False)
    return model, history, (Xv, yv)


def test_cross_entropy_run_records_accuracy_and_validation(blobs_run):
    model, history, (Xv, yv) = blobs_run
    assert len(history) == 15 and history.epoch == list(range(1, 16))
    assert history.accuracy[-1] > 0.9 and history.val_accuracy[-1] > 0.9
    # The last validation figures are the model's, measured independently here.
    outputs = predict(model, Xv)
    correct = sum(row.index(max(row)) == label for row, label in zip(outputs, yv))
    assert history.val_accuracy[-1] == correct / len(yv)
    nll = sum(math.log(sum(math.exp(v) for v in row)) - row[label] for row, label in zip(outputs, yv))
    assert history.val_loss[-1] == pytest.approx(nll / len(yv), rel=1e-12)
    assert all(s > 0 for s in history.seconds) and history.wall_time == pytest.approx(sum(history.seconds))


def test_history_files(blobs_run, tmp_path):
    history = blobs_run[1]
    history.to_csv(tmp_path / 'history.csv')
    history.to_json(tmp_path / 'history.json')
    with open(tmp_path / 'history.csv', newline='') as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 15
    assert [float(r['loss']) for r in rows] == history.loss  # written with every digit
    assert [float(r['val_accuracy']) for r in rows] == history.val_accuracy
    document = json.loads((tmp_path / 'history.json').read_text())
    assert document['loss'] == history.loss and document['epoch'] == history.epoch
    assert document == history.to_dict()


def test_regression_has_no_accuracy(tmp_path):
    X = [[0.0], [1.0]]
    history = fit(MLP(1, [1], seed=0), X, [0.0, 1.0], loss='mse', epochs=2, progress=False)
    assert history.accuracy == [None, None] and history.val_loss == [None, None]
    history.to_csv(tmp_path / 'h.csv')
    assert (tmp_path / 'h.csv').read_text().splitlines()[1].split(',')[2] == ''  # empty cell


def test_accuracy_thresholds():
    # w = 1, b = 0: outputs -1 and 2 (logits), or sigmoid of them (probabilities 0.27 and 0.88)
    state = {'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.b': 0.0}
    logits = MLP(1, [1])
    logits.load_state_dict(state)
    probabilities = MLP(1, [1], output_activation='sigmoid')
    probabilities.load_state_dict(state)
    X = [[-1.0], [2.0]]
    assert evaluate(logits, X, [0, 1], loss='bce_logits')[1] == 1.0
    assert evaluate(logits, X, [-1, 1], loss='hinge')[1] == 1.0
    assert evaluate(probabilities, X, [0, 1], loss='bce')[1] == 1.0  # threshold 0.5
    assert evaluate(probabilities, X, [1, 0], loss='bce')[1] == 0.0
    loss, accuracy = evaluate(logits, X, [0.0, 1.0], loss='mse')
    assert accuracy is None and loss == pytest.approx((1 + 1) / 2)


# ----------------------------------------------------------------------
# Early stopping and divergence
# ----------------------------------------------------------------------


def test_early_stopping_with_patience_restores_the_best_epoch():
    X = [[x / 5] for x in range(-5, 6)]
    train_y = [row[0] for row in X]  # learn y = x ...
    val_y = [-row[0] for row in X]   # ... judged on y = -x: validation gets worse every epoch
    model = MLP(1, [1], seed=0)
    history = fit(model, X, train_y, loss='mse', optimizer=SGD(model.parameters(), lr=0.1), epochs=50,
                  validation=(X, val_y), patience=3, restore_best=True, progress=False)
    assert history.val_loss == sorted(history.val_loss)  # worse and worse
    assert history.best_epoch == 1 and len(history) == 4 and history.stopped_early
    assert evaluate(model, X, val_y, loss='mse')[0] == history.val_loss[0]


def test_patience_on_training_loss_without_validation():
    X, y = [[1.0]], [1.0]
    model = MLP(1, [1], seed=0)
    history = fit(model, X, y, loss='mse', optimizer=SGD(model.parameters(), lr=0.5), epochs=100,
                  patience=2, progress=False)
    # w + b is solved exactly after the first step: the loss stays 0 from epoch 2 on.
    assert history.stopped_early and len(history) < 100


def test_divergence_names_the_epoch_and_suggests_a_smaller_learning_rate():
    X = [[1.0], [2.0], [3.0]]
    y = [1.0, 2.0, 3.0]
    model = MLP(1, [1], seed=0)
    with pytest.raises(TrainingDiverged) as error:
        fit(model, X, y, loss='mse', optimizer=SGD(model.parameters(), lr=10.0), epochs=1000, progress=False)
    message = str(error.value)
    assert f"epoch {error.value.epoch}" in message and 1 < error.value.epoch < 1000
    assert 'learning rate (10) is probably too large' in message and 'smaller' in message
    assert len(error.value.history) == error.value.epoch - 1
    assert all(math.isfinite(v) for v in error.value.history.loss)


# ----------------------------------------------------------------------
# Progress display
# ----------------------------------------------------------------------


def test_progress_false_is_silent(capsys):
    X, y = small_problem()
    fit(MLP(2, [4, 1], seed=0), X, y, loss='hinge', epochs=2, progress=False)
    assert capsys.readouterr() == ('', '')


def test_progress_bar_shows_loss_and_accuracy(capsys):
    pytest.importorskip('tqdm')
    X, y = small_problem()
    fit(MLP(2, [4, 1], seed=0), X, y, loss='hinge', epochs=2, progress=True)
    err = capsys.readouterr().err
    assert '2/2' in err and 'loss=' in err and 'acc=' in err


def test_without_tqdm_a_plain_line_instead(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'tqdm.auto', None)  # makes `import tqdm.auto` fail
    X, y = small_problem()
    fit(MLP(2, [4, 1], seed=0), X, y, loss='hinge', epochs=20, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith('epoch 20/20: loss ') and 'acc' in lines[-1]
    assert len(lines) == 10  # every second epoch of 20


def run_in_a_notebook_kernel(code):
    """Run ``code`` as one cell in a fresh Jupyter kernel, as a learner's notebook would; its outputs."""
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    pytest.importorskip('ipykernel')
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name='python3').execute()
    return notebook.cells[0].outputs


FIT_IN_A_CELL = """
from nn import MLP, fit
history = fit(MLP(1, [1], seed=0), [[0.0], [1.0]], [0.0, 1.0], loss='mse', epochs=3)
print('epochs', len(history))
"""


def output_text(outputs):
    return ''.join(o.get('text', '') + str(o.get('data', {}).get('text/plain', '')) for o in outputs)


def test_in_jupyter_fit_shows_a_widget_bar_without_a_tqdm_warning():
    pytest.importorskip('tqdm')
    outputs = run_in_a_notebook_kernel(FIT_IN_A_CELL)
    text = output_text(outputs)
    assert 'epochs 3' in text
    assert 'TqdmWarning' not in text and 'IProgress not found' not in text, text
    assert any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in outputs)


def test_the_notebook_check_sees_the_warning_when_ipywidgets_is_missing():
    # The same cell with ipywidgets made unimportable: the check above would catch the regression.
    pytest.importorskip('tqdm')
    outputs = run_in_a_notebook_kernel("import sys\nsys.modules['ipywidgets'] = None\n" + FIT_IN_A_CELL)
    assert 'IProgress not found' in output_text(outputs)


# ----------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------


@pytest.mark.parametrize('kwargs, word', [
    ({'epochs': 0}, 'epochs'),
    ({'patience': 0}, 'patience'),
    ({'loss': 'l1'}, 'unknown loss'),
    ({'l2': -1.0}, 'l2'),
])
def test_bad_fit_arguments(kwargs, word):
    X, y = small_problem()
    with pytest.raises(ValueError, match=word):
        fit(MLP(2, [4, 1], seed=0), X, y, **dict({'loss': 'hinge', 'progress': False}, **kwargs))


def test_fit_length_mismatch():
    with pytest.raises(ValueError, match='3 examples in X but 2 targets'):
        fit(MLP(1, [1]), [[0.0]] * 3, [0.0] * 2, progress=False)


def test_history_record_fills_missing_columns():
    h = History()
    h.record(epoch=1, loss=0.5)
    assert h.accuracy == [None] and h.to_dict()['stopped_early'] is False


# ----------------------------------------------------------------------
# The demo compiled (more in test_train_compiled.py)
# ----------------------------------------------------------------------


@pytest.mark.parametrize('backend', ['python', 'numpy'])
def test_compiled_demo_takes_the_same_steps_as_eager_fit(fit_demo, backend):
    if backend == 'numpy':
        pytest.importorskip('numpy')
    X, y = demo_data()
    model = MLP(2, [16, 16, 1], seed=DEMO_SEED)
    optimizer = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, 100))
    history = fit(model, X, y, loss='hinge', optimizer=optimizer, epochs=100, batch_size=None,
                  l2=1e-4, shuffle=False, progress=False, compile=backend)
    eager_model, eager_history = fit_demo
    assert all(abs(a - b) <= 1e-12 for a, b in zip(history.loss, eager_history.loss))
    assert history.accuracy == eager_history.accuracy and history.accuracy[-1] == 1.0
    for ours, eager in zip(model.parameters(), eager_model.parameters()):
        assert abs(ours.data - eager.data) <= 1e-12
    assert accuracy_of(model, X, y) == 1.0


# ----------------------------------------------------------------------
# History's files are written atomically (autodiff.files.write_atomically)
# ----------------------------------------------------------------------


@pytest.mark.parametrize('writer', ['to_json', 'to_csv'])
def test_a_failure_mid_write_leaves_the_old_history_file(writer, tmp_path, monkeypatch):
    import os

    history = History()
    history.record(epoch=1, loss=0.5)
    path = tmp_path / f'history.{writer[3:]}'
    path.write_text('the previous run')

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)  # the bytes are in the temporary file, not yet in place
    with pytest.raises(OSError, match='No space left'):
        getattr(history, writer)(path)
    assert path.read_text() == 'the previous run'
    assert os.listdir(tmp_path) == [path.name]  # and no temporary file left behind
    monkeypatch.undo()
    getattr(history, writer)(path)
    assert path.read_text() != 'the previous run' and '0.5' in path.read_text()


# ----------------------------------------------------------------------
# NaN and inf: found before training, or at the update that made them, with their real cause
# ----------------------------------------------------------------------
NAN, INF = float('nan'), float('inf')


def test_nan_in_the_features_is_named_by_row_and_column_before_any_update():
    X = [[0.0, 1.0], [1.0, 2.0], [2.0, NAN], [3.0, 1.0]]
    model = MLP(2, [4, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(TrainingInputError) as error:
        fit(model, X, [0.0, 1.0, 0.0, 1.0], loss='mse', epochs=5, progress=False)
    message = str(error.value)
    assert message.startswith('X[2][1] is nan') and '1 value that is not a finite number' in message
    assert 'learning rate' not in message  # the old message blamed the learning rate
    assert isinstance(error.value, ValueError) and isinstance(error.value, TrainingDiverged)
    assert error.value.epoch == 0 and len(error.value.history) == 0
    assert model.state_dict() == before  # nothing was trained on it


@pytest.mark.parametrize('X, y, validation, words', [
    ([[1.0], [INF]], [1.0, 2.0], None, 'X[1][0] is inf'),
    ([[1.0], [2.0]], [1.0, -INF], None, 'y[1] is -inf'),
    ([[1.0], [2.0]], [1.0, 2.0], ([[NAN], [NAN]], [1.0, 2.0]),
     'validation X[0][0] is nan: the data holds 2 values'),
    ([[1.0], [2.0]], [1.0, 2.0], ([[1.0]], [NAN]), 'validation y[0] is nan'),
])
def test_inf_and_nan_anywhere_in_the_data_are_named(X, y, validation, words):
    with pytest.raises(TrainingInputError, match=words.replace('[', r'\[').replace(']', r'\]')):
        fit(MLP(1, [1], seed=0), X, y, validation=validation, epochs=2, progress=False)


@pytest.mark.parametrize('l2, words', [(NAN, 'got nan'), (INF, 'got inf'), (-1e-4, 'rewards ever larger')])
def test_an_l2_that_is_nan_inf_or_negative_is_refused_by_name(l2, words):
    X, y = small_problem()
    with pytest.raises(TrainingInputError, match=f'l2 must be a finite number >= 0.*{words}'):
        fit(MLP(2, [4, 1], seed=0), X, y, loss='hinge', l2=l2, progress=False)


def test_a_weight_overflowing_in_one_update_is_caught_there_and_blames_the_learning_rate():
    # One update of 1e308 times a gradient of about 10 overflows a weight to inf while the loss was finite.
    model = MLP(1, [1], seed=0)
    model.load_state_dict({'layers.0.neurons.0.w.0': 0.5, 'layers.0.neurons.0.b': 0.0})
    with pytest.raises(TrainingDiverged) as error:
        fit(model, [[1.0], [3.0]], [10.0, 30.0], optimizer=SGD(model.parameters(), lr=1e308),
            epochs=5, progress=False)
    message = str(error.value)
    # mse of outputs 0.5, 1.5 against 10, 30: ((9.5)² + (28.5)²) / 2, before the update.
    assert f"(the loss was {(9.5 ** 2 + 28.5 ** 2) / 2:.4g})" in message
    assert 'in the update at epoch 1, batch 1' in message and 'learning rate (1e+308)' in message
    assert error.value.epoch == 1 and len(error.value.history) == 0


def test_a_nan_gradient_under_a_finite_loss_names_the_undefined_derivative():
    # |residual| written as (r²) ** 0.5: at r = 0 its value is 0 but its derivative is 0 · inf = nan.
    def root_of_square(outputs, targets):
        return sum(((o - t) ** 2) ** 0.5 for o, t in zip(outputs, targets)) / len(targets)

    model = MLP(1, [1], seed=0)
    model.load_state_dict({'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.b': 0.0})
    with pytest.raises(TrainingDiverged) as error:
        fit(model, [[2.0]], [2.0], loss=root_of_square, epochs=3, progress=False)
    message = str(error.value)
    assert 'the loss (0) was finite but its gradient was not' in message and 'detect_anomaly' in message
    assert 'epoch 1, batch 1' in message


def test_a_growing_loss_whose_gradient_overflows_still_blames_the_learning_rate():
    X = [[1.0], [2.0], [3.0]]
    model = MLP(1, [1], seed=0)
    with pytest.raises(TrainingDiverged) as error:
        fit(model, X, [1.0, 2.0, 3.0], optimizer=SGD(model.parameters(), lr=1e6), epochs=50, progress=False)
    message = str(error.value)
    assert 'learning rate (1e+06) is probably too large' in message and 'derivative' not in message


def test_history_json_refuses_nan_rather_than_writing_invalid_json(tmp_path):
    history = History()
    history.record(epoch=1, loss=NAN)
    with pytest.raises(ValueError, match=r'cannot write nan as JSON \(at loss\[0\]\)'):
        history.to_json(tmp_path / 'history.json')
    assert not (tmp_path / 'history.json').exists()
