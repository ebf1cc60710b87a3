"""What every ``chainrule`` subcommand shares: one-line errors, the output folder, optional plots.

>>> import os, tempfile
>>> folder = os.path.join(tempfile.mkdtemp(), 'run')
>>> writable_folder(folder), os.listdir(folder)      # created, probed, and left empty
(True, [])
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from autodiff.files import write_atomically

PROG = 'chainrule'
#: The probe `writable_folder` writes and removes before any training starts.
PROBE_NAME = '.chainrule-write-test'


def fail(message: str) -> int:
    """Print ``chainrule: error: message`` on stderr as one line; returns exit code 1.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = fail('cannot write to out')
    >>> code, err.getvalue()
    (1, 'chainrule: error: cannot write to out\\n')
    """
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1


def writable_folder(folder: str) -> bool:
    """Create ``folder`` if needed and check a file can be written there atomically, before any training.

    On failure says why in one line (`fail`) and returns False.

    >>> import os, tempfile
    >>> writable_folder(os.path.join(tempfile.mkdtemp(), 'results'))
    True
    """
    probe = os.path.join(folder, PROBE_NAME)
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomically(probe, b'')  # the same temporary file and rename every result will need
        os.remove(probe)
    except OSError as error:
        fail(f"cannot write to {folder}: {error.strerror or error}")
        return False
    return True


def draw_plots(draw: Callable) -> None:
    """Call ``draw(nn.plot)``; without matplotlib, say on stderr how to get it and go on.

    >>> draw_plots(lambda plot: None)
    """
    try:
        from nn import plot

        draw(plot)
    except ImportError as error:
        print(f"{PROG}: skipping plots: {error}", file=sys.stderr)
