"""The node's durable ledger: every accepted voucher, with the answer it paid for, in SQLite.

A voucher is recorded only after its answer is proven, and the record is committed (WAL,
``synchronous=FULL``: on disk when :meth:`Ledger.accept` returns) before the reply is sent,
so a node killed at any point loses no voucher a client was answered for. Per channel epoch
the ledger knows the last accepted amount (the floor of the next voucher), the latest
answer (a retry of the same voucher and request gets it again), and what is known to be
redeemed on-chain (what the redeemer still has to send). Older answers of a channel are
dropped when a newer one is accepted, so the file grows by one small row per query.

Amounts (uint128) and epochs (uint64) do not fit SQLite's signed 64-bit integers: they are
stored as zero-padded decimal text, which sorts as the numbers do. Used by the node's
payment gate (reads, accept) and the redeemer (pending, mark).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ghostproof.adapters.sqlite import open_db, write_tx
from ghostproof.protocol.errors import ModelError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vouchers (
    client TEXT NOT NULL,
    epoch TEXT NOT NULL,
    amount TEXT NOT NULL,
    signature BLOB NOT NULL,
    request_hash BLOB NOT NULL,
    receipt_digest BLOB NOT NULL,
    answer BLOB,
    accepted_at REAL NOT NULL,
    PRIMARY KEY (client, epoch, amount)
);
-- The few vouchers that still hold an answer (one per channel epoch): superseding one must
-- not visit every older voucher of the channel.
CREATE INDEX IF NOT EXISTS vouchers_answered ON vouchers (client, epoch, amount)
    WHERE answer IS NOT NULL;
CREATE TABLE IF NOT EXISTS channels (
    client TEXT NOT NULL,
    epoch TEXT NOT NULL,
    redeemed TEXT NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client, epoch)
);
"""
_AMOUNT_DIGITS = 39  # 2^128 − 1
_EPOCH_DIGITS = 20  # 2^64 − 1


def _a(amount: int) -> str:
    return str(amount).zfill(_AMOUNT_DIGITS)


def _e(epoch: int) -> str:
    return str(epoch).zfill(_EPOCH_DIGITS)


@dataclass(frozen=True)
class Accepted:
    """One accepted voucher and what it paid for."""

    client: str
    epoch: int
    amount: int
    signature: bytes
    request_hash: bytes
    receipt_digest: bytes
    answer: bytes | None  # the response's binary wire form (None once superseded)


class Ledger:
    """The SQLite ledger at ``path`` (created if absent), bound to one node identity."""

    def __init__(self, path: Path, identity: dict[str, str]):
        """Open (or create) the ledger; ModelError if it belongs to another model, prover,
        chain or escrow (``identity``), or cannot be opened."""
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_db(path, SCHEMA, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ModelError(f"cannot open the node database {path}: {exc}") from exc
        self._bind(identity)

    def _bind(self, identity: dict[str, str]) -> None:
        stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        for key, value in identity.items():
            if key in stored and stored[key] != value:
                raise ModelError(
                    f"the node database {self.path} belongs to {key} {stored[key]}, not {value}: "
                    "pass another --db"
                )
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", identity.items())

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_tx(self._db) as db:
            yield db

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def ping(self) -> bool:
        """True when the database answers (``/ready``)."""
        try:
            self._query("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL into the file)."""
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        """A stored setting (e.g. the last block scanned for withdrawal requests)."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting durably."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ vouchers

    def last_accepted(self, client: str, epoch: int) -> Accepted | None:
        """The highest voucher accepted on ``client``'s channel in ``epoch``, or None."""
        rows = self._query(
            "SELECT client, epoch, amount, signature, request_hash, receipt_digest, answer "
            "FROM vouchers WHERE client = ? AND epoch = ? ORDER BY amount DESC LIMIT 1",
            (client, _e(epoch)),
        )
        return _accepted(rows[0]) if rows else None

    def find(self, client: str, epoch: int, amount: int) -> Accepted | None:
        """The voucher accepted for exactly (``client``, ``epoch``, ``amount``), or None."""
        rows = self._query(
            "SELECT client, epoch, amount, signature, request_hash, receipt_digest, answer "
            "FROM vouchers WHERE client = ? AND epoch = ? AND amount = ?",
            (client, _e(epoch), _a(amount)),
        )
        return _accepted(rows[0]) if rows else None

    def accept(self, record: Accepted) -> None:
        """Record an accepted voucher and its answer, durably, in one transaction (and drop the
        answers of the channel epoch's older vouchers: only the latest can be retried)."""
        client, epoch = record.client, _e(record.epoch)
        with self._tx() as db:
            db.execute(
                "INSERT INTO vouchers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (client, epoch, _a(record.amount), record.signature, record.request_hash,
                 record.receipt_digest, record.answer, time.time()),
            )
            db.execute(
                "UPDATE vouchers SET answer = NULL "
                "WHERE client = ? AND epoch = ? AND amount < ? AND answer IS NOT NULL",
                (client, epoch, _a(record.amount)),
            )
            db.execute("INSERT OR IGNORE INTO channels VALUES (?, ?, ?, 0)", (client, epoch, _a(0)))

    # ------------------------------------------------------------------ redemption

    def unredeemed(self, client: str | None = None) -> list[Accepted]:
        """The latest voucher of every open channel epoch (of ``client`` only, if given) that is
        above what is known to be redeemed on-chain: what the redeemer must still send."""
        rows = self._query(
            "SELECT v.client, v.epoch, v.amount, v.signature, v.request_hash, v.receipt_digest, "
            "NULL FROM channels c JOIN vouchers v ON v.client = c.client AND v.epoch = c.epoch "
            "WHERE c.closed = 0 AND (? IS NULL OR c.client = ?) AND v.amount = "
            "(SELECT MAX(amount) FROM vouchers w WHERE w.client = c.client AND w.epoch = c.epoch) "
            "AND v.amount > c.redeemed ORDER BY v.accepted_at",
            (client, client),
        )
        return [_accepted(row) for row in rows]

    def mark_redeemed(self, client: str, epoch: int, amount: int) -> None:
        """Record that the chain holds ``amount`` redeemed on ``client``'s channel in ``epoch``."""
        with self._tx() as db:
            db.execute(
                "UPDATE channels SET redeemed = MAX(redeemed, ?) WHERE client = ? AND epoch = ?",
                (_a(amount), client, _e(epoch)),
            )

    def mark_closed(self, client: str, epoch: int) -> None:
        """Record that ``client``'s channel epoch closed (withdrawn): nothing more to redeem."""
        with self._tx() as db:
            db.execute("UPDATE channels SET closed = 1 WHERE client = ? AND epoch = ?",
                       (client, _e(epoch)))

    def open_channels(self) -> int:
        """Channel epochs with accepted vouchers that are not closed (the ``open channels`` gauge)."""
        return int(self._query("SELECT COUNT(*) FROM channels WHERE closed = 0")[0][0])


def _accepted(row: tuple) -> Accepted:
    client, epoch, amount, signature, request_hash, digest, answer = row
    return Accepted(client, int(epoch), int(amount), bytes(signature), bytes(request_hash),
                    bytes(digest), None if answer is None else bytes(answer))
