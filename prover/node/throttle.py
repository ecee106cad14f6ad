"""Bounded work: rate limits, one request at a time per channel, a capped proof queue.

Every bound answers OverloadError (HTTP 429 with ``Retry-After``) instead of letting a
request wait without limit:

- rate limits (``limits``, moving window, in memory) per client IP address, checked before
  anything else, and per payment channel, checked once the voucher's signer is known;
- one request at a time per channel (a second waits up to ``channel_wait`` seconds);
- at most ``max_proofs`` forward passes at once and ``max_queue`` requests waiting for one
  (each for up to ``queue_timeout`` seconds); a request beyond the queue is refused at once.

The asyncio primitives belong to the server's event loop. Used by the node's service.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ghostproof.protocol.errors import OverloadError

from .config import NodeConfig


class RateLimits:
    """Per-IP and per-channel request rates."""

    def __init__(self, per_ip: str, per_channel: str):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._ip = parse(per_ip)
        self._channel = parse(per_channel)

    def _hit(self, item, kind: str, key: str) -> None:
        if self._limiter.hit(item, kind, key):
            return
        reset = self._limiter.get_window_stats(item, kind, key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise OverloadError(f"rate limit of {item} per {kind} reached; retry in {wait} s", wait)

    def ip(self, address: str) -> None:
        """Count a request from ``address``; OverloadError over the per-IP rate."""
        self._hit(self._ip, "client address", address)

    def channel(self, client: str) -> None:
        """Count a paid request on ``client``'s channel; OverloadError over the per-channel rate."""
        self._hit(self._channel, "channel", client)


class ChannelLocks:
    """One request at a time per channel; the lock of an idle channel is dropped."""

    def __init__(self, wait: float):
        self.wait = wait
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, client: str) -> AsyncIterator[None]:
        """Hold ``client``'s channel; OverloadError after waiting ``wait`` seconds for it."""
        lock, users = self._locks.get(client, (asyncio.Lock(), 0))
        self._locks[client] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.wait)
            except TimeoutError:
                raise OverloadError(
                    f"channel of {client} is busy with another request", max(1, math.ceil(self.wait))
                ) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[client]
            if users == 1:
                del self._locks[client]
            else:
                self._locks[client] = (lock, users - 1)


class ProofSlots:
    """At most ``max_proofs`` forward passes at once, ``max_queue`` requests waiting."""

    def __init__(self, config: NodeConfig):
        self._slots = asyncio.Semaphore(config.max_proofs)
        self.max_queue = config.max_queue
        self.timeout = config.queue_timeout
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A forward-pass slot; OverloadError when the queue is full or the wait too long."""
        if self._slots.locked() and self.waiting >= self.max_queue:
            raise OverloadError(f"{self.waiting} requests already wait for a proof", 1)
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except TimeoutError:
            raise OverloadError("no proof slot came free in time", max(1, math.ceil(self.timeout))) from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
