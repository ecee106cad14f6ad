"""Batching in the node (issue 14, prover/node/batcher.py) over real HTTP on the embedded chain:
concurrent paid queries are proven in batches (``ghostproof_batch_size``), every answer
verifies and each channel is charged exactly once per answer; a bad query in a batch gets
its own 400 (not charged) while the others succeed; ``batch_max`` 1 proves each query alone,
as before batching. Plus the batcher's own policy, without a node."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, http_status
from ghostproof.protocol.ghost import parse_ghost
from ghostproof.protocol.payment import PAYMENT_RESPONSE_HEADER, Settlement
from ghostproof.protocol.response import Request
from ghostproof.protocol.response_json import loads_response
from ghostproof.prover.node.batcher import Batcher
from ghostproof.prover.node.config import NodeConfig
from ghostproof.verifier.verify import Expected, verify

from .conftest import D_IN, PRICE, Node, PayingClient, start_embedded_node


class Paused:
    """The node's prover, each forward pass (alone or a batch) after a pause, so that queries
    pile up behind the busy workers; records the size of every pass."""

    def __init__(self, prover, pause: float):
        self._prover, self._pause = prover, pause
        self.model, self.address = prover.model, prover.address
        self.sizes: list[int] = []
        self.batches: list[list[bool]] = []  # per batch: which inputs were all zeros
        self.started = 0  # passes begun

    def prove(self, x, nonce=None):
        self.started += 1
        time.sleep(self._pause)
        self.sizes.append(1)
        return self._prover.prove(x, nonce)

    def prove_batch(self, xs, nonces):
        self.started += 1
        time.sleep(self._pause)
        self.sizes.append(len(xs))
        self.batches.append([not np.any(x) for x in xs])
        return self._prover.prove_batch(xs, nonces)


@contextmanager
def _paused(node: Node, pause: float) -> Iterator[Paused]:
    real = node.service.prover
    node.service.prover = paused = Paused(real, pause)
    try:
        yield paused
    finally:
        node.service.prover = real


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node with ``batch_max`` 1: no batching."""
    n = start_embedded_node(tmp_path_factory.mktemp("single"), NodeConfig(watch_every=0.2, batch_max=1))
    try:
        yield n
    finally:
        n.server.stop()


def _batch_metric(node: Node) -> tuple[float, float]:
    """(count, sum) of ``ghostproof_batch_size``."""
    found = {}
    for line in httpx.get(f"{node.url}/metrics").text.splitlines():
        for part in ("count", "sum"):
            if line.startswith(f"ghostproof_batch_size_{part} "):
                found[part] = float(line.split()[1])
    return found["count"], found["sum"]


def _run_clients(clients: list[PayingClient], per_client: int,
                 inputs: dict[int, np.ndarray] | None = None) -> list[list[tuple[Request, httpx.Response]]]:
    """Every client sends ``per_client`` paid queries back to back, all clients at once."""
    barrier = threading.Barrier(len(clients))

    def run(i: int) -> list[tuple[Request, httpx.Response]]:
        client, out = clients[i], []
        barrier.wait()
        for _ in range(per_client):
            request = client.request((inputs or {}).get(i))
            out.append((request, client.pay(request)))
        return out

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, range(len(clients))))


def _check_charged_once(node: Node, client: PayingClient,
                        answers: list[tuple[Request, httpx.Response]]) -> None:
    """Every answer verifies; the i-th was paid i·price, once, and the ledger holds its digest."""
    ghost = parse_ghost(node.service.ghost_bytes)
    for i, (request, r) in enumerate(answers, start=1):
        assert r.status_code == 200, r.text
        response = loads_response(r.content)
        verify(response, ghost, ghost.ghost_root,
               Expected(model_id=node.model_id, chain_id=node.chain.chain_id,
                        verifying_contract=node.deployment.registry, prover=node.prover.address,
                        request=request))
        assert Settlement.from_header(r.headers[PAYMENT_RESPONSE_HEADER]).accepted == i * PRICE
        record = node.service.ledger.find(client.account.address, 0, i * PRICE)
        assert record is not None and record.receipt_digest == response.digest()
    assert client.accepted == len(answers) * PRICE
    assert node.service.ledger.last_accepted(client.account.address, 0).amount == len(answers) * PRICE


