"""protocol/voucher.py: signing, recovery and the channel checks the prover runs (pure)."""

from __future__ import annotations

import pytest
from eth_account import Account

from ghostproof.protocol.errors import VoucherError
from ghostproof.protocol.voucher import (
    MAX_UINT64,
    ChannelState,
    Voucher,
    check_voucher,
    recover_voucher_signer,
    sign_voucher,
)

CLIENT = Account.from_key(b"\x01" * 32)
PROVER = "0x" + "22" * 20
ESCROW = "0x" + "33" * 20
CHAIN_ID = 31337
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
NOW = 1_700_000_000
MARGIN = 600


def _voucher(amount: int = 100, chain_id: int = CHAIN_ID, epoch: int = 3) -> Voucher:
    return Voucher(CLIENT.address, PROVER, epoch, amount, chain_id, ESCROW)


def _channel(
    deposited: int = 1000, redeemed: int = 0, withdrawable_at: int = 0, epoch: int = 3
) -> ChannelState:
    return ChannelState(deposited, redeemed, withdrawable_at, epoch)


def _check(voucher: Voucher, signature: bytes | None = None, **kw: object) -> int:
    """check_voucher with this node's identity and a valid channel, overridden by ``kw``."""
    args: dict[str, object] = {
        "prover": PROVER, "escrow": ESCROW, "chain_id": CHAIN_ID, "channel": _channel(),
        "now": NOW, "margin": MARGIN,
    }
    args.update(kw)
    sig = signature if signature is not None else sign_voucher(voucher, CLIENT.key)
    return check_voucher(voucher, sig, **args)  # type: ignore[arg-type]


def test_sign_and_recover() -> None:
    v = _voucher()
    assert recover_voucher_signer(v, sign_voucher(v, CLIENT.key)) == CLIENT.address


def test_json_roundtrip() -> None:
    v = _voucher(2**100, epoch=MAX_UINT64)
    assert Voucher.from_json(v.to_json()) == v


def test_json_wire_form() -> None:
    assert _voucher(100).to_json() == {
        "client": CLIENT.address,
        "prover": "0x2222222222222222222222222222222222222222",
        "epoch": 3,
        "cumulativeAmount": "100",
        "chainId": CHAIN_ID,
        "escrow": "0x3333333333333333333333333333333333333333",
    }


def test_typed_data_binds_epoch() -> None:
    td = _voucher(epoch=9).typed_data()
    assert {"name": "epoch", "type": "uint64"} in td["types"]["Voucher"]  # type: ignore[index]
    assert td["message"]["epoch"] == 9  # type: ignore[index]


def test_check_voucher_returns_newly_owed() -> None:
    v = _voucher(100)
    assert _check(v, channel=_channel(deposited=100, redeemed=30), previous=60) == 40


def test_check_voucher_accepts_withdrawal_due_after_margin() -> None:
    """A pending withdrawal leaves the prover time to redeem: the voucher is still good."""
    at = NOW + MARGIN + 1
    assert _check(_voucher(100), channel=_channel(withdrawable_at=at)) == 100


def test_invalid_voucher_other_chain() -> None:
    sig = sign_voucher(_voucher(chain_id=1), CLIENT.key)
    assert recover_voucher_signer(_voucher(chain_id=2), sig) != CLIENT.address


def test_invalid_voucher_other_epoch_signature() -> None:
    sig = sign_voucher(_voucher(epoch=0), CLIENT.key)
    assert recover_voucher_signer(_voucher(epoch=1), sig) != CLIENT.address


@pytest.mark.parametrize(
    ("field", "expected", "message"),
    [
        ("prover", "0x" + "44" * 20, "voucher prover is 0x2222222222222222222222222222222222222222, "
         "expected 0x4444444444444444444444444444444444444444"),
        ("escrow", "0x" + "55" * 20, "voucher escrow is 0x3333333333333333333333333333333333333333, "
         "expected 0x5555555555555555555555555555555555555555"),
        ("chain_id", 1, "voucher chainId is 31337, expected 1"),
    ],
)
def test_invalid_check_voucher_for_other_prover_escrow_or_chain(
    field: str, expected: object, message: str
) -> None:
    """A voucher validly signed by the client, but for another prover, escrow or chain than
    this node's, would only revert on-chain: refuse it before any work (security review 8)."""
    with pytest.raises(VoucherError) as info:
        _check(_voucher(), **{field: expected})
    assert str(info.value) == message


