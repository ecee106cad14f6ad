"""protocol/signing.py: the direct libsecp256k1 recovery gives exactly what eth-account gives,
and refuses what it refuses."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.errors import ReceiptError
from ghostproof.protocol.signing import (
    checksum_address,
    recover_address,
    recover_digest_signer,
    sign_digest,
    sign_digest_reference,
)

KEYS = st.integers(1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140).map(
    lambda k: k.to_bytes(32, "big"))


@settings(max_examples=60, deadline=None)
@given(KEYS, st.binary(min_size=32, max_size=32))
def test_recovery_is_eth_accounts(key: bytes, digest: bytes) -> None:
    signature = sign_digest(digest, key)
    assert signature == sign_digest_reference(digest, key) == sign_digest(digest, "0x" + key.hex())
    assert recover_address(digest, signature) == Account._recover_hash(digest, signature=signature)
    assert recover_digest_signer(digest, signature, ReceiptError) == Account.from_key(key).address


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_checksum_is_eip55(address: bytes) -> None:
    assert checksum_address(address) == to_checksum_address(address)


def test_invalid_signatures_are_refused() -> None:
    digest = bytes(range(32))
    signature = sign_digest(digest, b"\x01" * 32)
    high_s = (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140).to_bytes(32, "big")
    for bad in (signature[:64], signature[:64] + b"\x1d", bytes(32) + signature[32:],
                signature[:32] + high_s + signature[64:]):
        with pytest.raises(ReceiptError):
            recover_digest_signer(digest, bad, ReceiptError)
    with pytest.raises(ValueError):
        recover_address(digest[:31], signature)
