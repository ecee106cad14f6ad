"""Write tests/vectors/chain.json: layer-root openings and EIP-712 voucher digests (with epochs).

Both the Python tests and the contract tests (tests/chain/test_vectors.py) check them, so
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

from eth_account import Account  # noqa: E402

from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec  # noqa: E402
from ghostproof.protocol.hashing import keccak256, to_hex  # noqa: E402
from ghostproof.protocol.voucher import MAX_UINT64, MAX_UINT128, Voucher, sign_voucher  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "chain.json"
# Where dev account 0 deploys CreditEscrow as its third transaction (nonce 2) on a fresh chain.
ESCROW = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CHAIN_IDS = (31337, 131277322940537)  # Anvil, and eth-tester's embedded chain


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


def main() -> None:
    """Write the vectors file."""
    doc = {
        "description": "layer-root openings against ghostRoot, and CreditEscrow voucher "
        "digests; made by scripts/make_chain_vectors.py",
        "layerRoots": layer_root_vectors(),
        "vouchers": voucher_vectors(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
