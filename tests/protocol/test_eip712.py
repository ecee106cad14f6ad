"""protocol/eip712.py: the one EIP-712 encoder, checked against eth-account's
``encode_typed_data`` (an independent implementation) and the documented constants."""

from __future__ import annotations

import random
import re

import pytest
from eth_account.messages import encode_typed_data

from ghostproof.protocol.eip712 import (
    EIP712_DOMAIN,
    Domain,
    StructType,
    domain_separator,
    hash_struct,
    typed_data,
    typed_data_digest,
)
from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.hashing import keccak256, to_hex
from ghostproof.protocol.receipt import (
    RECEIPT_TYPE,
    RECEIPT_TYPEHASH,
    ZERO_ADDRESS,
    receipt_digest,
    receipt_domain,
    receipt_struct_hash,
)
from ghostproof.protocol.voucher import VOUCHER_TYPEHASH, Voucher

CONTRACT = "0x1111111111111111111111111111111111111111"
MIXED = StructType(
    "Mixed",
    (("small", "int8"), ("wide", "int256"), ("flag", "bool"), ("tag", "bytes4"),
     ("label", "string"), ("blob", "bytes"), ("who", "address"), ("count", "uint64")),
)


def _reference_digest(domain: Domain, struct_type: StructType, values: dict[str, object]) -> bytes:
    signable = encode_typed_data(full_message=typed_data(domain, struct_type, values))
    return keccak256(b"\x19" + signable.version + signable.header + signable.body)


def _receipt_values(rng: random.Random, model_id: int) -> dict[str, object]:
    return {"modelId": model_id, "ghostRoot": rng.randbytes(32), "requestHash": rng.randbytes(32),
            "selectionHash": rng.randbytes(32), "outputHash": rng.randbytes(32)}


def _mixed_values(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "small": -128, "wide": -(1 << 255), "flag": True, "tag": b"\xde\xad\xbe\xef",
        "label": "ghostproof ✓", "blob": b"\x00\x01\x02", "who": CONTRACT, "count": (1 << 64) - 1,
    }
    values.update(changes)
    return values


def test_domain_typehash_is_documented() -> None:
    assert to_hex(EIP712_DOMAIN.typehash) == (
        "0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"
    )


def test_receipt_typehash_is_documented() -> None:
    assert RECEIPT_TYPE.type_string == (
        "Receipt(uint256 modelId,bytes32 ghostRoot,bytes32 requestHash,"
        "bytes32 selectionHash,bytes32 outputHash)"
    )
    assert to_hex(RECEIPT_TYPEHASH) == (
        "0x293a3b09436eae897096f2be5269aa559a62b21ee25ac8b4e70ac6616285c049"
    )


def test_voucher_typehash() -> None:
    assert VOUCHER_TYPEHASH == keccak256(
        b"Voucher(address client,address prover,uint64 epoch,uint256 cumulativeAmount)"
    )


def test_offline_receipt_domain_separator_is_documented() -> None:
    assert to_hex(receipt_domain(0, ZERO_ADDRESS).separator) == (
        "0x5dec91a9e9c4be46c3027a90d0c8df14cd7a1e4baafebfed25c4f1c3cdd2daed"
    )


@pytest.mark.parametrize("chain_id", [0, 1, 31337, (1 << 256) - 1])
def test_receipt_digest_matches_eth_account(chain_id: int) -> None:
    rng = random.Random(chain_id)
    for model_id in (0, 7, (1 << 256) - 1):
        values = _receipt_values(rng, model_id)
        domain = receipt_domain(chain_id, CONTRACT)
        got = receipt_digest(
            chain_id=chain_id, verifying_contract=CONTRACT, model_id=model_id,
            ghost_root=values["ghostRoot"], request=values["requestHash"],
            selection=values["selectionHash"], output=values["outputHash"],
        )
        assert got == _reference_digest(domain, RECEIPT_TYPE, values)


def test_receipt_digest_is_struct_hash_under_domain() -> None:
    values = _receipt_values(random.Random(5), 9)
    struct_hash = receipt_struct_hash(
        model_id=9, ghost_root=values["ghostRoot"], request=values["requestHash"],
        selection=values["selectionHash"], output=values["outputHash"],
    )
    domain = receipt_domain(31337, CONTRACT)
    assert struct_hash == hash_struct(RECEIPT_TYPE, values)
    assert typed_data_digest(domain, RECEIPT_TYPE, values) == keccak256(
        b"\x19\x01" + domain.separator + struct_hash
    )


