"""The wallet's ledger: the next voucher is chosen and committed before it is signed, never
below what was signed before; WAL and synchronous=FULL; 0600."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from ghostproof.verifier.wallet.ledger import ChannelKey, Ledger

KEY = ChannelKey(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 0)
PRICE = 10
HASH = b"\x07" * 32


def _reserve(ledger: Ledger, floor: int = 0, key: ChannelKey = KEY) -> int:
    return ledger.reserve(key, floor, PRICE, model_id=1, request_hash=HASH, node="http://n")[1]


def test_ledger_is_wal_full_and_private(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert stat.S_IMODE((tmp_path / "ledger.sqlite").stat().st_mode) == 0o600


def test_reserve_is_durable_before_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    assert _reserve(ledger) == PRICE
    # another connection (another process, or this one after a crash) sees it at once
    other = sqlite3.connect(path)
    assert other.execute("SELECT signed FROM channels").fetchone() == ("10",)
    assert other.execute("SELECT amount, status FROM vouchers").fetchall() == [("10", "sent")]


def test_accepted_vouchers_grow_by_the_price(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for expected in (10, 20, 30):
            voucher_id, amount = ledger.reserve(KEY, 0, PRICE, model_id=1, request_hash=HASH, node="n")
            assert amount == expected
            ledger.settle(voucher_id, "accepted", amount)
        assert ledger.channel(KEY).accepted == 30


def test_unacknowledged_voucher_is_signed_again_never_lower(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        voucher_id, amount = ledger.reserve(KEY, 0, PRICE, model_id=1, request_hash=HASH, node="n")
        ledger.settle(voucher_id, "accepted", amount)
        assert _reserve(ledger) == 20  # "sent", then the process dies: no acknowledgement
    with Ledger(path) as ledger:  # after the crash: the same amount again, not 10
        assert _reserve(ledger) == 20
        assert ledger.signed(KEY) == 20


def test_floor_from_node_and_chain_lifts_the_amount(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert _reserve(ledger, floor=50) == 60
        assert _reserve(ledger, floor=0) == 60  # never below what was signed


def test_channels_are_per_epoch(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        _reserve(ledger, floor=40)
        next_epoch = ChannelKey(KEY.chain_id, KEY.escrow, KEY.client, KEY.prover, 1)
        assert _reserve(ledger, key=next_epoch) == PRICE
        assert [r.key.epoch for r in ledger.channels(KEY.chain_id, KEY.escrow, KEY.client)] == [1, 0]


def test_blocked_provers_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        assert ledger.blocked(1, KEY.prover) is None
        ledger.block(1, KEY.prover, "ProofError: bad", "/evidence")
    with Ledger(path) as ledger:
        block = ledger.blocked(1, KEY.prover)
        assert block is not None and block.reason == "ProofError: bad" and block.evidence == "/evidence"
        assert ledger.blocked(2, KEY.prover) is None


def test_invalid_status_is_refused(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        voucher_id, _ = ledger.reserve(KEY, 0, PRICE, model_id=1, request_hash=HASH, node="n")
        with pytest.raises(ValueError):
            ledger.settle(voucher_id, "lost")
