"""Write tests/vectors/bls.json: hash-to-G1 points, BLS keys (G1 and G2), signatures, an
aggregate, and the attestation and proof-of-possession messages.

Both the Python tests (tests/protocol/test_bls.py) and the contract tests
(tests/adapters/chain/test_attestations.py: GhostAttestations.hashToG1 and .verifySignature)
check them, so protocol/bls.py and contracts/BN254.sol compute the same points.
Deterministic: rerunning rewrites the same file. Run: `.venv/bin/python scripts/make_bls_vectors.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostproof.protocol import bls  # noqa: E402
from ghostproof.protocol.hashing import keccak256  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "bls.json"
ATTESTATIONS = "0x" + "a1" * 20
REGISTRY = "0x" + "b2" * 20
AUDITOR = "0x" + "c3" * 20
CHAIN_ID = 31337


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _tries(message: bytes, point: bls.G1Point) -> int:
    return (point[0] - int.from_bytes(message, "big") % bls.P) % bls.P + 1


def _hash_vectors() -> list[dict[str, object]]:
    """Edge messages (zero, all ones: above p, so reduced), five hashes, and the first hashes
    that need 3, 4 and 5 tries (so the loop's increments are exercised)."""
    messages = [bytes(32), b"\xff" * 32, bytes(range(32))]
    messages += [keccak256(b"ghostproof hash-to-g1 %d" % i) for i in range(5)]
    for wanted in (3, 4, 5):
        i = 0
        while _tries(m := keccak256(b"ghostproof hash-to-g1 %d" % i), bls.hash_to_g1(m)) != wanted:
            i += 1
        messages.append(m)
    out = []
    for m in messages:
        point = bls.hash_to_g1(m)
        out.append({"message": _hex(m), "point": bls.g1_to_json(point), "tries": _tries(m, point)})
    return out


def _keys(n: int) -> list[int]:
    return [bls.secret_key_from_seed(bytes([i + 1]) * 32) for i in range(n)]


def main() -> None:
    """Write the vectors; print where."""
    keys = _keys(4)
    message = bls.attestation_message(CHAIN_ID, ATTESTATIONS, REGISTRY, 7, b"\x5a" * 32, 20_000)
    pk1 = [bls.public_key_g1(k) for k in keys]
    pk2 = [bls.public_key_g2(k) for k in keys]
    sigs = [bls.sign(k, message) for k in keys]
    signers = [0, 2, 3]
    doc = {
        "about": "BLS over BN254 (protocol/bls.py, contracts/BN254.sol): points as 0x-hex, "
                 "G2 in precompile order [[x_im, x_re], [y_im, y_re]]",
        "hashToG1": _hash_vectors(),
        "keys": [
            {"seed": _hex(bytes([i + 1]) * 32), "secret": hex(k), "pubkeyG1": bls.g1_to_json(pk1[i]),
             "pubkeyG2": bls.g2_to_json(pk2[i]), "pubkeyHash": _hex(bls.pubkey_hash(pk1[i]))}
            for i, k in enumerate(keys)
        ],
        "attestationMessage": {
            "chainId": CHAIN_ID, "attestations": ATTESTATIONS, "registry": REGISTRY, "modelId": 7,
            "ghostRoot": _hex(b"\x5a" * 32), "epoch": 20_000, "message": _hex(message),
        },
        "possessionMessage": {
            "chainId": CHAIN_ID, "attestations": ATTESTATIONS, "auditor": AUDITOR, "key": 0,
            "message": _hex(bls.possession_message(CHAIN_ID, ATTESTATIONS, AUDITOR, pk1[0])),
        },
        "signatures": [
            {"key": i, "message": _hex(message), "signature": bls.g1_to_json(s)} for i, s in enumerate(sigs)
        ],
        "aggregate": {
            "keys": signers, "message": _hex(message),
            "signature": bls.g1_to_json(bls.aggregate_g1(sigs[i] for i in signers)),
            "pubkeyG1": bls.g1_to_json(bls.aggregate_g1(pk1[i] for i in signers)),
            "pubkeyG2": bls.g2_to_json(bls.aggregate_g2(pk2[i] for i in signers)),
        },
    }
    OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
