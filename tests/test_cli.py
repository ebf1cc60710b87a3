"""The chainrule command end to end in temporary folders, and the plot helpers it uses."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nn import MLP, load_model, make_moons, standardize, to_signs, train_test_split
from nn.cli import DEMO_SEED, _write_neuron_graph, add_command, fastest_backend, main
from nn.train import evaluate

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


# ----------------------------------------------------------------------
# chainrule demo, as a user runs it
# ----------------------------------------------------------------------


def test_python_m_nn_demo(tmp_path):
    out = tmp_path / 'demo'
    done = subprocess.run([sys.executable, '-m', 'nn', 'demo', '--out', str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'final training accuracy: 100%' in done.stdout
    assert f'compiled ({fastest_backend()} backend)' in done.stdout
    assert 'Traceback' not in done.stderr
    assert (out / 'decision_boundary.png').read_bytes().startswith(PNG_MAGIC)
    if shutil.which('dot'):
        assert '<svg' in (out / 'neuron.svg').read_text()
    else:
        assert 'digraph' in (out / 'neuron.gv').read_text()
    # The saved model really separates micrograd's moons: checked here from the file alone.
    model = load_model(out / 'model.json')
    X, y = make_moons(n_samples=100, noise=0.1, random_state=DEMO_SEED)
    signs = to_signs(y)
    assert sum((model(x).data > 0) == (label > 0) for x, label in zip(X, signs)) == 100


def test_demo_without_numpy_compiles_to_pure_python(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'numpy', None)  # makes `import numpy` fail
    assert fastest_backend() == 'python'
    assert main(['demo', '--out', str(tmp_path), '--quiet']) == 0
    printed = capsys.readouterr().out
    assert 'compiled (python backend)' in printed and 'final training accuracy: 100%' in printed


def test_demo_prints_one_loss_the_training_objective_with_l2(tmp_path, capsys):
    # The bar's loss and micrograd's printed loss are hinge + 1e-4·Σp²; the final line names that one number.
    assert main(['demo', '--out', str(tmp_path), '--quiet']) == 0
    final = next(line for line in capsys.readouterr().out.splitlines() if line.startswith('final'))
    assert final.count('loss') == 1 and 'hinge + L2 penalty' in final
    printed = float(final.split('(hinge + L2 penalty) ')[1].split()[0])
    # Recomputed from the saved weights by hand: the last epoch's figure was measured one small step
    # before these weights, so it agrees to a few percent, and is far from the hinge loss alone.
    model = load_model(tmp_path / 'model.json')
    X, y = make_moons(n_samples=100, noise=0.1, random_state=DEMO_SEED)
    hinge = sum(max(0.0, 1 - s * model(x).data) for x, s in zip(X, to_signs(y))) / len(X)
    penalty = 1e-4 * sum(p.data ** 2 for p in model.parameters())
    assert printed == pytest.approx(hinge + penalty, rel=0.05)
    assert printed > 2 * hinge


def test_neuron_graph_svg(tmp_path):
    if not shutil.which('dot'):
        pytest.skip('the Graphviz dot program is not installed')
    _write_neuron_graph(MLP(2, [3, 1], seed=0), [0.5, -0.25], str(tmp_path))
    svg = (tmp_path / 'neuron.svg').read_text()
    assert '<svg' in svg and 'layers.0.neurons' in svg and 'x[0]' in svg


def test_neuron_graph_without_dot_writes_the_source(tmp_path, monkeypatch, capsys):
    import graphviz

    def no_dot(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(['dot'])

    monkeypatch.setattr(graphviz.Digraph, 'pipe', no_dot)
    _write_neuron_graph(MLP(2, [3, 1], seed=0), [0.5, -0.25], str(tmp_path))
    source = (tmp_path / 'neuron.gv').read_text()
    assert source.lstrip().startswith('digraph') and 'x[1]' in source
    assert not (tmp_path / 'neuron.svg').exists()
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and 'apt install graphviz' in printed[0] and 'chainrule[viz]' in printed[0]


# ----------------------------------------------------------------------
# chainrule train
# ----------------------------------------------------------------------


@pytest.mark.parametrize('dataset', ['moons', 'circles', 'blobs', 'spiral', 'regression'])
def test_train_writes_model_history_and_plots(dataset, tmp_path, capsys):
    out = tmp_path / dataset
    code = main(['train', '--dataset', dataset, '--samples', '40', '--epochs', '3', '--hidden', '6',
                 '--out', str(out), '--quiet'])
    assert code == 0
    printed = capsys.readouterr().out
    assert ('mean squared error' if dataset == 'regression' else 'accuracy: training') in printed
    with open(out / 'history.csv', newline='') as file:
        rows = list(csv.DictReader(file))
    assert [int(r['epoch']) for r in rows] == [1, 2, 3]
    assert json.loads((out / 'history.json').read_text())['loss'] == [float(r['loss']) for r in rows]
    model = load_model(out / 'model.json')
    assert model.config()['nouts'] == [6, 3 if dataset == 'blobs' else 1]
    assert (out / 'loss.png').read_bytes().startswith(PNG_MAGIC)
    assert (out / 'decision_boundary.png').exists() == (dataset != 'regression')


def test_train_results_can_be_reproduced_from_the_written_files(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['train', '--samples', '60', '--epochs', '5', '--batch-size', '8', '--optimizer', 'adam',
                 '--lr', '0.05', '--seed', '3', '--out', str(out), '--quiet']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    model = load_model(out / 'model.json')
    # Regenerate the same data and split, scale with the saved statistics, score the saved model.
    X, y = make_moons(60, noise=0.1, random_state=3)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=3)
    X_test = standardize(X_test, summary['standardize']['mean'], summary['standardize']['std'])[0]
    loss, accuracy = evaluate(model, X_test, y_test, loss='bce_logits')
    assert (loss, accuracy) == (summary['test']['loss'], summary['test']['accuracy'])
    assert f"test {accuracy:.1%}" in capsys.readouterr().out


def test_train_batch_size_full_and_hinge(tmp_path):
    out = tmp_path / 'run'
    assert main(['train', '--samples', '30', '--epochs', '2', '--batch-size', 'full', '--loss', 'hinge',
                 '--out', str(out), '--quiet']) == 0
    history = json.loads((out / 'history.json').read_text())
    assert history['updates'] == [1, 1]


def test_train_refuses_a_loss_that_does_not_fit_the_data(tmp_path, capsys):
    code = main(['train', '--dataset', 'regression', '--loss', 'hinge', '--out', str(tmp_path), '--quiet'])
    assert code == 1
    assert 'needs --loss mse' in capsys.readouterr().err


def test_divergence_is_one_line_not_a_traceback(tmp_path, capsys):
    code = main(['train', '--dataset', 'regression', '--samples', '40', '--lr', '1e6', '--epochs', '50',
                 '--out', str(tmp_path), '--quiet'])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count('\n') == 1 and 'smaller' in err and 'epoch' in err


# ----------------------------------------------------------------------
# Bad arguments and unwritable folders
# ----------------------------------------------------------------------


@pytest.mark.parametrize('argv, words', [
    ([], 'required'),
    (['frobnicate'], 'invalid choice'),
    (['demo', '--bogus'], 'unrecognized arguments'),
    (['train', '--dataset', 'mnist'], 'invalid choice'),
    (['train', '--lr', '-1'], '--lr'),
    (['train', '--lr', 'fast'], '--lr'),
    (['train', '--hidden', '16,x'], '--hidden'),
    (['train', '--epochs', '0'], '--epochs'),
    (['train', '--batch-size', '0'], '--batch-size'),
    (['train', '--optimizer', 'rmsprop'], 'invalid choice'),
    (['train', '--test-size', '1.5'], '--test-size'),
])
def test_bad_arguments_exit_2_with_argparse_message(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert 'usage: chainrule' in err and words in err


@pytest.mark.parametrize('command', ['demo', 'train'])
def test_unwritable_out_is_one_clear_line(command, tmp_path, capsys):
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    code = main([command, '--out', str(blocker / 'results'), '--quiet'])
    captured = capsys.readouterr()
    assert code != 0
    assert captured.err.count('\n') == 1
    assert captured.err.startswith('chainrule: error: cannot write to ') and str(blocker) in captured.err
    assert 'Traceback' not in captured.err and captured.out == ''


def test_python_m_nn_without_a_command_exits_2():
    done = subprocess.run([sys.executable, '-m', 'nn'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and 'usage: chainrule' in done.stderr


def test_a_subcommand_is_a_parser_setup_and_a_handler():
    parser = argparse.ArgumentParser(prog='chainrule')
    commands = parser.add_subparsers(dest='command', required=True)
    add_command(commands, 'hello', 'say hello', lambda p: p.add_argument('--times', type=int, default=1),
                lambda args: 40 + args.times)
    args = parser.parse_args(['hello', '--times', '2'])
    assert args.run(args) == 42


# ----------------------------------------------------------------------
# The plot helpers the command uses
# ----------------------------------------------------------------------


def test_plots_without_matplotlib_name_the_extra(monkeypatch, tmp_path, capsys):
    from nn import plot
    from nn.train import History

    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "chainrule\[train\]"'):
        plot.plot_history(History())
    # The command goes on without its pictures.
    assert main(['train', '--samples', '20', '--epochs', '1', '--out', str(tmp_path), '--quiet']) == 0
    assert 'chainrule[train]' in capsys.readouterr().err
    assert (tmp_path / 'model.json').exists() and not (tmp_path / 'loss.png').exists()


def test_decision_boundary_colours_follow_the_model(tmp_path):
    pytest.importorskip('matplotlib')
    from nn.plot import _float_forward, plot_decision_boundary

    model = MLP(2, [5, 1], activation='tanh', seed=0)
    # The fast float path used for the grid agrees with the model itself.
    for x in [[0.3, -0.2], [1.5, 2.0], [-1.0, 0.0]]:
        assert _float_forward(model)(x) == pytest.approx(model(x).data, abs=1e-12)
    path = tmp_path / 'boundary.png'
    figure = plot_decision_boundary(model, [[0.0, 0.0], [1.0, 1.0]], [0, 1], path=path, resolution=10)
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert figure.axes[0].get_title() == 'decision boundary'
    with pytest.raises(ValueError, match='2-D'):
        plot_decision_boundary(MLP(3, [1]), [[0.0, 0.0, 0.0]], [0])


def png_size(path):
    """Width and height in pixels, read from the PNG's IHDR chunk."""
    header = Path(path).read_bytes()[:24]
    assert header.startswith(PNG_MAGIC)
    return int.from_bytes(header[16:20], 'big'), int.from_bytes(header[20:24], 'big')


