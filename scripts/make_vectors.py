"""Write tests/vectors/core.json: the core protocol's shared test vectors.

Leaf, node, layer-root-leaf and ghostRoot hashes; a small tree and compact multiproofs;
quantisation (exact, ties included), requantisation, top-k, the exp table and whole exact
layers (format 2 arithmetic); a committed model's ghost file (bytes and hashes) and a full
proven response with the output a verifier must compute. tests/test_vectors.py recomputes
every vector with the current code; the Solidity tests can read the same file.
Deterministic: fixed seeds and the fixed key 0x00…01; rerunning rewrites the same file.
Run: `.venv/bin/python scripts/make_vectors.py`.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ghostproof.protocol.hashing import (  # noqa: E402
    ghost_root,
    keccak256,
    leaf_hash,
    node_hash,
    root_leaf_hash,
    to_hex,
)
from ghostproof.protocol.layer import (  # noqa: E402
    EXP2_TABLE,
    int_scores,
    layer_forward,
    quantise_query,
    requantise,
    softmax_numerators,
    top1,
    top_k,
)
from ghostproof.protocol.merkle import build_tree, multiproof  # noqa: E402
from ghostproof.protocol.response_json import response_to_json  # noqa: E402

OUT = ROOT / "tests" / "vectors" / "core.json"
PROVER_KEY = bytes(31) + b"\x01"
NONCE = bytes(range(32))
MODEL_ID = 7
CHAIN_ID = 31337
CONTRACT = "0x" + "11" * 20


def leaf_vectors(rng: random.Random) -> list[dict[str, object]]:
    """Leaves of chosen (layer, matrix, column) with random int8 data of several lengths."""
    cases = []
    for layer, matrix, column, d in [(0, 0, 0, 1), (0, 1, 1, 4), (3, 0, 255, 16), (65535, 1, 2**32 - 1, 64)]:
        data = bytes(rng.randrange(256) for _ in range(d))
        cases.append({
            "layer": layer, "matrix": matrix, "column": column, "data": to_hex(data),
            "hash": to_hex(leaf_hash(layer, matrix, column, data)),
        })
    return cases


def node_vectors(rng: random.Random) -> list[dict[str, object]]:
    """Internal nodes of random and zero children."""
    pairs = [(bytes(32), bytes(32)), (rng.randbytes(32), rng.randbytes(32)), (rng.randbytes(32), bytes(32))]
    return [{"left": to_hex(a), "right": to_hex(b), "hash": to_hex(node_hash(a, b))} for a, b in pairs]


def root_leaf_vectors(rng: random.Random) -> list[dict[str, object]]:
    """Leaves of the layers tree."""
    cases = []
    for layer, matrix in [(0, 0), (0, 1), (63, 1)]:
        root = rng.randbytes(32)
        cases.append({"layer": layer, "matrix": matrix, "root": to_hex(root),
                      "hash": to_hex(root_leaf_hash(layer, matrix, root))})
    return cases


def ghost_root_vectors(rng: random.Random) -> list[dict[str, object]]:
    """ghostRoot of random headerHash/layersRoot pairs."""
    cases = []
    for _ in range(2):
        h, lr = rng.randbytes(32), rng.randbytes(32)
        cases.append(
            {"headerHash": to_hex(h), "layersRoot": to_hex(lr), "ghostRoot": to_hex(ghost_root(h, lr))}
        )
    return cases


def tree_vectors() -> list[dict[str, object]]:
    """Trees of 1, 3, 5 and 13 leaves (leaf i = keccak256(uint32 i)) and multiproofs in them."""
    cases = []
    for n, position_sets in [
        (1, [[0]]),
        (3, [[0], [2], [0, 1, 2]]),
        (5, [[4], [0, 4], [1, 2, 3]]),
        (13, [[0], [5, 6], [1, 4, 9, 12], [0, 1, 2, 3, 4, 5, 6, 7], list(range(13))]),
    ]:
        leaves = [keccak256(i.to_bytes(4, "big")) for i in range(n)]
        tree = build_tree(leaves)
        cases.append({
            "leaves": [to_hex(x) for x in leaves],
            "depth": tree.depth,
            "root": to_hex(tree.root),
            "multiproofs": [
                {
                    "positions": positions,
                    "leaves": [to_hex(leaves[p]) for p in positions],
                    "proof": [to_hex(h) for h in multiproof(tree, positions)],
                }
                for positions in position_sets
            ],
        })
    return cases


def quantisation_vectors() -> list[dict[str, object]]:
    """Inputs (float64) and their int8 queries: exact halves, signs, extremes, float32 inputs."""
    rng = np.random.default_rng(5)
    inputs = [
        [1.0, 7.0, 125.0, 221.0],  # 127·x/‖x‖ = 0.5, 3.5, 62.5, 110.5 exactly: half to even
        [-1.0, -7.0, -125.0, -221.0],
        [0.5, 0.5, 0.5, 0.5],  # 63.5 → 64
        [0.0, -3.0, 0.0],
        [3.0, 4.0],
        [1e-30, 2e-30],
        [3.4e38, -3.4e38, 1e-45],  # float32 extremes: no overflow, no underflow to a wrong side
        [0.1, 0.2, 0.7],  # not exact in binary: the exact value of each float is quantised
        [float(v) for v in rng.standard_normal(16).astype(np.float32)],
    ]
    return [{"input": x, "q": quantise_query(np.array(x)).tolist()} for x in inputs]


def requantisation_vectors() -> list[dict[str, object]]:
    """Integer layer outputs and the next layer's query: exact ties, zero, extremes."""
    rng = np.random.default_rng(7)
    outputs = [
        [1, 7, 125, 221],  # 0.5, 3.5, 62.5, 110.5 exactly: half to even
        [-1, -7, -125, -221],
        [0, 0, 0],  # zero output → zero query
        [8323072, -8323072, 1],  # ±127·2^16
        rng.integers(-(127 << 16), (127 << 16) + 1, size=16).tolist(),
    ]
    return [{"y": y, "q": requantise(np.array(y, dtype=np.int64)).tolist()} for y in outputs]


