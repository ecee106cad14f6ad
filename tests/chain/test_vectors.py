"""tests/vectors/chain.json, checked in Python and in the EVM on both chains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.ghost import LayerRootOpening
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.voucher import Voucher, recover_voucher_signer

from .conftest import Env, make_ghost, reverts

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "chain.json").read_text(encoding="utf-8")
)


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

    from .conftest import PARAMS

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