def test_check_voucher_expected_address_any_case() -> None:
    assert _check(_voucher(), prover=PROVER.lower(), escrow=ESCROW.upper().replace("0X", "0x")) == 100


@pytest.mark.parametrize("epoch", [2, 4])
def test_invalid_check_wrong_epoch(epoch: int) -> None:
    """A voucher of a closed (or future) epoch cannot be redeemed against this channel."""
    with pytest.raises(VoucherError, match=f"voucher epoch is {epoch}, expected 3"):
        _check(_voucher(epoch=epoch))


@pytest.mark.parametrize("due_in", [-1, 0, 1, MARGIN - 1, MARGIN])
def test_invalid_check_withdrawal_due_within_margin(due_in: int) -> None:
    """A withdrawal due before the prover could get a redeem mined (security review 7): the
    client could withdraw first and the voucher would be worthless."""
    with pytest.raises(VoucherError, match="withdrawal falls due"):
        _check(_voucher(), channel=_channel(withdrawable_at=NOW + due_in))


def test_invalid_check_negative_margin() -> None:
    with pytest.raises(ValueError, match="margin"):
        _check(_voucher(), margin=-1)


def test_invalid_check_wrong_signer() -> None:
    v = _voucher()
    with pytest.raises(VoucherError, match="not by the client"):
        _check(v, sign_voucher(v, b"\x02" * 32))


def test_invalid_check_replay() -> None:
    with pytest.raises(VoucherError, match="replay"):
        _check(_voucher(100), previous=100)


def test_invalid_check_replay_redeemed() -> None:
    with pytest.raises(VoucherError, match="replay"):
        _check(_voucher(100), channel=_channel(redeemed=100))


def test_invalid_check_overspend() -> None:
    with pytest.raises(VoucherError, match="exceeds the deposit"):
        _check(_voucher(1001))


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


@pytest.mark.parametrize("epoch", [-1, 2**64, True, 1.0])
def test_invalid_epoch(epoch: object) -> None:
    with pytest.raises(VoucherError, match="epoch"):
        _voucher(epoch=epoch)  # type: ignore[arg-type]


def test_invalid_address() -> None:
    with pytest.raises(VoucherError, match="address"):
        Voucher("0x1234", PROVER, 0, 1, 1, ESCROW)


@pytest.mark.parametrize("amount", ["²", "٣", "007", "0", "+1", " 1", "1_000", "0x10", "1" * 40])
def test_invalid_json_amount_not_canonical(amount: str) -> None:
    obj = dict(_voucher().to_json(), cumulativeAmount=amount)
    with pytest.raises(VoucherError, match="cumulativeAmount"):
        Voucher.from_json(obj)


@pytest.mark.parametrize("epoch", ["3", 3.0, True, None, -1, 2**64])
def test_invalid_json_epoch(epoch: object) -> None:
    obj = dict(_voucher().to_json(), epoch=epoch)
    with pytest.raises(VoucherError, match="epoch"):
        Voucher.from_json(obj)


def test_invalid_json_without_epoch() -> None:
    """A version-1 voucher (no epoch) is refused, not read as epoch 0."""
    obj = _voucher().to_json()
    del obj["epoch"]
    with pytest.raises(VoucherError, match="exactly"):
        Voucher.from_json(obj)


def test_invalid_json_extra_key() -> None:
    with pytest.raises(VoucherError, match="exactly"):
        Voucher.from_json(dict(_voucher().to_json(), salt="0x00"))


def test_check_voucher_with_the_signer_already_recovered() -> None:
    v = _voucher(100)
    assert _check(v, signature=bytes(65), signed_by=CLIENT.address) == 100  # no second recovery


def test_invalid_check_voucher_signed_by_someone_else() -> None:
    with pytest.raises(VoucherError, match="not by the client"):
        _check(_voucher(100), signed_by=PROVER)
