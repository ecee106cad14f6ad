"""Write tests/vectors/chain.json: layer-root openings, EIP-712 voucher digests (with epochs),
EIP-712 receipt digests, layer-selection hashes, and what a challenge checks (exact column
scores, K columns opened against their root).

Both the Python tests and the contract tests (tests/adapters/chain/test_vectors.py) check them, so
protocol/ and the Solidity compute the same bytes. Deterministic: rerunning rewrites the
same file. Run: `.venv/bin/python scripts/make_chain_vectors.py`.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from eth_account import Account  # noqa: E402

from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec  # noqa: E402
from ghostproof.protocol.hashing import keccak256, leaf_hashes, to_hex  # noqa: E402
from ghostproof.protocol.layer import int_scores  # noqa: E402
from ghostproof.protocol.merkle import build_tree, multiproof  # noqa: E402
from ghostproof.protocol.receipt import (  # noqa: E402
    ZERO_ADDRESS,
    layer_selection_hash,
    receipt_digest,
    receipt_domain,
    receipt_struct_hash,
)
from ghostproof.protocol.signing import sign_digest  # noqa: E402
from ghostproof.protocol.voucher import MAX_UINT64, MAX_UINT128, Voucher, sign_voucher  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "chain.json"
# Where dev account 0 deploys GhostRegistry (nonce 1) and CreditEscrow (nonce 2) on a fresh chain.
REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
ESCROW = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CHAIN_IDS = (31337, 131277322940537)  # Anvil, and eth-tester's embedded chain
MAX_UINT256 = (1 << 256) - 1


def layer_root_vectors() -> list[dict[str, object]]:
    """Openings of chosen (layer, matrix) positions of ghost files of 1, 3, 5 and 64 layers."""
    rng = random.Random(20240601)
    spec = LayerSpec(4, 4, 8, 1, 1.0, 0.5, 0.5)
    cases = []
    for n_layers in (1, 3, 5, 64):
        roots = tuple((rng.randbytes(32), rng.randbytes(32)) for _ in range(n_layers))
        ghost = GhostFile(GhostHeader(f"vector-{n_layers}", (spec,) * n_layers), roots)
        for layer in sorted({0, n_layers // 2, n_layers - 1}):
            for matrix in ("K", "V"):
                op = ghost.open_layer_root(layer, matrix)
                cases.append({
                    "nLayers": n_layers,
                    "layer": layer,
                    "matrix": matrix,
                    "root": to_hex(op.root),
                    "headerHash": to_hex(op.header_hash),
                    "proof": [to_hex(p) for p in op.proof],
                    "ghostRoot": to_hex(ghost.ghost_root),
                })
    return cases


# (epoch, cumulative amount): a fresh channel, later epochs, and both fields at their maxima.
VOUCHER_CASES = ((0, 1), (0, 10**18), (1, 10**18), (7, 123456789), (MAX_UINT64, MAX_UINT128))


def voucher_vectors() -> list[dict[str, object]]:
    """Digests and signatures of vouchers (with their channel epoch) from a fixed client key."""
    client = Account.from_key(keccak256(b"ghostproof vector client"))
    prover = Account.from_key(keccak256(b"ghostproof vector prover"))
    cases = []
    for chain_id in CHAIN_IDS:
        for epoch, amount in VOUCHER_CASES:
            v = Voucher(client.address, prover.address, epoch, amount, chain_id, ESCROW)
            cases.append({
                "voucher": v.to_json(),
                "digest": to_hex(v.digest()),
                "signature": to_hex(sign_voucher(v, client.key)),
            })
    return cases


# Receipt domains: offline (chain 0, zero address), the registry on both dev chains (the
# contract recomputes these digests), and a registry elsewhere (its struct hash is checked).
RECEIPT_DOMAINS = ((0, ZERO_ADDRESS), (CHAIN_IDS[0], REGISTRY), (CHAIN_IDS[1], REGISTRY),
                   (11155111, "0x5FbDB2315678afecb367f032d93F642f64180aa3"))
RECEIPT_MODEL_IDS = (0, 1, 7, MAX_UINT256)


def receipt_vectors() -> list[dict[str, object]]:
    """Struct hash, domain separator, digest and signature of receipts, per domain and model
    id (model 0 with all-zero hashes, the others with pseudo-random ones)."""
    rng = random.Random(20250110)
    prover = Account.from_key(keccak256(b"ghostproof vector prover"))
    cases = []
    for chain_id, contract in RECEIPT_DOMAINS:
        for model_id in RECEIPT_MODEL_IDS:
            hashes = [bytes(32) if model_id == 0 else rng.randbytes(32) for _ in range(4)]
            fields = dict(model_id=model_id, ghost_root=hashes[0], request=hashes[1],
                          selection=hashes[2], output=hashes[3])
            digest = receipt_digest(chain_id=chain_id, verifying_contract=contract, **fields)
            cases.append({
                "chainId": chain_id,
                "verifyingContract": contract,
                "modelId": model_id,
                "ghostRoot": to_hex(hashes[0]),
                "requestHash": to_hex(hashes[1]),
                "selectionHash": to_hex(hashes[2]),
                "outputHash": to_hex(hashes[3]),
                "structHash": to_hex(receipt_struct_hash(**fields)),
                "domainSeparator": to_hex(receipt_domain(chain_id, contract).separator),
                "digest": to_hex(digest),
                "signer": prover.address,
                "signature": to_hex(sign_digest(digest, prover.key)),
            })
    return cases


def _selection_case(layer: int, q: list[int], tau: int, selected: list[int]) -> dict[str, object]:
    q8 = np.array(q, dtype=np.int8)
    return {
        "layer": layer,
        "q": to_hex(q8.tobytes()),
        "tau": tau,
        "selected": selected,
        "hash": to_hex(layer_selection_hash(layer, q8, tau, selected)),
    }


def layer_selection_vectors() -> list[dict[str, object]]:
    """layerSelection hashes: q with ±127, negative / extreme τ, the uint16 / uint32 maxima,
    a q across a 32-byte word boundary, and k = 1024 (the largest selection)."""
    rng = random.Random(20250111)

    def q_of(d: int) -> list[int]:
        return [rng.randint(-127, 127) for _ in range(d)]

    def sel(k: int, n: int) -> list[int]:
        return sorted(rng.sample(range(n), k))

    return [
        _selection_case(0, [127, -127, 0, 1, -1], -1, [0]),
        _selection_case(1, [-127] * 4 + [127] * 4, -(2**31 - 1), [3, 17, 4096]),
        _selection_case(2, q_of(33), 0, sel(9, 1000)),
        _selection_case(5, q_of(64), 2**31 - 1, sel(32, 2**20)),
        _selection_case(63, q_of(256), -123456789, sel(1024, 2**32)),
        _selection_case(65535, [-127], -65536, [2**32 - 1]),
    ]


def challenge_score_vectors() -> list[dict[str, object]]:
    """Exact scores q·column at lengths around the 32-byte word (1, 31, 32, 33, 256, 1000),
    with the int8 extremes (q ±127, column −128 and 127) and all-extreme worst cases."""
    rng = np.random.default_rng(20251126)
    cases = []
    for d in (1, 31, 32, 33, 256, 1000):
        q = rng.integers(-127, 128, d, dtype=np.int8)
        col = rng.integers(-128, 128, d, dtype=np.int8)
        q[0], col[-1] = -127, -128
        cases.append((q, col))
    cases.append((np.full(256, -127, np.int8), np.full(256, -128, np.int8)))  # the largest score
    cases.append((np.full(256, 127, np.int8), np.full(256, -128, np.int8)))  # the smallest
    return [{"q": to_hex(q.tobytes()), "column": to_hex(c.tobytes()),
             "score": int(int_scores(q, c.reshape(1, -1))[0])} for q, c in cases]


def key_column_vectors() -> list[dict[str, object]]:
    """K columns of small trees (N = 1, 2, 5, 8, 33; layers 0, 3 and 65535) with their Merkle
    paths and the root they reproduce: first, last and middle columns."""
    rng = np.random.default_rng(20251127)
    cases = []
    for n, d, layer in ((1, 4, 0), (2, 3, 3), (5, 8, 0), (8, 2, 65535), (33, 16, 7)):
        keys = rng.integers(-128, 128, (n, d), dtype=np.int8)
        tree = build_tree(leaf_hashes(layer, 0, keys))
        for j in sorted({0, n // 2, n - 1}):
            cases.append({"layer": layer, "n": n, "column": j, "values": to_hex(keys[j].tobytes()),
                          "path": [to_hex(p) for p in multiproof(tree, [j])], "root": to_hex(tree.root)})
    return cases


def build_vectors() -> dict[str, object]:
    """The whole vectors document (tests/adapters/chain/test_vectors.py checks it rebuilds the file)."""
    return {
        "description": "layer-root openings against ghostRoot, CreditEscrow voucher digests, "
        "GhostRegistry receipt digests (structHash, domainSeparator and digest per domain) and "
        "layer-selection hashes, exact column scores and K-column openings (what a challenge "
        "checks); made by scripts/make_chain_vectors.py",
        "layerRoots": layer_root_vectors(),
        "vouchers": voucher_vectors(),
        "receipts": receipt_vectors(),
        "layerSelections": layer_selection_vectors(),
        "challengeScores": challenge_score_vectors(),
        "keyColumns": key_column_vectors(),
    }


def main() -> None:
    """Write the vectors file."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build_vectors(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
