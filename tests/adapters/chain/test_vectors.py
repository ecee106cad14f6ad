"""tests/vectors/chain.json, checked in Python and in the EVM on both chains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.challenge import exact_scores
from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.ghost import LayerRootOpening
from ghostproof.protocol.hashing import from_hex, keccak256, leaf_hash
from ghostproof.protocol.merkle import process_multiproof
from ghostproof.protocol.receipt import (
    layer_selection_hash,
    receipt_digest,
    receipt_domain,
    receipt_struct_hash,
    recover_signer,
)
from ghostproof.protocol.voucher import Voucher, recover_voucher_signer
from tests.fixtures.chain import Env, make_ghost, reverts
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "chain.json").read_text(encoding="utf-8"))


def _opening(case: dict) -> LayerRootOpening:
    return LayerRootOpening(
        layer=case["layer"],
        matrix=case["matrix"],
        root=from_hex(case["root"], "root", 32),
        header_hash=from_hex(case["headerHash"], "headerHash", 32),
        n_layers=case["nLayers"],
        proof=tuple(from_hex(p, "proof", 32) for p in case["proof"]),
    )


def _evm_args(case: dict) -> tuple:
    return (
        case["layer"], MATRIX_TAGS[case["matrix"]], from_hex(case["root"], "root", 32),
        from_hex(case["headerHash"], "headerHash", 32), case["nLayers"],
        [from_hex(p, "proof", 32) for p in case["proof"]],
    )


def _case_id(case: dict) -> str:
    return f"L{case['nLayers']}-{case['layer']}{case['matrix']}"


@pytest.mark.parametrize("case", VECTORS["layerRoots"], ids=_case_id)
def test_layer_root_vector_python(case: dict) -> None:
    assert _opening(case).ghost_root() == from_hex(case["ghostRoot"], "ghostRoot", 32)


def test_layer_root_vectors_evm(env: Env) -> None:
    registry = env.contract("GhostRegistry")
    for case in VECTORS["layerRoots"]:
        got = registry.functions.processLayerRoot(*_evm_args(case)).call()
        assert bytes(got) == from_hex(case["ghostRoot"], "ghostRoot", 32), case


@pytest.mark.parametrize("case", VECTORS["vouchers"], ids=lambda c: c["digest"][:10])
def test_voucher_vector_python(case: dict) -> None:
    v = Voucher.from_json(case["voucher"])
    assert v.digest() == from_hex(case["digest"], "digest", 32)
    assert recover_voucher_signer(v, from_hex(case["signature"], "signature", 65)) == v.client


def test_voucher_vectors_evm(env: Env) -> None:
    escrow = env.contract("CreditEscrow")
    cases = [
        c for c in VECTORS["vouchers"]
        if c["voucher"]["chainId"] == env.chain.chain_id and c["voucher"]["escrow"] == escrow.address
    ]
    assert cases, "no voucher vector for this chain id and escrow address"
    for case in cases:
        v = case["voucher"]
        fn = escrow.functions.voucherDigest(
            v["client"], v["prover"], v["epoch"], int(v["cumulativeAmount"])
        )
        assert bytes(fn.call()) == from_hex(case["digest"], "digest", 32), case


def test_voucher_vectors_cover_epochs() -> None:
    """The vectors bind the channel epoch: later epochs and the uint64 maximum are covered."""
    epochs = {c["voucher"]["epoch"] for c in VECTORS["vouchers"]}
    assert {0, 1, (1 << 64) - 1} <= epochs


def test_invalid_voucher_vector_other_epoch() -> None:
    """Changing only the epoch changes the digest: a voucher signed for one epoch is not one
    for another."""
    case = next(c for c in VECTORS["vouchers"] if c["voucher"]["epoch"] == 1)
    v = Voucher.from_json(dict(case["voucher"], epoch=2))
    assert v.digest() != from_hex(case["digest"], "digest", 32)
    assert recover_voucher_signer(v, from_hex(case["signature"], "signature", 65)) != v.client


def test_layer_root_opening_verifies_against_anchored_model(env: Env) -> None:
    from ghostproof.adapters.chain.registry import register_model, verify_layer_root
    from tests.fixtures.chain import PARAMS

    ghost = make_ghost(5, seed=9)
    prover = env.new_account(credits=PARAMS.min_stake)
    reg = register_model(env.chain, env.deployment, prover, ghost.to_bytes(), ghost,
                         price=1, margin=0, stake=PARAMS.min_stake)
    for layer in range(5):
        for matrix in ("K", "V"):
            op = ghost.open_layer_root(layer, matrix)
            assert verify_layer_root(env.chain, env.deployment, reg.model_id, op)


def test_invalid_layer_root_wrong_root(env: Env) -> None:
    case = dict(VECTORS["layerRoots"][3], root="0x" + "ab" * 32)
    got = env.contract("GhostRegistry").functions.processLayerRoot(*_evm_args(case)).call()
    assert bytes(got) != from_hex(case["ghostRoot"], "ghostRoot", 32)


def _process(env: Env, case: dict) -> None:
    from ghostproof.adapters.chain.tx import call

    call(env.chain, env.contract("GhostRegistry").functions.processLayerRoot(*_evm_args(case)), "open")


def test_invalid_layer_root_short_proof(env: Env) -> None:
    case = next(c for c in VECTORS["layerRoots"] if c["nLayers"] == 64)
    with reverts("GhostHashBadProofLength", 6, 7):
        _process(env, dict(case, proof=case["proof"][:-1]))


def test_invalid_layer_root_layer_out_of_range(env: Env) -> None:
    case = next(c for c in VECTORS["layerRoots"] if c["nLayers"] == 3)
    with reverts("GhostHashLayerOutOfRange", 3, 3):
        _process(env, dict(case, layer=3))


def test_invalid_layer_root_bad_matrix(env: Env) -> None:
    case = VECTORS["layerRoots"][0]
    args = list(_evm_args(case))
    args[1] = 2
    from ghostproof.adapters.chain.tx import call

    with reverts("GhostHashBadMatrix", 2):
        call(env.chain, env.contract("GhostRegistry").functions.processLayerRoot(*args), "open")


@pytest.mark.parametrize("n_layers", [0, 65])
def test_invalid_layer_root_layer_count(env: Env, n_layers: int) -> None:
    case = VECTORS["layerRoots"][0]
    with reverts("GhostHashBadLayerCount", n_layers):
        _process(env, dict(case, nLayers=n_layers))


# ---------------------------------------------------------------- receipts (GhostRegistry)


def _receipt_fields(case: dict) -> dict[str, object]:
    return {
        "model_id": case["modelId"],
        "ghost_root": from_hex(case["ghostRoot"], "ghostRoot", 32),
        "request": from_hex(case["requestHash"], "requestHash", 32),
        "selection": from_hex(case["selectionHash"], "selectionHash", 32),
        "output": from_hex(case["outputHash"], "outputHash", 32),
    }


def _receipt_evm_args(case: dict) -> tuple:
    f = _receipt_fields(case)
    return (f["model_id"], f["ghost_root"], f["request"], f["selection"], f["output"])


def _receipt_id(case: dict) -> str:
    return f"chain{case['chainId']}-model{str(case['modelId'])[:8]}"


@pytest.mark.parametrize("case", VECTORS["receipts"], ids=_receipt_id)
def test_receipt_vector_python(case: dict) -> None:
    fields = _receipt_fields(case)
    domain = receipt_domain(case["chainId"], case["verifyingContract"])
    digest = receipt_digest(chain_id=case["chainId"], verifying_contract=case["verifyingContract"],
                            **fields)
    assert receipt_struct_hash(**fields) == from_hex(case["structHash"], "structHash", 32)
    assert domain.separator == from_hex(case["domainSeparator"], "domainSeparator", 32)
    assert digest == from_hex(case["digest"], "digest", 32)
    assert recover_signer(digest, from_hex(case["signature"], "signature", 65)) == case["signer"]


def test_receipt_vectors_cover_domains() -> None:
    """Offline (chain 0, zero address), both dev chains' registry, uint256-max model ids."""
    domains = {(c["chainId"], c["verifyingContract"]) for c in VECTORS["receipts"]}
    assert (0, "0x" + "00" * 20) in domains and len(domains) >= 3
    assert {0, (1 << 256) - 1} <= {c["modelId"] for c in VECTORS["receipts"]}


