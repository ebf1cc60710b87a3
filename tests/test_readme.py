"""The README's Python examples run as printed (excerpts of the source are skipped)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / 'README.md'
EXAMPLES = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
            if not block.startswith('# from ')]


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize('code', EXAMPLES, ids=lambda code: code.splitlines()[0][:40])
def test_readme_example_runs(code, tmp_path):
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(README.parent)})
    assert result.returncode == 0, result.stderr


def test_the_first_example_prints_the_notes_numbers(tmp_path):
    code = EXAMPLES[0]
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': str(README.parent)}).stdout.split()
    assert out[:5] == ['-12.0', '-3.0', '4.0', '-3.0', '-3.0']
