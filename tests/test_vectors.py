"""tests/vectors/core.json: every vector recomputed with the current code.

The file is the contract between the prover, the verifier and (later) the Solidity code:
any difference here means one side changed the bytes. Regenerate deliberately with
``.venv/bin/python scripts/make_vectors.py`` and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.ghost import parse_ghost
from ghostproof.protocol.hashing import from_hex, ghost_root, leaf_hash, node_hash, root_leaf_hash, to_hex
from ghostproof.protocol.layer import (
    EXP2_TABLE,
    int_scores,
    layer_forward,
    quantise_query,
    requantise,
    softmax_numerators,
    top_k,
)
from ghostproof.protocol.merkle import build_tree, multiproof, process_multiproof
from ghostproof.protocol.response_json import response_from_json
from ghostproof.verifier.verify import verify
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "core.json").read_text(encoding="utf-8"))


def _h(text: str) -> bytes:
    return from_hex(text, "vector", 32)


def _load_script():
    return load_script("make_vectors")


@pytest.mark.parametrize("case", VECTORS["leaves"], ids=lambda c: f"{c['layer']}-{c['matrix']}-{c['column']}")
def test_leaf_hash(case):
    data = from_hex(case["data"], "data")
    assert to_hex(leaf_hash(case["layer"], case["matrix"], case["column"], data)) == case["hash"]


@pytest.mark.parametrize("case", VECTORS["nodes"])
def test_node_hash(case):
    assert to_hex(node_hash(_h(case["left"]), _h(case["right"]))) == case["hash"]


@pytest.mark.parametrize("case", VECTORS["rootLeaves"])
def test_root_leaf_hash(case):
    assert to_hex(root_leaf_hash(case["layer"], case["matrix"], _h(case["root"]))) == case["hash"]


@pytest.mark.parametrize("case", VECTORS["ghostRoots"])
def test_ghost_root(case):
    assert to_hex(ghost_root(_h(case["headerHash"]), _h(case["layersRoot"]))) == case["ghostRoot"]


@pytest.mark.parametrize("case", VECTORS["trees"], ids=lambda c: f"n{len(c['leaves'])}")
def test_tree_root(case):
    tree = build_tree([_h(x) for x in case["leaves"]])
    assert (tree.depth, to_hex(tree.root)) == (case["depth"], case["root"])


@pytest.mark.parametrize("case", VECTORS["trees"], ids=lambda c: f"n{len(c['leaves'])}")
def test_multiproofs_are_reproduced(case):
    tree = build_tree([_h(x) for x in case["leaves"]])
    for mp in case["multiproofs"]:
        assert [to_hex(h) for h in multiproof(tree, mp["positions"])] == mp["proof"]


@pytest.mark.parametrize("case", VECTORS["trees"], ids=lambda c: f"n{len(c['leaves'])}")
def test_multiproofs_verify(case):
    for mp in case["multiproofs"]:
        root = process_multiproof(
            case["depth"], mp["positions"], [_h(x) for x in mp["leaves"]], [_h(x) for x in mp["proof"]]
        )
        assert to_hex(root) == case["root"]


@pytest.mark.parametrize("case", VECTORS["quantisation"], ids=lambda c: str(c["input"][:2]))
def test_quantisation(case):
    assert quantise_query(np.array(case["input"], dtype=np.float64)).tolist() == case["q"]


@pytest.mark.parametrize("case", VECTORS["requantisation"], ids=lambda c: str(c["y"][:2]))
def test_requantisation(case):
    assert requantise(np.array(case["y"], dtype=np.int64)).tolist() == case["q"]


def test_exp2_table():
    assert EXP2_TABLE.tolist() == VECTORS["exp2Table"]


@pytest.mark.parametrize("case", VECTORS["exactLayers"], ids=lambda c: f"k{len(c['keyColumns'])}")
def test_exact_layer(case):
    q = np.array(case["q"], dtype=np.int8)
    result = layer_forward(
        q,
        np.array(case["keyColumns"], dtype=np.int8),
        np.array(case["valueRows"], dtype=np.int8),
        case["logitScale"],
    )
    assert result.scores.tolist() == case["scores"]
    assert result.tau == case["tau"]
    assert softmax_numerators(result.scores, case["logitScale"]).tolist() == case["numerators"]
    assert result.output.tolist() == case["output"]


@pytest.mark.parametrize("case", VECTORS["topK"], ids=lambda c: f"k{c['k']}")
def test_scores_and_top_k(case):
    q = np.array(case["q"], dtype=np.int8)
    scores = int_scores(q, np.array(case["columns"], dtype=np.int8))
    assert scores.tolist() == case["scores"]
    assert top_k(scores, case["k"]).tolist() == case["selected"]


def test_ghost_file_hashes():
    vec = VECTORS["ghost"]
    ghost = parse_ghost(vec["bytes"].encode())
    assert to_hex(ghost.header_hash) == vec["headerHash"]
    assert to_hex(ghost.layers_root) == vec["layersRoot"]
    assert to_hex(ghost.ghost_root) == vec["ghostRoot"]


def test_ghost_file_bytes_are_canonical():
    data = VECTORS["ghost"]["bytes"].encode()
    assert parse_ghost(data).to_bytes() == data


def test_response_verifies_to_expected_output():
    vec = VECTORS["response"]
    ghost = parse_ghost(VECTORS["ghost"]["bytes"].encode())
    response = response_from_json(vec["response"])
    result = verify(response, ghost, _h(vec["ghostRoot"]))
    assert result.output.tolist() == vec["output"]
    assert (result.top1, result.prover) == (vec["top1"], vec["prover"])


def test_response_digest():
    vec = VECTORS["response"]
    assert to_hex(response_from_json(vec["response"]).digest()) == vec["digest"]


def test_regenerated_vectors_match_file():
    """The script, rerun with the current code, writes the same bytes: every section,
    the proven response and its exact output included."""
    fresh = _load_script().build_vectors()
    for section in VECTORS:
        assert fresh[section] == VECTORS[section], section
