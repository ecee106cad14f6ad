"""protocol/payment.py: the x402 v2 headers of the ghostproof escrow scheme round-trip, and
every deviation (one field of a valid header changed) is a VoucherError."""

from __future__ import annotations

import base64
import json

import pytest
from eth_account import Account

from ghostproof.protocol.errors import VoucherError
from ghostproof.protocol.payment import (
    MAX_HEADER_BYTES,
    Payment,
    Settlement,
    Terms,
    decode_payment_required,
    encode_payment_required,
)
from ghostproof.protocol.voucher import Voucher, sign_voucher

CLIENT_KEY = bytes(31) + b"\x02"
CLIENT = Account.from_key(CLIENT_KEY).address
TERMS = Terms(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 7, 100, 3, 400)


def _payment(**changes) -> Payment:
    voucher = Voucher(CLIENT, TERMS.prover, 3, 500, 31337, TERMS.escrow)
    fields = {"terms": TERMS, "voucher": voucher, "signature": sign_voucher(voucher, CLIENT_KEY),
              "request_hash": bytes(range(32)), **changes}
    return Payment(**fields)


def _edit(header: str, edit) -> str:
    obj = json.loads(base64.b64decode(header))
    edit(obj)
    return base64.b64encode(json.dumps(obj).encode()).decode()


def test_payment_required_round_trip():
    terms, error = decode_payment_required(encode_payment_required(TERMS, "stale voucher", "/q"))
    assert (terms, error) == (TERMS, "stale voucher")


def test_payment_round_trip():
    payment = _payment()
    assert Payment.from_header(payment.to_header()) == payment


def test_settlement_round_trip():
    settlement = Settlement(31337, CLIENT, 500, 9500, 3)
    assert Settlement.from_header(settlement.to_header()) == settlement


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["accepts"][0].__setitem__("scheme", "exact"),
        lambda o: o["accepts"][0].__setitem__("network", "solana:1"),
        lambda o: o["accepts"][0].__setitem__("amount", "01"),
        lambda o: o["accepts"][0].__setitem__("amount", "-1"),
        lambda o: o["accepts"][0]["extra"].__setitem__("epoch", -1),
        lambda o: o["accepts"][0]["extra"].__setitem__("lastAccepted", 5),
        lambda o: o["accepts"][0]["extra"].pop("escrow"),
        lambda o: o["accepts"][0].__setitem__("payTo", "0x1234"),
        lambda o: o.__setitem__("x402Version", 1),
    ],
)
def test_invalid_payment_required_field(edit):
    with pytest.raises(VoucherError):
        decode_payment_required(_edit(encode_payment_required(TERMS), edit))


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["payload"].__setitem__("signature", "0x00"),
        lambda o: o["payload"].__setitem__("requestHash", "0x" + "00" * 31),
        lambda o: o["payload"]["voucher"].__setitem__("prover", "0x" + "44" * 20),
        lambda o: o["payload"]["voucher"].__setitem__("chainId", 1),
        lambda o: o["payload"]["voucher"].__setitem__("cumulativeAmount", "0500"),
        lambda o: o["payload"].__setitem__("extra", 1),
        lambda o: o.__setitem__("x402Version", 3),
    ],
)
def test_invalid_payment_field(edit):
    with pytest.raises(VoucherError):
        Payment.from_header(_edit(_payment().to_header(), edit))


@pytest.mark.parametrize(
    "header",
    ["", "not base64!", base64.b64encode(b"\xff\xfe[").decode(), "A" * (MAX_HEADER_BYTES + 1),
     base64.b64encode(b"[" * 1000).decode()],
)
def test_invalid_header_bytes(header):
    with pytest.raises(VoucherError):
        Payment.from_header(header)