def exact_layer_vectors() -> list[dict[str, object]]:
    """Whole exact layers: q, columns, rows, logitScale → scores, τ, e_j, output y."""
    rng = np.random.default_rng(8)
    cases = []
    for k, d_in, d_out, scale in [(1, 4, 3, 5_000_000), (4, 8, 3, 40_000_000), (16, 16, 10, 0),
                                  (16, 16, 10, (1 << 32) - 1), (32, 64, 8, 12_345_678)]:
        q = rng.integers(-127, 128, size=d_in).astype(np.int8)
        cols = rng.integers(-127, 128, size=(k, d_in)).astype(np.int8)
        rows = rng.integers(-127, 128, size=(k, d_out)).astype(np.int8)
        result = layer_forward(q, cols, rows, scale)
        cases.append({
            "q": q.tolist(), "keyColumns": cols.tolist(), "valueRows": rows.tolist(),
            "logitScale": scale, "scores": result.scores.tolist(), "tau": result.tau,
            "numerators": softmax_numerators(result.scores, scale).tolist(),
            "output": result.output.tolist(),
        })
    return cases


def top_k_vectors() -> list[dict[str, object]]:
    """Exact integer scores and top-k selections (ties to the lower index)."""
    rng = np.random.default_rng(6)
    cases = []
    q = rng.integers(-127, 128, size=8).astype(np.int8)
    cols = rng.integers(-127, 128, size=(12, 8)).astype(np.int8)
    cols[7] = cols[2]  # a tie
    for k in (1, 3, 12):
        scores = int_scores(q, cols)
        cases.append({
            "q": q.tolist(), "columns": cols.tolist(), "k": k,
            "scores": scores.tolist(), "selected": top_k(scores, k).tolist(),
        })
    return cases


def vector_model():
    """A small two-layer model from a fixed seed, independent of the presets."""
    from ghostproof.prover.commit import commit_model, quantise_layer

    rng = np.random.default_rng(20240601)
    n, d, k = 24, 8, 4
    keys = [rng.standard_normal((n, d)) for _ in range(2)]
    values = [keys[1][rng.permutation(n)], rng.standard_normal((n, 3))]
    layers = [quantise_layer(keys[i], values[i], beta=20.0, k=k) for i in range(2)]
    x = (keys[0][5] + 0.1 * rng.standard_normal(d)).astype(np.float32)
    return commit_model("vectors", layers), x


def model_vectors() -> tuple[dict[str, object], dict[str, object]]:
    """The ghost file of the vector model and a proven response to one input."""
    from ghostproof.prover.prove import Prover

    model, x = vector_model()
    ghost = model.ghost
    prover = Prover(model, PROVER_KEY, model_id=MODEL_ID, chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    response = prover.prove(x, nonce=NONCE)
    ghost_vec = {
        "bytes": ghost.to_bytes().decode(),
        "headerHash": to_hex(ghost.header_hash),
        "layersRoot": to_hex(ghost.layers_root),
        "ghostRoot": to_hex(ghost.ghost_root),
    }
    response_vec = {
        "ghostRoot": to_hex(ghost.ghost_root),
        "response": response_to_json(response),
        "digest": to_hex(response.digest()),
        "prover": prover.address,
        "output": [int(v) for v in response.output],
        "top1": top1(response.output),
    }
    return ghost_vec, response_vec


def build_vectors() -> dict[str, object]:
    """Every vector, recomputed with the current code."""
    rng = random.Random(20240601)
    ghost_vec, response_vec = model_vectors()
    return {
        "description": "core protocol vectors (hashing, Merkle multiproofs, quantisation, ghost file, "
        "response); made by scripts/make_vectors.py, checked by tests/test_vectors.py",
        "leaves": leaf_vectors(rng),
        "nodes": node_vectors(rng),
        "rootLeaves": root_leaf_vectors(rng),
        "ghostRoots": ghost_root_vectors(rng),
        "trees": tree_vectors(),
        "quantisation": quantisation_vectors(),
        "requantisation": requantisation_vectors(),
        "topK": top_k_vectors(),
        "exp2Table": EXP2_TABLE.tolist(),
        "exactLayers": exact_layer_vectors(),
        "ghost": ghost_vec,
        "response": response_vec,
    }


def main() -> None:
    OUT.write_text(json.dumps(build_vectors(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