def test_figures_are_sharp_enough_for_a_laptop_screen(tmp_path):
    pytest.importorskip('matplotlib')
    from nn.plot import DPI, plot_decision_boundary, plot_history
    from nn.train import History

    assert 110 <= DPI <= 150
    history = History()
    history.record(epoch=1, loss=1.0)
    path = tmp_path / 'loss.png'
    figure = plot_history(history, path=path)
    width, height = figure.get_size_inches()
    assert png_size(path) == (round(width * DPI), round(height * DPI))
    figure = plot_decision_boundary(MLP(2, [3, 1], seed=0), [[0.0, 0.0], [1.0, 1.0]], [0, 1], resolution=4)
    assert figure.dpi == DPI


def test_decision_boundary_line_is_where_the_score_equals_the_threshold():
    pytest.importorskip('matplotlib')
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet

    from nn.plot import plot_decision_boundary

    # A linear model, score = 2·x0 - x1 + 0.3: its boundary is a straight line, which linear
    # interpolation between grid points finds exactly, however coarse the grid.
    model = MLP(2, [1], activation='linear', seed=0)
    model.load_state_dict({'layers.0.neurons.0.w.0': 2.0, 'layers.0.neurons.0.w.1': -1.0,
                           'layers.0.neurons.0.b': 0.3})
    X, y = [[-1.0, -1.0], [1.0, 1.0], [0.5, -0.5]], [-1, 1, 1]
    for threshold in (0.0, 0.7):
        ax = plot_decision_boundary(model, X, y, threshold=threshold, resolution=7).axes[0]
        lines = [c for c in ax.get_children() if isinstance(c, ContourSet)]
        vertices = [v for segment in lines[-1].allsegs[0] for v in segment]
        assert len(vertices) >= 2
        assert all(abs(2 * x0 - x1 + 0.3 - threshold) < 1e-9 for x0, x1 in vertices)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ['class -1', 'class +1', 'decision boundary']
        # The points keep their classes' colours: one scatter per class, 1 and 2 points.
        points = [c for c in ax.get_children() if isinstance(c, PathCollection)]
        assert [len(c.get_offsets()) for c in points] == [1, 2]


