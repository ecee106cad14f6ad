"""Gas of availability attestations on a real Anvil node: registering an auditor (proof of
possession), and recording one aggregate for 1, 10 and 100 signers (every registered auditor
signing) and for 90 of 100 (10 non-signers). Prints a Markdown table (docs/ATTESTATIONS.md).

Run: `.venv/bin/python scripts/bench_attest.py` (needs the Anvil binary from `make install`).
The aggregate costs the same whoever signs: one hash-to-G1, two ecMul, a few ecAdd and one
2-pairing check; each non-signer adds its calldata, a key lookup and an ecAdd.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402

from ghostproof.adapters.chain import attestations as att  # noqa: E402
from ghostproof.adapters.chain.accounts import dev_account  # noqa: E402
from ghostproof.adapters.chain.anvil import Anvil  # noqa: E402
from ghostproof.adapters.chain.deployment import Deployment, deploy_all  # noqa: E402
from ghostproof.adapters.chain.provider import Chain, connect  # noqa: E402
from ghostproof.adapters.chain.registry import mint_credits, register_model  # noqa: E402
from ghostproof.adapters.chain.tx import send_eth  # noqa: E402
from ghostproof.protocol import bls  # noqa: E402
from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec  # noqa: E402

TARGET = 400_000


def _model(chain: Chain, dep: Deployment, owner: LocalAccount, tag: int) -> tuple[int, bytes]:
    spec = LayerSpec(8, 8, 16, 2, 1.0, 0.01, 0.01)
    ghost = GhostFile(GhostHeader(f"bench-attest-{tag}", (spec,)), ((bytes([tag]) * 32, b"\x01" * 32),))
    stake = int(dep.params["minStake"])
    mint_credits(chain, dep, owner, owner.address, stake)
    reg = register_model(chain, dep, owner, ghost.to_bytes(), ghost, price=1, margin=0, stake=stake)
    return reg.model_id, ghost.ghost_root


def _submit(chain: Chain, dep: Deployment, owner: LocalAccount, auditors: list[tuple[LocalAccount, int]],
            signing: int, tag: int) -> int:
    model_id, root = _model(chain, dep, owner, tag)
    epoch = att.current_epoch(chain, dep)
    message = bls.attestation_message(chain.chain_id, str(dep.attestations), dep.registry, model_id,
                                      root, epoch)
    signed = [
        bls.SignedAttestation(chain.chain_id, str(dep.attestations), dep.registry, model_id, root,
                              epoch, acct.address, bls.public_key_g1(sk), bls.public_key_g2(sk),
                              bls.sign(sk, message))
        for acct, sk in auditors[:signing]
    ]
    return att.submit_attestations(chain, dep, owner, signed).gas_used


def measure(chain: Chain, owner: LocalAccount) -> list[tuple[str, int, int, int]]:
    """Deploy afresh, register 100 auditors, and measure; rows (what, signers, auditors, gas)."""
    dep, _ = deploy_all(chain, owner)
    auditors: list[tuple[LocalAccount, int]] = []
    rows: list[tuple[str, int, int, int]] = []
    register_gas: list[int] = []

    def grow(n: int) -> None:
        while len(auditors) < n:
            acct = Account.create()
            send_eth(chain, owner, acct.address, 10**17)
            sk = bls.secret_key_from_seed(len(auditors).to_bytes(32, "big"))
            register_gas.append(int(att.register_auditor(chain, dep, acct, sk)["gasUsed"]))
            auditors.append((acct, sk))

    for tag, (n, signing) in enumerate(((1, 1), (10, 10), (100, 100), (100, 90)), start=1):
        grow(n)
        gas = _submit(chain, dep, owner, auditors, signing, tag)
        rows.append((f"submitAttestation, {signing} of {n} signing", signing, n, gas))
    rows.insert(0, ("register (first auditor)", 1, 1, register_gas[0]))
    rows.insert(1, ("register (later auditors, mean)", 1, len(register_gas),
                    sum(register_gas[1:]) // (len(register_gas) - 1)))
    return rows


def table(rows: list[tuple[str, int, int, int]]) -> str:
    """The Markdown table."""
    lines = ["| step | signers | registered auditors | gas |", "|---|---:|---:|---:|"]
    lines += [f"| {what} | {s if what.startswith('submit') else '–'} | {n} | {gas:,} |"
              for what, s, n, gas in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure on a fresh Anvil node and print the table; exit 1 if 100 signers pass the target."""
    with Anvil() as node:
        chain = connect(node.url)
        rows = measure(chain, dev_account(chain, 0))
    print(table(rows), end="")
    worst = max(gas for what, s, n, gas in rows if what.startswith("submit") and n == 100)
    print(f"\ntarget: an aggregate of 100 signers ≤ {TARGET:,} gas; worst measured {worst:,}")
    if worst > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
