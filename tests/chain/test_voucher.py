"""protocol/voucher.py: signing, recovery and the channel checks the prover runs (pure)."""

from __future__ import annotations

import pytest
from eth_account import Account

from protocol.errors import VoucherError
from protocol.voucher import Voucher, check_voucher, recover_voucher_signer, sign_voucher

CLIENT = Account.from_key(b"\x01" * 32)
PROVER = "0x" + "22" * 20
ESCROW = "0x" + "33" * 20
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _voucher(amount: int = 100, chain_id: int = 31337) -> Voucher:
    return Voucher(CLIENT.address, PROVER, amount, chain_id, ESCROW)


def test_sign_and_recover() -> None:
    v = _voucher()
    assert recover_voucher_signer(v, sign_voucher(v, CLIENT.key)) == CLIENT.address


def test_json_roundtrip() -> None:
    v = _voucher(2**100)
    assert Voucher.from_json(v.to_json()) == v


def test_check_voucher_returns_newly_owed() -> None:
    v = _voucher(100)
    assert check_voucher(v, sign_voucher(v, CLIENT.key), redeemed=30, deposited=100, previous=60) == 40


def test_invalid_voucher_other_chain() -> None:
    sig = sign_voucher(_voucher(chain_id=1), CLIENT.key)
    assert recover_voucher_signer(_voucher(chain_id=2), sig) != CLIENT.address


def test_invalid_check_wrong_signer() -> None:
    v = _voucher()
    with pytest.raises(VoucherError, match="not by the client"):
        check_voucher(v, sign_voucher(v, b"\x02" * 32), redeemed=0, deposited=1000)


def test_invalid_check_replay() -> None:
    v = _voucher(100)
    with pytest.raises(VoucherError, match="replay"):
        check_voucher(v, sign_voucher(v, CLIENT.key), redeemed=0, deposited=1000, previous=100)


def test_invalid_check_overspend() -> None:
    v = _voucher(1001)
    with pytest.raises(VoucherError, match="exceeds the deposit"):
        check_voucher(v, sign_voucher(v, CLIENT.key), redeemed=0, deposited=1000)


def test_invalid_high_s_signature() -> None:
    v = _voucher()
    sig = sign_voucher(v, CLIENT.key)
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(VoucherError, match="canonical"):
        recover_voucher_signer(v, flipped)


def test_invalid_signature_length() -> None:
    with pytest.raises(VoucherError, match="65 bytes"):
        recover_voucher_signer(_voucher(), b"\x00" * 64)


@pytest.mark.parametrize("amount", [0, 2**128])
def test_invalid_amount_out_of_range(amount: int) -> None:
    with pytest.raises(VoucherError):
        _voucher(amount)


def test_invalid_address() -> None:
    with pytest.raises(VoucherError, match="address"):
        Voucher("0x1234", PROVER, 1, 1, ESCROW)


@pytest.mark.parametrize("amount", ["²", "٣", "007", "0", "+1", " 1", "1_000", "0x10", "1" * 40])
def test_invalid_json_amount_not_canonical(amount: str) -> None:
    obj = dict(_voucher().to_json(), cumulativeAmount=amount)
    with pytest.raises(VoucherError, match="cumulativeAmount"):
        Voucher.from_json(obj)
