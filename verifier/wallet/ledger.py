"""The wallet's payment ledger: every voucher it signs, per channel, durable before it is sent.

One SQLite file in the wallet folder (``ledger.sqlite``, mode 0600), in WAL mode with
``synchronous=FULL``: a committed write survives a crash or a power cut. The rule that makes
a crash harmless is in :meth:`Ledger.reserve`: a channel's next cumulative amount is chosen
*and committed* in one write transaction, before the voucher is signed or sent, as

    max(max(floor, accepted) + price, signed)

where ``floor`` is what the node and the chain say was already paid, ``accepted`` the
highest amount the node acknowledged to this wallet and ``signed`` the highest it ever
signed. So ``signed`` is always an upper bound of what any prover can redeem (the wallet
knows its liability even if it died mid-request), and the wallet never signs a lower amount
than it signed before. After a crash it may sign the *same* amount again for a new request
(the node never saw, or never accepted, the first): two vouchers for one cumulative amount
cost the client that amount once; the node refuses the second if it accepted the first, and
the wallet resynchronises. Processes sharing a wallet are serialised by the write lock.

Tables:

- ``channels``: one row per (chain id, escrow, client, prover, epoch): ``signed`` (the
  highest cumulative amount signed) and ``accepted`` (the highest the node acknowledged);
- ``vouchers``: one row per voucher signed: amount, model id, request hash, node, status
  (``sent`` → ``accepted`` | ``refused`` | ``failed`` | ``rejected``) and times;
- ``blocked``: provers the wallet stopped paying (an answer failed verification), with the
  reason and where the evidence is kept.

Amounts are uint128 (beyond SQLite's int64), so they are stored as decimal text and compared
in Python inside the transaction. Used by ghostproof.verifier.wallet.client (reserve, settle,
block) and the ``credits status`` command (signed so far).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ghostproof.adapters.fileio import atomic_write
from ghostproof.adapters.sqlite import open_db, write_tx

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    chain_id TEXT NOT NULL, escrow TEXT NOT NULL, client TEXT NOT NULL, prover TEXT NOT NULL,
    epoch INTEGER NOT NULL, signed TEXT NOT NULL, accepted TEXT NOT NULL,
    PRIMARY KEY (chain_id, escrow, client, prover, epoch)
);
CREATE TABLE IF NOT EXISTS vouchers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id TEXT NOT NULL, escrow TEXT NOT NULL, client TEXT NOT NULL, prover TEXT NOT NULL,
    epoch INTEGER NOT NULL, amount TEXT NOT NULL, model_id TEXT NOT NULL,
    request_hash TEXT NOT NULL, node TEXT NOT NULL, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blocked (
    chain_id TEXT NOT NULL, prover TEXT NOT NULL, reason TEXT NOT NULL, evidence TEXT NOT NULL,
    blocked_at INTEGER NOT NULL,
    PRIMARY KEY (chain_id, prover)
);
"""
#: Voucher statuses: signed and on its way; acknowledged by the node; refused by the node
#: (a corrective 402: the amount was stale); no answer came; the answer failed verification.
STATUSES = ("sent", "accepted", "refused", "failed", "rejected")


@dataclass(frozen=True)
class ChannelKey:
    """One payment channel client→prover in one epoch of one escrow on one chain."""

    chain_id: int
    escrow: str
    client: str
    prover: str
    epoch: int

    def row(self) -> tuple[str, str, str, str, int]:
        """The key as the ledger stores it."""
        return (str(self.chain_id), self.escrow, self.client, self.prover, self.epoch)


@dataclass(frozen=True)
class ChannelRecord:
    """What the ledger knows of one channel: the highest amounts signed and acknowledged."""

    key: ChannelKey
    signed: int
    accepted: int


@dataclass(frozen=True)
class Block:
    """A prover the wallet stopped paying."""

    prover: str
    reason: str
    evidence: str
    blocked_at: int