def test_decision_regions_of_several_classes_meet_where_two_scores_tie():
    pytest.importorskip('matplotlib')
    from matplotlib.contour import ContourSet

    from nn.plot import plot_decision_boundary

    # Three linear outputs x0, x1 and 0: class 0 wins where x0 is largest, and so on.
    model = MLP(2, [3], activation='linear', seed=0)
    model.load_state_dict({'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.w.1': 0.0,
                           'layers.0.neurons.1.w.0': 0.0, 'layers.0.neurons.1.w.1': 1.0,
                           'layers.0.neurons.2.w.0': 0.0, 'layers.0.neurons.2.w.1': 0.0,
                           **{f'layers.0.neurons.{k}.b': 0.0 for k in range(3)}})
    X, y = [[2.0, -1.0], [-1.0, 2.0], [-2.0, -2.0]], [0, 1, 2]
    ax = plot_decision_boundary(model, X, y, resolution=9, class_names=['east', 'north', 'rest']).axes[0]
    borders = [c for c in ax.get_children() if isinstance(c, ContourSet) and not c.filled]
    for border in borders:
        for x0, x1 in (v for segment in border.allsegs[0] for v in segment):
            scores = sorted([x0, x1, 0.0])
            assert scores[2] - scores[1] < 1e-9  # on a border the two best scores are equal
    assert len(borders) == 3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ['east', 'north', 'rest', 'decision boundary']


