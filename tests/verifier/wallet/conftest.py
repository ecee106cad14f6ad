"""Fixtures of the wallet tests: a real Anvil node with the contracts deployed, one small
model registered on it (its prover key in the model directory), a stand-in prover node
(standin.py) serving it over real HTTP on 127.0.0.1, and fresh wallets funded with ETH and
credits, each in its own wallet folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import PASSWORD_ENV
from ghostproof.adapters.chain.anvil import Anvil
from ghostproof.adapters.chain.deployment import ONE_CREDIT
from ghostproof.adapters.chain.provider import connect
from ghostproof.adapters.chain.registry import mint_credits
from ghostproof.prover.modeldir import ModelDir, make_prover
from ghostproof.verifier.wallet import Wallet
from ghostproof.verifier.wallet.credits import deposit
from tests.fixtures.chain import Env, make_env, small_model_on

from .standin import Server, StandIn, make_app

PASSWORD = "correct horse battery staple"
PRICE = ONE_CREDIT // 1000  # 0.001 credit per query


@dataclass
class World:
    """Anvil with the contracts, a deployment file, and the registered model."""

    env: Env
    deployment: Path
    md: ModelDir
    prover: LocalAccount
    model_id: int

    @property
    def rpc(self) -> str:
        return str(self.env.chain.rpc_url)

    def chain_args(self) -> list[str]:
        """``--rpc URL --deployment FILE``."""
        return ["--rpc", self.rpc, "--deployment", str(self.deployment)]


@pytest.fixture(scope="session")
def wallet_anvil() -> Iterator[Anvil]:
    """The wallet tests' own Anvil node (apart from the contract tests' ``anvil_node``)."""
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def world(wallet_anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> World:
    env = make_env("anvil", connect(wallet_anvil.url))
    base = tmp_path_factory.mktemp("wallet-world")
    deployment, md, prover = small_model_on(env, base)
    return World(env, deployment, md, prover, env.register(md.path, prover, price=PRICE))


@pytest.fixture
def standin(world: World) -> Iterator[tuple[StandIn, str]]:
    """A fresh stand-in node for the model: (its state and knobs, its URL)."""
    dep = world.env.deployment
    prover = make_prover(world.md, exact=True, model_id=world.model_id, chain_id=dep.chain_id,
                         verifying_contract=dep.registry, private_key=bytes(world.prover.key))
    node = StandIn(prover, world.env.chain, dep, world.model_id, PRICE,
                   (world.md.path / "ghost.json").read_bytes())
    server = Server(make_app(node))
    try:
        yield node, server.url
    finally:
        node.release.set()
        server.stop()


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


def funded_wallet(world: World, home: Path, *, credits: int = ONE_CREDIT, deposited: int = ONE_CREDIT // 100,
                  key: str | None = None) -> Wallet:
    """A new wallet in ``home`` (a fresh key, or ``key``) with 1 ETH, ``credits`` credit units,
    and ``deposited`` of them in its channel to the model's prover."""
    wallet = Wallet.import_key(home, key, PASSWORD) if key else Wallet.create(home, PASSWORD)
    env = world.env
    env.send_eth(wallet.address, 10**18)
    mint_credits(env.chain, env.deployment, env.owner, wallet.address, credits)
    if deposited:
        deposit(env.chain, env.deployment, wallet.account, world.prover.address, deposited)
    return wallet
