"""Durable SQLite files: the one way ghostproof opens a database and writes to it.

A database is opened in autocommit mode (``isolation_level=None``: transactions are explicit),
in WAL mode with ``synchronous=FULL`` (a committed write is on disk when COMMIT returns, and
survives a crash or a power cut), and its schema is created if absent. Writes go through
:func:`write_tx`, which takes the database's write lock at BEGIN (``BEGIN IMMEDIATE``), so a
read-then-write inside it sees no concurrent writer. Used by the node's voucher ledger
(ghostproof.prover.node.ledger) and the wallet's payment ledger
(ghostproof.verifier.wallet.ledger).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_db(
    path: Path, schema: str, *, timeout: float = 5.0, check_same_thread: bool = True
) -> sqlite3.Connection:
    """The database at ``path`` (created if absent), WAL and ``synchronous=FULL``, with
    ``schema`` (``CREATE … IF NOT EXISTS`` statements) applied. ``timeout``: seconds to wait
    for another connection's lock. Raises sqlite3.Error if it cannot be opened."""
    db = sqlite3.connect(path, timeout=timeout, check_same_thread=check_same_thread,
                         isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def write_tx(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on ``db`` (opened by :func:`open_db`): the write lock is held
    from the start, it commits when the ``with`` block succeeds and rolls back otherwise."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