def test_decision_boundary_bad_arguments_name_the_problem():
    pytest.importorskip('matplotlib')
    from nn.plot import plot_decision_boundary

    X, y = [[0.0, 0.0], [1.0, 1.0]], [0, 1]
    with pytest.raises(ValueError, match='resolution must be an integer >= 2'):
        plot_decision_boundary(MLP(2, [1]), X, y, resolution=1)
    with pytest.raises(ValueError, match='class_names has 1 names for 2 classes'):
        plot_decision_boundary(MLP(2, [1]), X, y, resolution=3, class_names=['only'])


def test_saving_a_plot_replaces_the_file_in_one_step(tmp_path):
    pytest.importorskip('matplotlib')
    from nn.plot import plot_history
    from nn.train import History

    history = History()
    history.record(epoch=1, loss=1.0)
    path = tmp_path / 'loss.svg'
    path.write_text('an older picture')
    plot_history(history, path=path)
    assert '<svg' in path.read_text()
    assert os.listdir(tmp_path) == ['loss.svg']  # no temporary file left behind
    reference = tmp_path / 'reference'
    reference.write_text('')  # the permissions any newly written file gets here (umask)
    assert path.stat().st_mode == reference.stat().st_mode


def test_train_summary_is_written_with_the_usual_permissions(tmp_path):
    assert main(['train', '--samples', '20', '--epochs', '1', '--out', str(tmp_path), '--quiet']) == 0
    reference = tmp_path / 'reference'
    reference.write_text('')
    for name in ('summary.json', 'loss.png', 'decision_boundary.png'):
        assert (tmp_path / name).stat().st_mode == reference.stat().st_mode, name
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.tmp')]


def test_no_stray_files_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(['train', '--samples', '20', '--epochs', '1', '--quiet']) == 0
    assert sorted(os.listdir(tmp_path)) == ['chainrule-train']
    assert '.chainrule-write-test' not in os.listdir(tmp_path / 'chainrule-train')


def test_explain_is_a_chainrule_subcommand(capsys):
    # The notes' example through the console entry point: ∂f/∂z = x + y = 4.
    assert main(['explain', '(x + y) * z', 'x=1', 'y=3', 'z=-3']) == 0
    out = capsys.readouterr().out
    assert '∂f/∂z = 4' in out and '∂f/∂x = -3' in out


def test_explain_refuses_unsafe_input_with_exit_2(capsys):
    assert main(['explain', "__import__('os').system('true')"]) == 2
    assert 'refused' in capsys.readouterr().err


# ----------------------------------------------------------------------
# Packaging: version, licence, type-hint markers
# ----------------------------------------------------------------------


def pyproject_version():
    tomllib = pytest.importorskip('tomllib')  # Python 3.11+
    return tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']


def test_version_option_prints_the_installed_version():
    done = subprocess.run([sys.executable, '-m', 'nn', '--version'], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"chainrule {pyproject_version()}\n"


def test_version_without_package_metadata_says_unknown(monkeypatch):
    import importlib.metadata

    from nn.cli import UNKNOWN_VERSION, installed_version

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, 'version', not_installed)
    assert installed_version() == UNKNOWN_VERSION == '0+unknown'


def test_installed_packages_carry_py_typed_and_the_licence_is_mit():
    import importlib.resources

    for package in ('autodiff', 'nn'):
        assert importlib.resources.files(package).joinpath('py.typed').is_file()
    licence = (ROOT / 'LICENSE').read_text()
    assert licence.startswith('MIT License') and 'the chainrule developers' in licence
    assert 'Copyright (c) 2026' in licence


def test_the_wheel_ships_py_typed_and_the_licence(tmp_path):
    import zipfile

    pytest.importorskip('setuptools')
    source = tmp_path / 'source'  # a copy, so building never writes into the working tree
    for name in ('pyproject.toml', 'README.md', 'LICENSE'):
        source.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for package in ('autodiff', 'nn'):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns('__pycache__'))
    done = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                           '--no-index', '--quiet', '--wheel-dir', str(tmp_path / 'dist'), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel, = (tmp_path / 'dist').glob('chainrule-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    assert 'autodiff/py.typed' in names and 'nn/py.typed' in names
    assert any(name.endswith('.dist-info/licenses/LICENSE') or name.endswith('.dist-info/LICENSE')
               for name in names), names
