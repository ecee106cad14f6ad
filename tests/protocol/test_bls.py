"""protocol/bls.py: tests/vectors/bls.json reproduced, the BLS algebra (aggregation is
signing with the sum of keys), the pairing check accepting exactly the right signature, the
messages binding every field, and the signature file's parser refusing each bad field."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ghostproof.protocol import bls
from ghostproof.protocol.errors import AttestationError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "bls.json").read_text(encoding="utf-8"))
KEYS = [int(k["secret"], 16) for k in VECTORS["keys"]]
MESSAGE = bytes.fromhex(VECTORS["attestationMessage"]["message"][2:])


def _pk(i: int) -> tuple[bls.G1Point, bls.G2Point]:
    k = VECTORS["keys"][i]
    return bls.g1_from_json(k["pubkeyG1"]), bls.g2_from_json(k["pubkeyG2"])


@pytest.mark.parametrize("case", VECTORS["hashToG1"], ids=lambda c: c["message"][:10])
def test_hash_to_g1_vectors(case: dict) -> None:
    message = bytes.fromhex(case["message"][2:])
    point = bls.hash_to_g1(message)
    assert bls.g1_to_json(point) == case["point"]
    assert bls.check_g1(point) == point  # on the curve
    assert point[0] == (int.from_bytes(message, "big") + case["tries"] - 1) % bls.P


def test_hash_vectors_exercise_the_loop() -> None:
    assert {1, 2, 3, 4, 5} <= {c["tries"] for c in VECTORS["hashToG1"]}


def test_hash_to_g1_needs_32_bytes() -> None:
    with pytest.raises(AttestationError, match="32 bytes"):
        bls.hash_to_g1(b"\x01" * 31)


def test_key_vectors() -> None:
    for i, case in enumerate(VECTORS["keys"]):
        sk = bls.secret_key_from_seed(bytes.fromhex(case["seed"][2:]))
        assert sk == KEYS[i] and 0 < sk < bls.R
        assert bls.g1_to_json(bls.public_key_g1(sk)) == case["pubkeyG1"]
        assert bls.g2_to_json(bls.public_key_g2(sk)) == case["pubkeyG2"]
        assert "0x" + bls.pubkey_hash(bls.public_key_g1(sk)).hex() == case["pubkeyHash"]


def test_secret_key_refuses_short_seed_and_zero() -> None:
    with pytest.raises(AttestationError):
        bls.secret_key_from_seed(b"\x01" * 31)
    with pytest.raises(AttestationError):
        bls.public_key_g1(0)
    with pytest.raises(AttestationError):
        bls.sign(bls.R, MESSAGE)


def test_message_vectors() -> None:
    a = VECTORS["attestationMessage"]
    assert bls.attestation_message(a["chainId"], a["attestations"], a["registry"], a["modelId"],
                                   bytes.fromhex(a["ghostRoot"][2:]), a["epoch"]) == MESSAGE
    p = VECTORS["possessionMessage"]
    assert "0x" + bls.possession_message(p["chainId"], p["attestations"], p["auditor"],
                                         _pk(p["key"])[0]).hex() == p["message"]


@pytest.mark.parametrize("field", ["chain", "contract", "registry", "model", "root", "epoch"])
def test_attestation_message_binds_every_field(field: str) -> None:
    a = VECTORS["attestationMessage"]
    args = [a["chainId"], a["attestations"], a["registry"], a["modelId"],
            bytes.fromhex(a["ghostRoot"][2:]), a["epoch"]]
    index = ["chain", "contract", "registry", "model", "root", "epoch"].index(field)
    args[index] = {0: 1, 1: "0x" + "d4" * 20, 2: "0x" + "d4" * 20, 3: 8,
                   4: b"\x5b" * 32, 5: a["epoch"] + 1}[index]
    assert bls.attestation_message(*args) != MESSAGE


def test_possession_message_binds_auditor_and_key() -> None:
    p = VECTORS["possessionMessage"]
    base = bls.possession_message(p["chainId"], p["attestations"], p["auditor"], _pk(0)[0])
    assert bls.possession_message(p["chainId"], p["attestations"], "0x" + "d4" * 20, _pk(0)[0]) != base
    assert bls.possession_message(p["chainId"], p["attestations"], p["auditor"], _pk(1)[0]) != base


def test_signature_and_aggregate_vectors() -> None:
    for case in VECTORS["signatures"]:
        assert bls.g1_to_json(bls.sign(KEYS[case["key"]], MESSAGE)) == case["signature"]
    agg = VECTORS["aggregate"]
    signers = agg["keys"]
    assert bls.g1_to_json(bls.aggregate_g1(bls.sign(KEYS[i], MESSAGE) for i in signers)) == agg["signature"]
    assert bls.g2_to_json(bls.aggregate_g2(_pk(i)[1] for i in signers)) == agg["pubkeyG2"]


def test_aggregate_is_the_signature_of_the_summed_key() -> None:
    total = sum(KEYS[:3]) % bls.R
    assert bls.aggregate_g1(bls.sign(k, MESSAGE) for k in KEYS[:3]) == bls.sign(total, MESSAGE)
    assert bls.aggregate_g1(bls.public_key_g1(k) for k in KEYS[:3]) == bls.public_key_g1(total)
    assert bls.aggregate_g2(bls.public_key_g2(k) for k in KEYS[:3]) == bls.public_key_g2(total)
    assert bls.aggregate_g1([bls.public_key_g1(1), bls.negate_g1(bls.public_key_g1(1))]) == bls.ZERO_G1


def test_verify_accepts_the_aggregate() -> None:
    agg = VECTORS["aggregate"]
    assert bls.verify(bls.g1_from_json(agg["pubkeyG1"]), bls.g2_from_json(agg["pubkeyG2"]), MESSAGE,
                      bls.g1_from_json(agg["signature"]))


def test_verify_rejects_wrong_message() -> None:
    pk1, pk2 = _pk(0)
    assert not bls.verify(pk1, pk2, bytes(32), bls.sign(KEYS[0], MESSAGE))


def test_verify_rejects_wrong_signer() -> None:
    pk1, pk2 = _pk(0)
    assert not bls.verify(pk1, pk2, MESSAGE, bls.sign(KEYS[1], MESSAGE))


def test_verify_rejects_mismatched_key_halves() -> None:
    pk1, _ = _pk(0)
    _, other_g2 = _pk(1)
    # Signature and G2 half both of key 1: the signature check alone would pass.
    assert not bls.verify(pk1, other_g2, MESSAGE, bls.sign(KEYS[1], MESSAGE))


def test_points_off_the_curve_are_refused() -> None:
    x, y = _pk(0)[0]
    with pytest.raises(AttestationError, match="not on the BN254 curve"):
        bls.check_g1((x, (y + 1) % bls.P))
    with pytest.raises(AttestationError, match="out of range"):
        bls.check_g1((x, y + bls.P))
    (xi, xr), (yi, yr) = _pk(0)[1]
    with pytest.raises(AttestationError, match="G2"):
        bls.check_g2(((xi, xr), (yi, (yr + 1) % bls.P)))


# ---------------------------------------------------------------- signature files


def _signed() -> bls.SignedAttestation:
    a = VECTORS["attestationMessage"]
    pk1, pk2 = _pk(0)
    return bls.SignedAttestation(
        chain_id=a["chainId"], attestations=bls._address(a["attestations"], "a"),
        registry=bls._address(a["registry"], "r"), model_id=a["modelId"],
        ghost_root=bytes.fromhex(a["ghostRoot"][2:]), epoch=a["epoch"], auditor="0x" + "C3" * 20,
        pubkey_g1=pk1, pubkey_g2=pk2, signature=bls.sign(KEYS[0], MESSAGE),
    )


def test_signature_file_round_trip() -> None:
    signed = replace(_signed(), auditor=bls._address("0x" + "c3" * 20, "auditor"))
    assert signed.message == MESSAGE
    data = json.dumps(signed.to_json()).encode()
    assert bls.SignedAttestation.from_bytes(data) == signed


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("kind", "something else", "not a ghostproof attestation"),
        ("version", 2, "version"),
        ("epoch", 1 << 64, "epoch"),
        ("modelId", -1, "modelId"),
        ("ghostRoot", "0x12", "ghostRoot"),
        ("auditor", "0x1234", "auditor"),
        ("signature", ["0x01", "0x03"], "not on the BN254 curve"),
        ("pubkeyG1", ["0x0", "0x0"], "infinity"),
        ("pubkeyG2", [["0x1", "0x2"], ["0x3", "0x4"]], "G2"),
    ],
)
def test_signature_file_refuses_bad_field(field: str, value: object, match: str) -> None:
    obj = _signed().to_json()
    obj[field] = value
    with pytest.raises(AttestationError, match=match):
        bls.SignedAttestation.from_json(obj, "f.json")


def test_signature_file_refuses_missing_field_and_junk() -> None:
    obj = _signed().to_json()
    del obj["signature"]
    with pytest.raises(AttestationError, match="lacks the field 'signature'"):
        bls.SignedAttestation.from_json(obj)
    with pytest.raises(AttestationError):
        bls.SignedAttestation.from_bytes(b"{not json")
    with pytest.raises(AttestationError):
        bls.SignedAttestation.from_bytes(b" " * (bls.MAX_SIGNATURE_FILE_BYTES + 1))
