"""A node whose selection its registered margin does not cover refuses the query: 503
UnsafeSelectionError, and the voucher is not consumed (DESIGN §6, docs/SAFETY.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester
from ghostproof.adapters.chain.deployment import deploy_all
from ghostproof.adapters.chain.provider import embedded_chain
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost_bytes
from ghostproof.prover.index import ExactRetriever
from ghostproof.prover.node.boot import NodeThread, open_node
from ghostproof.prover.node.config import NodeConfig

from .conftest import PRICE, Node, build_model_dir

MARGIN = 1


class Shallow:
    """The exact top-k and nothing below it: candidates that reach 0 below τ."""

    def __init__(self, keys: np.ndarray, k: int):
        self._exact = ExactRetriever(keys)
        self.dim = self._exact.dim
        self.k = k

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._exact.search(q, self.k)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node for a model registered with selection margin MARGIN (> 0)."""
    tmp: Path = tmp_path_factory.mktemp("refusal")
    chain = embedded_chain()
    owner, prover = dev_account(chain, 0), dev_account(chain, 1)
    fund_from_tester(chain, owner.address, 10**22)
    fund_from_tester(chain, prover.address, 10**20)
    dep, _ = deploy_all(chain, owner)
    model_dir = build_model_dir(tmp / "model")
    stake = int(dep.params["minStake"])
    mint_credits(chain, dep, owner, prover.address, stake)
    ghost_bytes, ghost = read_ghost_bytes(model_dir / GHOST_FILE)
    model_id = register_model(chain, dep, prover, ghost_bytes, ghost, price=PRICE, margin=MARGIN,
                              stake=stake).model_id
    service = open_node(model_dir, model_id, chain, dep, prover, NodeConfig(watch_every=0.2),
                        tmp / "node.sqlite", exact=True)
    n = Node(chain, dep, owner, prover, model_id, model_dir, service, NodeThread(service))
    try:
        yield n
    finally:
        n.server.stop()


def test_node_passes_the_registered_margin(node: Node) -> None:
    assert node.service.prover.selection_margin == MARGIN == node.service.registered.margin


def test_refused_query_is_503_and_not_charged(node: Node) -> None:
    prover = node.service.prover
    honest = prover.retrievers
    client = node.client()
    prover.retrievers = [Shallow(layer.keys, layer.spec.k) for layer in prover.model.layers]
    try:
        r = client.pay()
    finally:
        prover.retrievers = honest
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "UnsafeSelectionError" and "\n" not in r.json()["message"]
    assert client.accepted == 0
    # The same cumulative amount pays for the next query: the refused voucher was not recorded
    # (had it been, this one would be stale: 402 with the last accepted amount).
    r = client.pay()
    assert r.status_code == 200, r.text
    assert client.accepted == PRICE
