"""Every lesson in notebooks/ runs top to bottom in a fresh kernel, and keeps its shape."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / 'notebooks').glob('*.ipynb'))
#: Lessons that need an optional package, and the extra that installs it.
NEEDS = {'09_scalars_to_tensors.ipynb': ('torch', 'torch')}


def test_there_are_lessons_to_run():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_error_in_a_fresh_kernel(path):
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    pytest.importorskip('ipykernel')
    if path.name in NEEDS:
        module, extra = NEEDS[path.name]
        pytest.importorskip(module, reason=f"{path.name} needs {module}: pip install 'chainrule[{extra}]'")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name='python3',
        resources={'metadata': {'path': str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_its_goals_ends_with_exercises_and_is_committed_with_outputs(path):
    nbformat = pytest.importorskip('nbformat')
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    assert cells[0].cell_type == 'markdown' and 'What you will learn' in cells[0].source
    assert cells[-1].cell_type == 'markdown' and '## Exercises' in cells[-1].source
    code = [c for c in cells if c.cell_type == 'code']
    assert code and all(c.execution_count is not None for c in code), 'run it before committing'
    assert path.stat().st_size < 400_000, 'keep committed notebooks small'
