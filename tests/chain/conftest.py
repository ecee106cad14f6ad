"""Fixtures for the contract and chain-adapter tests: one deployment per chain kind
(the embedded eth-tester EVM and a real Anvil node), shared by the session; tests make
fresh accounts, models and channels so they stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester
from ghostproof.adapters.chain.anvil import Anvil
from ghostproof.adapters.chain.deployment import ONE_CREDIT, Deployment, DeployParams, contract, deploy_all
from ghostproof.adapters.chain.provider import Chain, connect, embedded_chain
from ghostproof.adapters.chain.registry import mint_credits
from ghostproof.adapters.chain.tx import fee_params, transact
from ghostproof.protocol.errors import TransactionRevertedError
from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec

PARAMS = DeployParams(
    credits_per_wei=1000,
    min_stake=100 * ONE_CREDIT,
    unbonding_period_s=7 * 24 * 3600,
    withdrawal_delay_s=24 * 3600,
)
CHAIN_KINDS = ["embedded", "anvil"]


@dataclass
class Env:
    """A chain with the contracts deployed by dev account 0 (the credit owner)."""

    kind: str
    chain: Chain
    deployment: Deployment
    owner: LocalAccount
    deploy_gas: dict[str, int]

    def contract(self, name: str) -> Any:
        """The deployed contract ``name``."""
        address = {
            "GhostCredit": self.deployment.credit,
            "GhostRegistry": self.deployment.registry,
            "CreditEscrow": self.deployment.escrow,
        }[name]
        return contract(self.chain, name, address)

    def new_account(self, credits: int = 0, eth: int = 10**18) -> LocalAccount:
        """A fresh account holding ``eth`` wei and ``credits`` credit units."""
        acct = Account.create()
        if eth:
            self.send_eth(acct.address, eth)
        if credits:
            mint_credits(self.chain, self.deployment, self.owner, acct.address, credits)
        return acct

    def send_eth(self, to: str, wei: int) -> None:
        """Send ``wei`` from the owner."""
        w3 = self.chain.w3
        tx = {
            "to": to,
            "value": wei,
            "gas": 21_000,
            "nonce": w3.eth.get_transaction_count(self.owner.address, "pending"),
            **fee_params(self.chain),
            "chainId": self.chain.chain_id,
        }
        signed = self.owner.sign_transaction(tx)
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))

    def send(self, account: LocalAccount, fn: Any, value: int = 0) -> Any:
        """Transact ``fn`` from ``account``; return the receipt."""
        return transact(self.chain, account, fn, getattr(fn, "fn_name", "tx"), value=value)

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])


def make_env(kind: str, chain: Chain) -> Env:
    """Deploy everything on ``chain`` from dev account 0."""
    owner = dev_account(chain, 0)
    if chain.is_embedded:
        fund_from_tester(chain, owner.address, 10**23)
    deployment, gas = deploy_all(chain, owner, PARAMS)
    return Env(kind, chain, deployment, owner, gas)


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    """A real Anvil node on a free port, killed at the end of the session."""
    node = Anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def embedded_env() -> Env:
    """The contracts on the embedded chain."""
    return make_env("embedded", embedded_chain())


@pytest.fixture(scope="session")
def anvil_env(anvil_node: Anvil) -> Env:
    """The contracts on Anvil."""
    return make_env("anvil", connect(anvil_node.url))


@pytest.fixture(params=CHAIN_KINDS)
def env(request: pytest.FixtureRequest) -> Env:
    """Each contract test runs on both chains."""
    return request.getfixturevalue(f"{request.param}_env")


@contextmanager
def reverts(error: str, *args: object) -> Iterator[None]:
    """Expect a TransactionRevertedError with custom error ``error`` (and ``args`` if given)."""
    with pytest.raises(TransactionRevertedError) as info:
        yield
    assert info.value.error == error, str(info.value)
    if args:
        assert tuple(info.value.error_args) == args, str(info.value)


def make_ghost(n_layers: int, seed: int = 0) -> GhostFile:
    """A ghost file with ``n_layers`` small layers and pseudo-random roots (deterministic)."""
    import random

    rng = random.Random(seed)
    spec = LayerSpec(8, 8, 16, 2, 1.0, 0.01, 0.01)
    roots = tuple((rng.randbytes(32), rng.randbytes(32)) for _ in range(n_layers))
    return GhostFile(GhostHeader(f"test-{n_layers}-{seed}", (spec,) * n_layers), roots)


def event_args(contract_obj: Any, event: str, receipt: Any) -> dict[str, Any]:
    """The args of the one ``event`` in ``receipt``."""
    from web3.logs import DISCARD

    logs = getattr(contract_obj.events, event)().process_receipt(receipt, errors=DISCARD)
    assert len(logs) == 1, f"expected one {event}, got {len(logs)}"
    return dict(logs[0]["args"])
