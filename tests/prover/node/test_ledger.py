"""The node's SQLite ledger: durable settings, the last accepted voucher per channel epoch,
superseded answers dropped, what is left to redeem, bound to one node identity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ghostproof.protocol.errors import ModelError
from ghostproof.prover.node.ledger import Accepted, Ledger

ID = {"modelId": "1", "prover": "0xP", "chainId": "31337", "escrow": "0xE"}
BIG = (1 << 128) - 1


def _acc(amount: int, epoch: int = 0, client: str = "0xC") -> Accepted:
    return Accepted(client, epoch, amount, b"s" * 65, amount.to_bytes(32, "big"), b"d" * 32, b"answer")


def test_wal_and_full_sync(tmp_path: Path):
    Ledger(tmp_path / "n.sqlite", ID).close()
    db = sqlite3.connect(tmp_path / "n.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger = Ledger(tmp_path / "n.sqlite", ID)
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_accepted_vouchers_survive_a_reopen(tmp_path: Path):
    ledger = Ledger(tmp_path / "n.sqlite", ID)
    for amount in (10, 20, 9, BIG):
        ledger.accept(_acc(amount))
    ledger.accept(_acc(5, epoch=1 << 63))
    del ledger  # no close: as if killed
    again = Ledger(tmp_path / "n.sqlite", ID)
    assert again.last_accepted("0xC", 0).amount == BIG
    assert again.last_accepted("0xC", 1 << 63).amount == 5
    assert again.find("0xC", 0, 20).answer is None  # superseded
    assert again.find("0xC", 0, BIG).answer == b"answer"
    assert [a.amount for a in again.unredeemed()] == [BIG, 5]


def test_redeemed_and_closed_leave_nothing_to_redeem(tmp_path: Path):
    ledger = Ledger(tmp_path / "n.sqlite", ID)
    ledger.accept(_acc(10))
    ledger.accept(_acc(10, client="0xD"))
    ledger.mark_redeemed("0xC", 0, 10)
    ledger.mark_closed("0xD", 0)
    assert ledger.unredeemed() == [] and ledger.open_channels() == 1
    ledger.accept(_acc(20))
    assert [a.amount for a in ledger.unredeemed("0xC")] == [20]


def test_invalid_ledger_of_another_node(tmp_path: Path):
    Ledger(tmp_path / "n.sqlite", ID).close()
    with pytest.raises(ModelError, match="belongs to prover"):
        Ledger(tmp_path / "n.sqlite", {**ID, "prover": "0xQ"})
