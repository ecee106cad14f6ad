"""Fixtures for the node tests: a small model registered on a chain, a node serving it over
real HTTP on 127.0.0.1 (boot.NodeThread: uvicorn in a thread, in-process, on the embedded
chain), and a minimal paying client written here with protocol/voucher.py and
protocol/payment.py (the real client is the wallet's).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester
from ghostproof.adapters.chain.deployment import ONE_CREDIT, Deployment, deploy_all
from ghostproof.adapters.chain.escrow import deposit
from ghostproof.adapters.chain.provider import Chain, embedded_chain
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.adapters.chain.tx import send_eth
from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost_bytes
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    Payment,
    Terms,
    decode_payment_required,
)
from ghostproof.protocol.request import request_to_json
from ghostproof.protocol.response import Request
from ghostproof.protocol.voucher import Voucher, sign_voucher
from ghostproof.prover.modeldir import write_model_dir
from ghostproof.prover.node.boot import NodeThread, open_node
from ghostproof.prover.node.config import NodeConfig
from ghostproof.prover.node.service import NodeService
from ghostproof.prover.presets import synthetic_model

PRICE = 10
DEPOSIT = 1000
D_IN = 16


def build_model_dir(path: Path, seed: int = 0) -> Path:
    """A small two-layer model directory (n=200, d=16, k=4), no HNSW index (exact search)."""
    fm = synthetic_model(n=200, d=D_IN, layers=2, k=4, seed=seed, kind="uniform")
    write_model_dir(path, fm, order=False, index=False)
    return path


def register(chain: Chain, dep: Deployment, owner: LocalAccount, prover: LocalAccount,
             model_dir: Path, price: int = PRICE) -> int:
    """Register ``model_dir`` with ``prover`` (given the minimum stake); its model id."""
    stake = int(dep.params["minStake"])
    mint_credits(chain, dep, owner, prover.address, stake)
    ghost_bytes, ghost = read_ghost_bytes(model_dir / GHOST_FILE)
    return register_model(chain, dep, prover, ghost_bytes, ghost, price=price, margin=0,
                          stake=stake).model_id


def random_input(rng: np.random.Generator) -> np.ndarray:
    """A usable float32 query vector."""
    return rng.standard_normal(D_IN).astype(np.float32)


@dataclass
class PayingClient:
    """A client of one node: signs cumulative vouchers on its channel, one per query."""

    url: str
    account: LocalAccount
    terms: Terms | None = None
    accepted: int = 0
    last: tuple[Request, dict[str, str]] | None = field(default=None, repr=False)

    def model_url(self, model_id: int) -> str:
        return f"{self.url}/v1/models/{model_id}/query"

    def fetch_terms(self, model_id: int) -> Terms:
        """The node's terms, from the 402 to an unpaid request naming this client."""
        req = Request(model_id, np.ones(D_IN, np.float32), bytes(32))
        r = httpx.post(self.model_url(model_id), json=request_to_json(req),
                       headers={"X-GHOSTPROOF-CLIENT": self.account.address}, timeout=30)
        assert r.status_code == 402, r.text
        self.terms, _ = decode_payment_required(r.headers[PAYMENT_REQUIRED_HEADER])
        return self.terms

    def payment(self, request: Request, amount: int, *, key: bytes | None = None,
                terms: Terms | None = None, voucher: Voucher | None = None) -> str:
        """The PAYMENT-SIGNATURE header for ``request`` with a voucher for ``amount``."""
        t = terms or self.terms
        assert t is not None
        v = voucher or Voucher(self.account.address, t.prover, t.epoch, amount, t.chain_id, t.escrow)
        sig = sign_voucher(v, key or self.account.key)
        return Payment(t, v, sig, request.hash).to_header()

    def request(self, x: np.ndarray | None = None, nonce: bytes | None = None) -> Request:
        assert self.terms is not None
        x = x if x is not None else np.random.default_rng().standard_normal(D_IN).astype(np.float32)
        return Request(self.terms.model_id, x, nonce or secrets.token_bytes(32))

    def post(self, request: Request, headers: dict[str, str], *, binary: bool = False) -> httpx.Response:
        body = {"json": request_to_json(request)}
        if binary:
            from ghostproof.protocol.request import encode_request

            body = {"content": encode_request(request)}
            headers = {**headers, "Content-Type": "application/octet-stream",
                       "Accept": "application/octet-stream"}
        return httpx.post(self.model_url(request.model_id), headers=headers, timeout=30, **body)

    def pay(self, request: Request | None = None, *, binary: bool = False) -> httpx.Response:
        """One paid query at the next cumulative amount (kept for a retry in ``last``)."""
        assert self.terms is not None
        request = request or self.request()
        headers = {PAYMENT_SIGNATURE_HEADER: self.payment(request, self.accepted + self.terms.price)}
        self.last = (request, headers)
        r = self.post(request, headers, binary=binary)
        if r.status_code == 200:
            self.accepted += self.terms.price
        return r


@dataclass
class Node:
    """A node on the embedded chain, and what a test needs around it."""

    chain: Chain
    deployment: Deployment
    owner: LocalAccount
    prover: LocalAccount
    model_id: int
    model_dir: Path
    service: NodeService
    server: NodeThread

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, credits: int = DEPOSIT) -> PayingClient:
        """A fresh client with ``credits`` deposited in its channel to the prover."""
        acct = Account.create()
        with self.service.view.lock:
            send_eth(self.chain, self.owner, acct.address, 10**18)
            mint_credits(self.chain, self.deployment, self.owner, acct.address, credits)
            deposit(self.chain, self.deployment, acct, self.prover.address, credits)
        c = PayingClient(self.url, acct)
        c.fetch_terms(self.model_id)
        return c


def start_embedded_node(tmp: Path, config: NodeConfig) -> Node:
    """Deploy on a fresh embedded chain, register a small model, start its node."""
    chain = embedded_chain()
    owner = dev_account(chain, 0)
    prover = dev_account(chain, 1)
    fund_from_tester(chain, owner.address, 10**22)
    fund_from_tester(chain, prover.address, 10**20)
    dep, _ = deploy_all(chain, owner)
    model_dir = build_model_dir(tmp / "model")
    model_id = register(chain, dep, owner, prover, model_dir)
    service = open_node(model_dir, model_id, chain, dep, prover, config, tmp / "node.sqlite", exact=True)
    return Node(chain, dep, owner, prover, model_id, model_dir, service, NodeThread(service))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node per test module on its own embedded chain, stopped (and redeemed) at the end."""
    n = start_embedded_node(tmp_path_factory.mktemp("node"), NodeConfig(watch_every=0.2))
    try:
        yield n
    finally:
        n.server.stop()


__all__ = ["DEPOSIT", "ONE_CREDIT", "PRICE", "Node", "PayingClient", "random_input"]
