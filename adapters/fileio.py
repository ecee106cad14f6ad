"""Writing and reading files safely: the one atomic writer and the one capped reader.

Every file ghostproof writes (keys, keystores, model files, answers, deployment files, IPFS
blocks, contract artifacts) goes through :func:`atomic_write` / :func:`atomic_file`; every
file it reads from outside is read through :func:`read_capped`. Used by both adapters
(chain, storage), the roles and the CLI.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: Path, mode: int = 0o644, *, replace: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write that appears at ``path`` only once the ``with`` block succeeds.

    The temporary file is created beside ``path`` by ``tempfile.mkstemp`` (a random name,
    ``O_CREAT | O_EXCL | O_NOFOLLOW``), so nothing planted in the directory can redirect the
    write; it gets exactly ``mode`` before any byte is written (the umask does not apply),
    is fsynced, then renamed over ``path`` (``replace``) or linked to it (not ``replace``:
    FileExistsError if ``path`` exists, even as a symlink), and the directory is fsynced.
    Readers see the old file or the whole new one. On any failure the temporary file is
    removed and ``path`` is left as it was.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` atomically, the file getting exactly ``mode`` (0o600 for
    keys, also where an older file at ``path`` was more open); see :func:`atomic_file`."""
    with atomic_file(path, mode, replace=replace) as fh:
        fh.write(data)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, but at most ``limit`` + 1 of them (so an oversized file is
    seen to be oversized without reading it all). OSError as ``open`` raises."""
    with open(path, "rb") as fh:
        return fh.read(limit + 1)
