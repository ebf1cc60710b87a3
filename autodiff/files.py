"""Writing files so that a reader never sees half of one: the one helper every writer uses.

A file is written to a temporary file in the same folder, flushed and
synced to disk, then moved over the target with ``os.replace``, which is
atomic on POSIX and Windows.  A full disk, an exception or a killed process
leaves the old file as it was (and no temporary file behind, except after a
kill, when a ``.name.*.tmp`` may remain); the new file is there whole or not
at all.  The new file gets the permissions a plain ``open(path, 'w')``
would give it (``0o666`` less the umask), not ``tempfile``'s private ``0o600``.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_atomically(folder / 'note.txt', 'hello')
>>> (folder / 'note.txt').read_text()
'hello'
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path


def write_atomically(path: str | os.PathLike, data: str | bytes, encoding: str = 'utf-8') -> None:
    """Replace ``path`` with ``data`` (text or bytes) in one step: the old file or the new, never a part.

    Args:
        path: the file to write; its folder must exist.
        data: the whole content; ``str`` is encoded with ``encoding``.

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / 'model.json'
    >>> write_atomically(target, b'{}')
    >>> target.read_bytes()
    b'{}'
    """
    target = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"cannot write there: the folder {os.fspath(folder)!r} "
                                "does not exist", os.fspath(target))
    temporary = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    # O_EXCL: never write through a file (or a link) that is already there.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
