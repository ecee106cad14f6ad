"""The wallet as a Python API: one object holding the key, the ledger and the wallet folder.

    wallet = Wallet.open(home, password)
    client = wallet.client("http://127.0.0.1:8000", rpc="http://127.0.0.1:8545", deployment=path)
    answer = client.query(model_id, x)   # verified, paid for, kept; or raises ProofError …

Used by scripts and by the ``wallet``, ``credits`` and ``query`` commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import PASSWORD_ENV
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.protocol.errors import AccountError

from .client import Client
from .credits import open_chain
from .home import WalletHome, create_keystore, import_keystore, unlock
from .ledger import Ledger
from .node import NodeHttp

if TYPE_CHECKING:
    import httpx

    from ghostproof.adapters.chain.provider import Chain


class Wallet:
    """A signing account with its wallet folder and payment ledger."""

    def __init__(self, home: WalletHome, account: LocalAccount) -> None:
        """The wallet of ``account`` in the folder ``home`` (the ledger is opened there)."""
        self.home = home
        self.account = account
        home.folder(home.root)
        self.ledger = Ledger(home.ledger)

    @property
    def address(self) -> str:
        """The wallet's address."""
        return str(self.account.address)

    @classmethod
    def open(cls, home: Path | str | None = None, password: str | None = None) -> Wallet:
        """Unlock the wallet in ``home`` (default ``$GHOSTPROOF_HOME`` or ~/.ghostproof) with
        ``password`` (default ``$GHOSTPROOF_KEYSTORE_PASSWORD``); AccountError if there is
        none or the password is wrong."""
        where = WalletHome.at(home)
        secret = password if password is not None else os.environ.get(PASSWORD_ENV)
        if secret is None:
            raise AccountError(f"no password given (pass one, or set ${PASSWORD_ENV})")
        return cls(where, unlock(where, secret))

    @classmethod
    def create(cls, home: Path | str | None, password: str) -> Wallet:
        """A new wallet with a fresh key in ``home``; AccountError if one exists there."""
        where = WalletHome.at(home)
        create_keystore(where, password)
        return cls(where, unlock(where, password))

    @classmethod
    def import_key(cls, home: Path | str | None, private_key: str, password: str) -> Wallet:
        """A new wallet in ``home`` holding the hex ``private_key``."""
        where = WalletHome.at(home)
        import_keystore(where, private_key, password)
        return cls(where, unlock(where, password))

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()

    def __enter__(self) -> Wallet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(
        self,
        node_url: str,
        *,
        rpc: str | None = None,
        deployment: Path | str | Deployment | None = None,
        chain: Chain | None = None,
        binary: bool = False,
        trust_node_floor: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """A client of the node at ``node_url`` paying from this wallet. The chain is read at
        ``rpc`` (else the deployment file's RPC) with the deployment file ``deployment``
        (default ./deployment.json, else ~/.ghostproof/deployment.json); or pass a connected
        ``chain`` with its ``Deployment``. ``binary`` asks for the binary wire form;
        ``trust_node_floor`` see client.py; ``transport`` is the httpx transport to the node
        (default: httpx's own; a hook for what sits on the wire, as in ``ghostproof demo``)."""
        if chain is None or not isinstance(deployment, Deployment):
            path = Path(deployment) if isinstance(deployment, str | Path) else None
            chain, deployment = open_chain(rpc, path)
        node = NodeHttp(node_url, client_address=self.address, transport=transport)
        return Client(account=self.account, home=self.home, ledger=self.ledger, node=node,
                      chain=chain, deployment=deployment, binary=binary,
                      trust_node_floor=trust_node_floor)
