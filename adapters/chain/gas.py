"""Gas of every step a deployment lives through, measured on a real chain.

Used by scripts/gas_report.py (writes docs/gas.md) and tests/adapters/chain/test_gas.py (checks the
targets: register ≤ 150k, redeem ≤ 80k). Fresh accounts throughout, so the figures are
those a new prover and a new client pay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.protocol.challenge import ChallengeEvidence
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec
from ghostproof.protocol.hashing import leaf_hash
from ghostproof.protocol.merkle import process_multiproof, tree_depth
from ghostproof.protocol.response import LayerProof, Request, Response
from ghostproof.protocol.signing import sign_digest
from ghostproof.protocol.voucher import sign_voucher

from .challenge import submit_challenge
from .deployment import Deployment, DeployParams, deploy_all
from .escrow import deposit, redeem, request_withdrawal, voucher_for, withdraw
from .provider import Chain
from .registry import layer_root_gas, mint_credits, register_model, rotate_root
from .tx import estimate, send_eth, transact

CHALLENGE_STEP = "challenge, d=256, N=10^6, k=32 (slash)"
TARGETS = {"register (first model)": 150_000, "register": 150_000, "redeem (first)": 80_000,
           "redeem": 80_000, CHALLENGE_STEP: 150_000}


def _ghost(n_layers: int, tag: int) -> GhostFile:
    spec = LayerSpec(8, 8, 16, 2, 1.0, 0.01, 0.01)
    roots = tuple((bytes([tag, i, 1]) * 10 + b"KK", bytes([tag, i, 2]) * 10 + b"VV")
                  for i in range(n_layers))
    return GhostFile(GhostHeader(f"gas-{tag}", (spec,) * n_layers), roots)


def _fund(chain: Chain, owner: LocalAccount, to: str) -> None:
    send_eth(chain, owner, to, 10**18)


def challenge_case(
    d: int = 256, n: int = 10**6, k: int = 32, seed: int = 0
) -> tuple[GhostFile, Callable[[int, int, str, bytes], ChallengeEvidence]]:
    """A one-layer model of shape (d, N, k) committed only along one column's path, and a
    function (model id, chain id, registry, prover key) → evidence against a receipt that
    skipped that column: what the contract checks costs the same as for a real model of
    that shape (one column of d bytes, a path of ceil(log2 N) siblings, k selected)."""
    rng = np.random.default_rng(seed)
    column = int(rng.integers(n))
    values = rng.integers(-127, 128, d, dtype=np.int8)
    q = np.clip(values.astype(np.int32) + rng.integers(-3, 4, d), -127, 127).astype(np.int8)
    siblings = [rng.bytes(32) for _ in range(tree_depth(n))]
    spec = LayerSpec(d, 10, n, k, 1.0, 0.01, 0.01)
    key_root = process_multiproof(len(siblings), [column], [leaf_hash(0, 0, column, values)], siblings)
    ghost = GhostFile(GhostHeader("gas-challenge", (spec,)), ((key_root, rng.bytes(32)),))
    others = [int(j) for j in rng.choice(n, k + 1, replace=False) if j != column][:k]
    layer = LayerProof(q=q, tau=0, selected=tuple(sorted(others)), key_columns=np.zeros((k, d), np.int8),
                       value_rows=np.zeros((k, 10), np.int8), key_proof=(), value_proof=())

    def evidence(model_id: int, chain_id: int, registry: str, key: bytes) -> ChallengeEvidence:
        request = Request(model_id, rng.standard_normal(d).astype(np.float32), rng.bytes(32))
        unsigned = Response(request, ghost.ghost_root, chain_id, registry, (layer,), np.zeros(10, np.int64),
                            Account.from_key(key).address, bytes(65))
        signed = replace(unsigned, signature=sign_digest(unsigned.digest(), key))
        return ChallengeEvidence(signed, 0, column, values, tuple(siblings), ghost.open_layer_root(0, "K"))

    return ghost, evidence


def measure_challenge_gas(chain: Chain, dep: Deployment, owner: LocalAccount, stake: int) -> int:
    """Gas of a successful challenge (the slash included) at d = 256, N = 10^6, k = 32: a fresh
    prover registers :func:`challenge_case`'s model and signs a wrong receipt; a fresh,
    credit-less challenger sends the challenge (paying for its first credit balance)."""
    prover, challenger = Account.create(), Account.create()
    for acct in (prover, challenger):
        _fund(chain, owner, acct.address)
    mint_credits(chain, dep, owner, prover.address, stake)
    ghost, evidence = challenge_case()
    reg = register_model(chain, dep, prover, ghost.to_bytes(), ghost, price=1, margin=0, stake=stake)
    slash = submit_challenge(chain, dep, challenger, evidence(reg.model_id, chain.chain_id, dep.registry,
                                                              prover.key))
    return slash.gas_used


def measure_gas(chain: Chain, owner: LocalAccount, params: DeployParams | None = None) -> dict[str, int]:
    """Deploy afresh from ``owner`` (a funded account on a local chain) and run every step once."""
    params = params or DeployParams()
    dep, gas = deploy_all(chain, owner, params)
    prover, client = Account.create(), Account.create()
    for acct in (prover, client):
        _fund(chain, owner, acct.address)
        mint_credits(chain, dep, owner, acct.address, 10 * params.min_stake)
    ghost3 = _ghost(3, 1)
    first = register_model(chain, dep, prover, ghost3.to_bytes(), ghost3, price=10**16, margin=0,
                           stake=params.min_stake)
    gas["register (first model)"] = first.gas_register
    ghost64 = _ghost(64, 2)
    second = register_model(chain, dep, prover, ghost64.to_bytes(), ghost64, price=10**16,
                            margin=0, stake=params.min_stake)
    gas["register"] = second.gas_register
    gas["approve (stake)"] = second.gas_approve
    gas["layer-root opening, 3 layers (view)"] = layer_root_gas(
        chain, dep, first.model_id, ghost3.open_layer_root(1, "V"))
    gas["layer-root opening, 64 layers (view)"] = layer_root_gas(
        chain, dep, second.model_id, ghost64.open_layer_root(63, "K"))
    from .deployment import contract

    registry = contract(chain, "GhostRegistry", dep.registry)
    gas["receiptDigest (view)"] = estimate(
        chain, registry.functions.receiptDigest(first.model_id, *[bytes([i]) * 32 for i in range(4)]))
    gas["layerSelectionHash, d=256, k=32 (view)"] = estimate(
        chain, registry.functions.layerSelectionHash(3, bytes(range(256)), -1, list(range(0, 224, 7))))
    payee = Account.create()  # a prover that holds no credits yet: its first redeem pays 22.1k more
    _fund(chain, owner, payee.address)

    gas["updatePrice"] = int(transact(chain, prover, registry.functions.updatePrice(
        first.model_id, 2 * 10**16), "updatePrice")["gasUsed"])
    gas["deposit"] = int(deposit(chain, dep, client, payee.address, 10**18)["gasUsed"])
    gas["deposit (top-up)"] = int(deposit(chain, dep, client, payee.address, 10**18)["gasUsed"])
    for label, amount in (("redeem (first)", 10**16), ("redeem", 2 * 10**16)):
        v = voucher_for(chain, dep, client.address, payee.address, amount)
        gas[label] = int(redeem(chain, dep, payee, v, sign_voucher(v, client.key))["gasUsed"])
    gas["requestWithdrawal"] = int(
        request_withdrawal(chain, dep, client, payee.address)["gasUsed"])
    chain.advance_time(params.withdrawal_delay_s + 1)
    gas["withdraw"] = int(withdraw(chain, dep, client, payee.address)["gasUsed"])
    ghost64b = GhostFile(GhostHeader("gas-2-v1", ghost64.header.layers), ghost64.roots)
    gas["rotateRoot (new version)"] = rotate_root(
        chain, dep, prover, second.model_id, ghost64b.to_bytes(), ghost64b, cid_for_bytes(b"proof")).gas_used
    gas["retire"] = int(transact(chain, prover, registry.functions.retire(first.model_id),
                                 "retire")["gasUsed"])
    gas[CHALLENGE_STEP] = measure_challenge_gas(chain, dep, owner, params.min_stake)
    return gas


def gas_table(columns: dict[str, dict[str, int]]) -> str:
    """A Markdown table, one row per step, one column per chain."""
    names = list(columns)
    steps = list(next(iter(columns.values())))
    lines = ["| step | " + " | ".join(names) + " | target |",
             "|---|" + "---:|" * len(names) + "---:|"]
    for step in steps:
        cells = " | ".join(f"{columns[n].get(step, 0):,}" for n in names)
        target = f"≤ {TARGETS[step]:,}" if step in TARGETS else ""
        lines.append(f"| {step} | {cells} | {target} |")
    return "\n".join(lines) + "\n"
