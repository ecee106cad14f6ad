"""Gas of every step a deployment lives through, measured on a real chain.

Used by scripts/gas_report.py (writes docs/gas.md) and tests/adapters/chain/test_gas.py (checks the
targets: register ≤ 150k, redeem ≤ 80k). Fresh accounts throughout, so the figures are
those a new prover and a new client pay.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec
from ghostproof.protocol.voucher import sign_voucher

from .deployment import DeployParams, deploy_all
from .escrow import deposit, redeem, request_withdrawal, voucher_for, withdraw
from .provider import Chain
from .registry import layer_root_gas, mint_credits, register_model
from .tx import estimate, send_eth, transact

TARGETS = {"register (first model)": 150_000, "register": 150_000, "redeem (first)": 80_000,
           "redeem": 80_000}


def _ghost(n_layers: int, tag: int) -> GhostFile:
    spec = LayerSpec(8, 8, 16, 2, 1.0, 0.01, 0.01)
    roots = tuple((bytes([tag, i, 1]) * 10 + b"KK", bytes([tag, i, 2]) * 10 + b"VV")
                  for i in range(n_layers))
    return GhostFile(GhostHeader(f"gas-{tag}", (spec,) * n_layers), roots)


def _fund(chain: Chain, owner: LocalAccount, to: str) -> None:
    send_eth(chain, owner, to, 10**18)


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
    gas["retire"] = int(transact(chain, prover, registry.functions.retire(first.model_id),
                                 "retire")["gasUsed"])
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