def test_receipt_domain_evm(env: Env) -> None:
    """The registry's ERC-5267 domain is ("ghostproof", "2", this chain, this registry)."""
    registry = env.contract("GhostRegistry")
    _, name, version, chain_id, contract, salt, extensions = registry.functions.eip712Domain().call()
    assert (name, version, chain_id, contract) == ("ghostproof", "2", env.chain.chain_id, registry.address)
    assert (bytes(salt), list(extensions)) == (bytes(32), [])
    expected = receipt_domain(env.chain.chain_id, registry.address).separator
    assert bytes(registry.functions.domainSeparator().call()) == expected


def test_receipt_vectors_evm(env: Env) -> None:
    """Every vector's digest on this chain's registry, where the vector names it."""
    registry = env.contract("GhostRegistry")
    cases = [
        c for c in VECTORS["receipts"]
        if c["chainId"] == env.chain.chain_id and c["verifyingContract"] == registry.address
    ]
    assert cases, "no receipt vector for this chain id and registry address"
    separator = bytes(registry.functions.domainSeparator().call())
    for case in cases:
        assert separator == from_hex(case["domainSeparator"], "domainSeparator", 32), case
        got = registry.functions.receiptDigest(*_receipt_evm_args(case)).call()
        assert bytes(got) == from_hex(case["digest"], "digest", 32), case


