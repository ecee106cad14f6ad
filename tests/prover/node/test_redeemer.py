"""Redemption on the embedded chain: reconciling with the chain (what is already redeemed is
not sent again), a closed epoch, and the redeem a graceful stop makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostproof.adapters.chain.escrow import channel, redeem, request_withdrawal, withdraw
from ghostproof.protocol.voucher import Voucher
from ghostproof.prover.node.config import NodeConfig

from .conftest import PRICE, Node, start_embedded_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):
    n = start_embedded_node(tmp_path_factory.mktemp("redeem"), NodeConfig(watch_every=3600))
    yield n
    n.server.stop()


def _state(node: Node, client: str):
    with node.service.view.lock:
        return channel(node.chain, node.deployment, client, node.prover.address)


def test_already_redeemed_on_chain_is_not_sent_again(node: Node):
    client = node.client()
    for _ in range(2):
        assert client.pay().status_code == 200
    (latest,) = node.service.ledger.unredeemed(client.account.address)
    voucher = Voucher(latest.client, node.prover.address, 0, latest.amount, node.chain.chain_id,
                      node.deployment.escrow)
    with node.service.view.lock:  # redeemed behind the node's back (as a killed node would have)
        redeem(node.chain, node.deployment, node.prover, voucher, latest.signature)
    assert node.service.redeemer.redeem_all() == 0
    assert node.service.ledger.unredeemed(client.account.address) == []
    assert _state(node, client.account.address).redeemed == 2 * PRICE


def test_closed_epoch_is_recorded(node: Node):
    client = node.client()
    assert client.pay().status_code == 200
    with node.service.view.lock:
        request_withdrawal(node.chain, node.deployment, client.account, node.prover.address)
        node.chain.advance_time(int(node.deployment.params["withdrawalDelay"]) + 1)
        withdraw(node.chain, node.deployment, client.account, node.prover.address)
    assert node.service.redeemer.redeem_all() == 0
    assert node.service.ledger.unredeemed(client.account.address) == []


def test_graceful_stop_redeems(tmp_path: Path):
    n = start_embedded_node(tmp_path, NodeConfig(watch_every=3600))
    client = n.client()
    for _ in range(3):
        assert client.pay().status_code == 200
    assert _state(n, client.account.address).redeemed == 0
    n.server.stop()
    assert _state(n, client.account.address).redeemed == 3 * PRICE
