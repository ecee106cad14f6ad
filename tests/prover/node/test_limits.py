"""Bounded work: one request at a time per channel (a second waits, or gets 429 with
Retry-After), rate limits, a full proof queue; overload never hangs."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ghostproof.protocol.errors import OverloadError
from ghostproof.protocol.payment import PAYMENT_SIGNATURE_HEADER
from ghostproof.prover.node.throttle import RateLimits

from .conftest import PRICE, Node, PayingClient


class SlowProver:
    """The node's prover, made slow (a real proof after a pause), to hold a channel busy."""

    def __init__(self, prover, pause: float):
        self._prover, self._pause = prover, pause
        self.model, self.address = prover.model, prover.address

    def prove(self, x, nonce=None):
        time.sleep(self._pause)
        return self._prover.prove(x, nonce)


@pytest.fixture
def slow(node: Node):
    real = node.service.prover
    node.service.prover = SlowProver(real, 0.6)
    yield node
    node.service.prover = real
    node.service.locks.wait = node.service.config.channel_wait


def _two_on_one_channel(client: PayingClient) -> list[httpx.Response]:
    """Two clients sharing one channel (one key) send vouchers n+price and n+2·price at once."""
    first, second = client.request(), client.request()
    headers = [{PAYMENT_SIGNATURE_HEADER: client.payment(first, PRICE)},
               {PAYMENT_SIGNATURE_HEADER: client.payment(second, 2 * PRICE)}]
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(client.post, first, headers[0])
        time.sleep(0.2)  # the first holds the channel
        two = pool.submit(client.post, second, headers[1])
        return [one.result(), two.result()]


def test_second_request_on_a_busy_channel_waits(slow: Node):
    client = slow.client()
    one, two = _two_on_one_channel(client)
    assert (one.status_code, two.status_code) == (200, 200), two.text


def test_second_request_on_a_busy_channel_gets_429(slow: Node):
    slow.service.locks.wait = 0.1
    client = slow.client()
    started = time.monotonic()
    one, two = _two_on_one_channel(client)
    assert one.status_code == 200
    assert two.status_code == 429 and int(two.headers["Retry-After"]) >= 1
    assert two.json()["error"] == "OverloadError"
    assert time.monotonic() - started < 5


def test_full_proof_queue_answers_429_at_once(slow: Node):
    slots = slow.service.slots
    old = (slots.max_queue, slots._slots)
    slots.max_queue, slots._slots = 0, asyncio.Semaphore(1)
    try:
        clients = [slow.client() for _ in range(2)]
        requests = [c.request() for c in clients]
        headers = [{PAYMENT_SIGNATURE_HEADER: c.payment(r, PRICE)} for c, r in zip(clients, requests,
                                                                                   strict=True)]
        with ThreadPoolExecutor(2) as pool:
            one = pool.submit(clients[0].post, requests[0], headers[0])
            time.sleep(0.2)
            two = pool.submit(clients[1].post, requests[1], headers[1])
            results = [one.result(), two.result()]
    finally:
        slots.max_queue, slots._slots = old
    assert [r.status_code for r in results] == [200, 429]
    assert clients[1].pay(requests[1]).status_code == 200  # not charged: the voucher was not kept


def test_rate_limit_per_ip_answers_429_with_retry_after():
    limits = RateLimits("2/second", "100/second")
    limits.ip("1.2.3.4")
    limits.ip("1.2.3.4")
    limits.ip("5.6.7.8")
    with pytest.raises(OverloadError) as info:
        limits.ip("1.2.3.4")
    assert info.value.retry_after >= 1


def test_rate_limit_per_channel_over_http(node: Node):
    real = node.service.limits
    node.service.limits = RateLimits("1000/second", "2/minute")
    try:
        client = node.client()
        codes = [client.pay().status_code for _ in range(3)]
    finally:
        node.service.limits = real
    assert codes == [200, 200, 429]


def test_many_unpaid_requests_never_hang(node: Node):
    url = f"{node.url}/v1/models/{node.model_id}/query"
    body = {"modelId": node.model_id, "input": [1.0] * 16, "nonce": "0x" + "00" * 32}
    barrier = threading.Barrier(8)

    def hit(_: int) -> int:
        barrier.wait()
        return httpx.post(url, json=body, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(hit, range(8)))
    assert set(codes) <= {402, 429}