@pytest.mark.parametrize("epoch, amount", [(0, 1), (9, 10**18), ((1 << 64) - 1, (1 << 128) - 1)])
def test_voucher_digest_matches_eth_account(epoch: int, amount: int) -> None:
    v = Voucher(CONTRACT, "0x" + "22" * 20, epoch, amount, 31337, "0x" + "33" * 20)
    signable = encode_typed_data(full_message=v.typed_data())
    assert v.digest() == keccak256(b"\x19" + signable.version + signable.header + signable.body)


@pytest.mark.parametrize(
    "changes",
    [{}, {"small": 127, "wide": (1 << 255) - 1, "flag": False}, {"small": -1, "label": "", "blob": b""}],
)
def test_mixed_types_match_eth_account(changes: dict[str, object]) -> None:
    domain = Domain("test", "9", 5, CONTRACT)
    values = _mixed_values(**changes)
    assert typed_data_digest(domain, MIXED, values) == _reference_digest(domain, MIXED, values)


def test_domain_separator_is_cached_per_domain() -> None:
    assert domain_separator("a", "1", 1, CONTRACT) is domain_separator("a", "1", 1, CONTRACT)
    assert domain_separator("a", "1", 1, CONTRACT) != domain_separator("a", "1", 2, CONTRACT)


def test_address_case_is_ignored() -> None:
    assert domain_separator("a", "1", 1, "0x" + "ab" * 20) == domain_separator("a", "1", 1, "0x" + "AB" * 20)


@pytest.mark.parametrize(
    "member, value",
    [
        ("count", -1),
        ("count", 1 << 64),
        ("count", True),
        ("count", 1.0),
        ("small", 128),
        ("small", -129),
        ("wide", 1 << 255),
        ("flag", 1),
        ("tag", b"\x00" * 3),
        ("tag", "0xdeadbeef"),
        ("label", b"bytes"),
        ("blob", "text"),
        ("who", "0x" + "11" * 19),
        ("who", "11" * 20),
        ("who", bytes(20)),
    ],
)
def test_invalid_value_for_type(member: str, value: object) -> None:
    with pytest.raises(FormatError, match=re.escape(f"Mixed.{member}")):
        hash_struct(MIXED, _mixed_values(**{member: value}))


def test_invalid_missing_member() -> None:
    values = _mixed_values()
    del values["flag"]
    with pytest.raises(FormatError):
        hash_struct(MIXED, values)


def test_invalid_extra_member() -> None:
    values = _mixed_values()
    values["extra"] = 1
    with pytest.raises(FormatError):
        hash_struct(MIXED, values)


def test_invalid_renamed_member() -> None:
    values = _mixed_values()
    values["flags"] = values.pop("flag")
    with pytest.raises(FormatError, match="missing flag"):
        hash_struct(MIXED, values)


@pytest.mark.parametrize("chain_id", [-1, 1 << 256, True])
def test_invalid_domain_chain_id(chain_id: object) -> None:
    with pytest.raises(FormatError, match="chainId"):
        domain_separator("ghostproof", "2", chain_id, CONTRACT)  # type: ignore[arg-type]


def test_invalid_receipt_hash_length() -> None:
    with pytest.raises(FormatError, match=re.escape("Receipt.outputHash")):
        receipt_digest(chain_id=1, verifying_contract=CONTRACT, model_id=1, ghost_root=bytes(32),
                       request=bytes(32), selection=bytes(32), output=bytes(31))


@pytest.mark.parametrize("sol_type", ["uint7", "uint264", "uint08", "int0", "bytes0", "bytes33",
                                      "uint256[]", "Other", "address payable"])
def test_invalid_struct_member_type(sol_type: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        StructType("Bad", (("x", sol_type),))


def test_invalid_struct_repeated_member() -> None:
    with pytest.raises(ValueError, match="repeats"):
        StructType("Bad", (("x", "uint8"), ("x", "bool")))