def test_receipt_struct_hashes_evm(env: Env) -> None:
    """Every vector's struct hash (other domains and the offline one included): the registry's
    digest is keccak256(0x1901 ‖ its own domain separator ‖ the vector's structHash)."""
    registry = env.contract("GhostRegistry")
    separator = bytes(registry.functions.domainSeparator().call())
    for case in VECTORS["receipts"]:
        struct_hash = from_hex(case["structHash"], "structHash", 32)
        got = registry.functions.receiptDigest(*_receipt_evm_args(case)).call()
        assert bytes(got) == keccak256(b"\x19\x01" + separator + struct_hash), case


def test_invalid_receipt_vector_other_model(env: Env) -> None:
    """Changing only the model id changes the on-chain digest."""
    registry = env.contract("GhostRegistry")
    case = next(c for c in VECTORS["receipts"]
                if c["chainId"] == env.chain.chain_id and c["modelId"] == 7)
    args = list(_receipt_evm_args(case))
    args[0] = 8
    got = registry.functions.receiptDigest(*args).call()
    assert bytes(got) != from_hex(case["digest"], "digest", 32)


# ---------------------------------------------------------------- layer selections


def _selection_args(case: dict) -> tuple:
    return (case["layer"], from_hex(case["q"], "q"), case["tau"], case["selected"])


def _selection_id(case: dict) -> str:
    return f"L{case['layer']}-k{len(case['selected'])}"


@pytest.mark.parametrize("case", VECTORS["layerSelections"], ids=_selection_id)
def test_layer_selection_vector_python(case: dict) -> None:
    layer, q, tau, selected = _selection_args(case)
    got = layer_selection_hash(layer, np.frombuffer(q, dtype=np.int8), tau, selected)
    assert got == from_hex(case["hash"], "hash", 32)


def test_layer_selection_vectors_cover_edges() -> None:
    """Negative and extreme τ, q bytes of −127 and 127, the uint16 and uint32 maxima, k = 1024."""
    cases = VECTORS["layerSelections"]
    q_bytes = b"".join(from_hex(c["q"], "q") for c in cases)
    assert {0x81, 0x7F} <= set(q_bytes)
    taus = {c["tau"] for c in cases}
    assert min(taus) == -(2**31 - 1) and max(taus) == 2**31 - 1 and -1 in taus
    assert max(c["layer"] for c in cases) == 2**16 - 1
    assert max(max(c["selected"]) for c in cases) == 2**32 - 1
    assert max(len(c["selected"]) for c in cases) == 1024


