"""Wallet.client's ``transport``: the httpx transport its node connection goes through (what
sits on the wire: ``ghostproof demo`` alters an answer in transit with one)."""

from __future__ import annotations

from pathlib import Path

import httpx
from web3 import Web3

from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.verifier.wallet import Wallet

from .conftest import PASSWORD

ZERO = "0x0000000000000000000000000000000000000000"


def test_client_sends_through_the_given_transport(tmp_path: Path) -> None:
    seen: list[str] = []

    def node(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        return httpx.Response(200, content=b"ghost bytes")

    deployment = Deployment(chain_id=31337, credit=ZERO, registry=ZERO, escrow=ZERO, block=0, deployer=ZERO)
    with Wallet.create(tmp_path / "home", PASSWORD) as wallet:
        client = wallet.client("http://node.invalid:8600", chain=Chain(w3=Web3()), deployment=deployment,
                               transport=httpx.MockTransport(node))
        with client:
            assert client.node.ghost(7) == b"ghost bytes"
    assert seen == ["GET http://node.invalid:8600/v1/models/7/ghost"]