class Ledger:
    """The SQLite ledger of one wallet folder (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        """Open (creating it 0600 if missing) the ledger at ``path``."""
        if not path.exists():
            try:
                atomic_write(path, b"", 0o600, replace=False)
            except FileExistsError:  # another process created it first
                pass
        self.path = path
        self._db = open_db(path, SCHEMA, timeout=30)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the database's write lock held from the start)."""
        with write_tx(self._db) as db:
            yield db

    def channel(self, key: ChannelKey) -> ChannelRecord:
        """The channel's highest signed and acknowledged amounts (0, 0 if never used)."""
        row = self._db.execute(
            "SELECT signed, accepted FROM channels WHERE chain_id=? AND escrow=? AND client=? "
            "AND prover=? AND epoch=?", key.row()
        ).fetchone()
        return ChannelRecord(key, int(row[0]), int(row[1])) if row else ChannelRecord(key, 0, 0)

    def signed(self, key: ChannelKey) -> int:
        """The highest cumulative amount ever signed on the channel (0 if none)."""
        return self.channel(key).signed

    def next_amount(self, key: ChannelKey, floor: int, price: int) -> int:
        """The cumulative amount the next voucher of ``key`` would carry (see the module
        docstring); changes nothing."""
        record = self.channel(key)
        return max(max(floor, record.accepted) + price, record.signed)

    def reserve(
        self, key: ChannelKey, floor: int, price: int, *, model_id: int, request_hash: bytes, node: str
    ) -> tuple[int, int]:
        """Choose and durably record the next voucher of ``key`` (:meth:`next_amount`), in one
        write transaction committed before it returns — so before the voucher is signed or
        sent. Returns (voucher id, amount)."""
        now = int(time.time())
        with self._write() as db:
            record = self.channel(key)
            amount = self.next_amount(key, floor, price)
            db.execute(
                "INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "signed=excluded.signed", (*key.row(), str(amount), str(record.accepted))
            )
            cur = db.execute(
                "INSERT INTO vouchers (chain_id, escrow, client, prover, epoch, amount, model_id, "
                "request_hash, node, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'sent', ?, ?)",
                (*key.row(), str(amount), str(model_id), "0x" + request_hash.hex(), node, now, now),
            )
            return int(cur.lastrowid or 0), amount

    def settle(self, voucher_id: int, status: str, accepted: int | None = None) -> None:
        """Mark voucher ``voucher_id`` with ``status``; with ``accepted`` (the node's
        acknowledged cumulative amount), raise the channel's ``accepted`` to it."""
        if status not in STATUSES:
            raise ValueError(f"unknown voucher status {status!r}")
        with self._write() as db:
            row = db.execute(
                "SELECT chain_id, escrow, client, prover, epoch FROM vouchers WHERE id=?", (voucher_id,)
            ).fetchone()
            if row is None:
                raise KeyError(voucher_id)
            db.execute("UPDATE vouchers SET status=?, updated_at=? WHERE id=?",
                       (status, int(time.time()), voucher_id))
            if accepted is not None:
                key = ChannelKey(int(row[0]), row[1], row[2], row[3], int(row[4]))
                record = self.channel(key)
                if accepted > record.accepted:
                    db.execute(
                        "UPDATE channels SET accepted=? WHERE chain_id=? AND escrow=? AND client=? "
                        "AND prover=? AND epoch=?", (str(accepted), *key.row())
                    )

    def voucher_status(self, voucher_id: int) -> tuple[int, str]:
        """(amount, status) of voucher ``voucher_id``."""
        row = self._db.execute("SELECT amount, status FROM vouchers WHERE id=?", (voucher_id,)).fetchone()
        if row is None:
            raise KeyError(voucher_id)
        return int(row[0]), str(row[1])

    def channels(self, chain_id: int, escrow: str, client: str) -> list[ChannelRecord]:
        """Every channel of ``client`` on this chain and escrow the ledger has used, each
        prover's latest epoch first."""
        rows = self._db.execute(
            "SELECT prover, epoch, signed, accepted FROM channels WHERE chain_id=? AND escrow=? "
            "AND client=? ORDER BY prover, epoch DESC", (str(chain_id), escrow, client)
        ).fetchall()
        return [ChannelRecord(ChannelKey(chain_id, escrow, client, p, int(e)), int(s), int(a))
                for p, e, s, a in rows]

    def block(self, chain_id: int, prover: str, reason: str, evidence: str) -> None:
        """Stop paying ``prover`` on ``chain_id`` (kept across runs)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO blocked VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "reason=excluded.reason, evidence=excluded.evidence, blocked_at=excluded.blocked_at",
                (str(chain_id), prover, reason, evidence, int(time.time())),
            )

    def blocked(self, chain_id: int, prover: str) -> Block | None:
        """Why the wallet stopped paying ``prover`` on ``chain_id``, or None."""
        row = self._db.execute(
            "SELECT reason, evidence, blocked_at FROM blocked WHERE chain_id=? AND prover=?",
            (str(chain_id), prover),
        ).fetchone()
        return Block(prover, row[0], row[1], int(row[2])) if row else None
