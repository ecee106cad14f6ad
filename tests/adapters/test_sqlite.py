"""adapters/sqlite.py open_db / write_tx: the one way a durable SQLite file is opened and
written (the node's and the wallet's ledgers)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ghostproof.adapters.sqlite import open_db, write_tx

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT NOT NULL);"


def test_open_db_is_wal_full_sync_with_schema(tmp_path: Path):
    db = open_db(tmp_path / "a.sqlite", SCHEMA)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    assert db.isolation_level is None  # autocommit: transactions are explicit
    db.close()
    open_db(tmp_path / "a.sqlite", SCHEMA).close()  # the schema again: no error


def test_write_tx_commits(tmp_path: Path):
    db = open_db(tmp_path / "a.sqlite", SCHEMA)
    with write_tx(db) as tx:
        tx.execute("INSERT INTO t VALUES ('a', '1')")
    db.close()
    assert open_db(tmp_path / "a.sqlite", SCHEMA).execute("SELECT v FROM t").fetchall() == [("1",)]


def test_write_tx_rolls_back_on_error(tmp_path: Path):
    db = open_db(tmp_path / "a.sqlite", SCHEMA)
    with pytest.raises(RuntimeError), write_tx(db) as tx:
        tx.execute("INSERT INTO t VALUES ('a', '1')")
        raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    assert not db.in_transaction


def test_invalid_schema_raises(tmp_path: Path):
    with pytest.raises(sqlite3.Error):
        open_db(tmp_path / "a.sqlite", "CREATE TABLE broken (")