def test_concurrent_paid_queries_are_proven_in_batches(node: Node):
    assert node.service.batcher is not None and node.service.config.batch_max == 16
    clients = [node.client() for _ in range(8)]
    count0, sum0 = _batch_metric(node)
    with _paused(node, 0.15) as paused:
        results = _run_clients(clients, 3)
    for client, answers in zip(clients, results, strict=True):
        _check_charged_once(node, client, answers)
    count, total = _batch_metric(node)
    assert total - sum0 == sum(paused.sizes) == 24  # every query proven once
    assert count - count0 == len(paused.sizes)
    assert max(paused.sizes) > 1, paused.sizes


def test_bad_query_in_a_batch_gets_its_own_4xx(node: Node):
    clients = [node.client() for _ in range(6)]
    inputs = {5: np.zeros(D_IN, np.float32)}  # all zeros: refused by the prover, after payment
    with _paused(node, 1.0) as paused:
        with ThreadPoolExecutor(6) as pool:
            blockers = [pool.submit(c.pay) for c in clients[:2]]  # both workers busy …
            deadline = time.monotonic() + 10
            while paused.started < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            # … while the next four queue and form one batch
            rest = [pool.submit(c.pay, c.request(inputs.get(i))) for i, c in enumerate(clients[2:], 2)]
            replies = [f.result() for f in (*blockers, *rest)]
    bad_status = http_status(InputError("zero"))
    assert 400 <= bad_status < 500
    assert [r.status_code for r in replies] == [200] * 5 + [bad_status], [r.text for r in replies]
    assert replies[5].json()["error"] == InputError.__name__
    assert any(True in b and len(b) > 1 for b in paused.batches), paused.batches  # batched with others
    bad = clients[5]
    assert bad.accepted == 0 and node.service.ledger.last_accepted(bad.account.address, 0) is None
    assert bad.pay().status_code == 200 and bad.accepted == PRICE  # the same amount pays again


def test_batch_max_1_proves_each_query_alone(single: Node):
    service = single.service
    assert service.batcher is None and service.config.proof_slots == service.config.max_proofs
    clients = [single.client() for _ in range(6)]
    with _paused(single, 0.05) as paused:
        results = _run_clients(clients, 2)
    for client, answers in zip(clients, results, strict=True):
        _check_charged_once(single, client, answers)
    assert paused.sizes == [1] * 12 and paused.batches == []
    count, total = _batch_metric(single)
    assert count == total >= 12


# ---------------------------------------------------------------------------------- the batcher


def _echo(log: list[list[int]], pause: float = 0.05):
    def prove_batch(requests: list[int]) -> list[object]:
        log.append(list(requests))
        time.sleep(pause)
        return [InputError(f"bad {r}") if r < 0 else r * 10 for r in requests]
    return prove_batch


def test_batcher_first_at_once_then_what_queued():
    log: list[list[int]] = []
    sizes: list[int] = []

    async def main() -> list[object]:
        batcher = Batcher(_echo(log), max_size=3, workers=1, on_batch=sizes.append)
        first = asyncio.ensure_future(batcher.prove(1))
        await asyncio.sleep(0.01)  # the idle worker took it at once; the rest queue behind it
        calls = [batcher.prove(i) for i in (2, 3, -4, 5, 6)]
        return await asyncio.gather(first, *calls, return_exceptions=True)

    results = asyncio.run(main())
    assert log == [[1], [2, 3, -4], [5, 6]] and sizes == [1, 3, 2]
    assert results[:3] == [10, 20, 30] and results[4:] == [50, 60]
    assert isinstance(results[3], InputError) and str(results[3]) == "bad -4"


def test_batcher_wait_gathers_and_a_cancelled_caller_leaves():
    log: list[list[int]] = []

    async def main() -> list[object]:
        batcher = Batcher(_echo(log), max_size=8, workers=2, wait=0.05)
        first = asyncio.ensure_future(batcher.prove(1))
        gone = asyncio.ensure_future(batcher.prove(2))
        await asyncio.sleep(0)
        gone.cancel()
        later = asyncio.ensure_future(batcher.prove(3))
        return await asyncio.gather(first, later)

    assert asyncio.run(main()) == [10, 30]
    assert log == [[1, 3]]


def test_batcher_bug_fails_every_request_of_its_batch():
    async def main() -> list[object]:
        def broken(requests):
            raise RuntimeError("boom")
        batcher = Batcher(broken, max_size=4, workers=1)
        return await asyncio.gather(*(batcher.prove(i) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))
    with pytest.raises(ValueError):
        Batcher(list, max_size=0, workers=1)