def test_layer_selection_vectors_evm(env: Env) -> None:
    registry = env.contract("GhostRegistry")
    for case in VECTORS["layerSelections"]:
        got = registry.functions.layerSelectionHash(*_selection_args(case)).call()
        assert bytes(got) == from_hex(case["hash"], "hash", 32), case["layer"]


@pytest.mark.parametrize("field, value", [("tau", 1), ("layer", 3), ("selected", [4])])
def test_invalid_layer_selection_one_field(env: Env, field: str, value: object) -> None:
    """Changing one field of the first vector (τ −1 → 1, layer 0 → 3, S [0] → [4]) changes
    the on-chain hash."""
    case = dict(VECTORS["layerSelections"][0], **{field: value})
    got = env.contract("GhostRegistry").functions.layerSelectionHash(*_selection_args(case)).call()
    assert bytes(got) != from_hex(case["hash"], "hash", 32)


@pytest.mark.parametrize("case", VECTORS["challengeScores"], ids=lambda c: f"d{len(c['q']) // 2 - 1}")
def test_challenge_score_vector_python(case: dict) -> None:
    q = np.frombuffer(from_hex(case["q"], "q"), dtype=np.int8)
    col = np.frombuffer(from_hex(case["column"], "column"), dtype=np.int8)
    assert int(exact_scores(col.reshape(1, -1), q)[0, 0]) == case["score"]
    assert int(q.astype(np.int64) @ col.astype(np.int64)) == case["score"]


def test_challenge_score_vectors_evm(env: Env) -> None:
    registry = env.contract("GhostRegistry")
    for case in VECTORS["challengeScores"]:
        q, column = from_hex(case["q"], "q"), from_hex(case["column"], "column")
        got = registry.functions.challengeScore(q, column).call()
        assert got == case["score"], case
    assert {c["score"] for c in VECTORS["challengeScores"]} >= {127 * 128 * 256, -127 * 128 * 256}


def _key_column_args(case: dict) -> tuple:
    return (case["layer"], case["column"], from_hex(case["values"], "values"),
            [from_hex(p, "path", 32) for p in case["path"]])


@pytest.mark.parametrize("case", VECTORS["keyColumns"], ids=lambda c: f"N{c['n']}-j{c['column']}")
def test_key_column_vector_python(case: dict) -> None:
    layer, column, values, path = _key_column_args(case)
    root = process_multiproof(len(path), [column], [leaf_hash(layer, 0, column, values)], path)
    assert root == from_hex(case["root"], "root", 32)


def test_key_column_vectors_evm(env: Env) -> None:
    registry = env.contract("GhostRegistry")
    for case in VECTORS["keyColumns"]:
        got = registry.functions.keyColumnRoot(*_key_column_args(case)).call()
        assert bytes(got) == from_hex(case["root"], "root", 32), case


@pytest.mark.parametrize("change", ["column", "values", "path-length", "layer"])
def test_invalid_key_column_one_field(env: Env, change: str) -> None:
    """One field of a vector changed: the EVM reproduces another root (zero for a path too
    short for the index)."""
    case = next(c for c in VECTORS["keyColumns"] if c["n"] == 33 and c["column"] == 32)
    layer, column, values, path = _key_column_args(case)
    args = {"column": (layer, column - 1, values, path),
            "values": (layer, column, values[::-1], path),
            "path-length": (layer, column, values, path[:-1]),
            "layer": (layer + 1, column, values, path)}[change]
    got = bytes(env.contract("GhostRegistry").functions.keyColumnRoot(*args).call())
    assert got != from_hex(case["root"], "root", 32)
    if change == "path-length":
        assert got == bytes(32)


def test_regenerated_chain_vectors_match_file() -> None:
    """scripts/make_chain_vectors.py, rerun with the current code, writes the same vectors."""
    fresh = load_script("make_chain_vectors").build_vectors()
    for section in VECTORS:
        assert fresh[section] == VECTORS[section], section
