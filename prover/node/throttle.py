"""Bounded work: rate limits, one request at a time per channel, a capped proof queue.

Every bound answers OverloadError (HTTP 429 with ``Retry-After``) instead of letting a
request wait without limit:

- rate limits per client IP address, checked before anything else, and per payment
  channel, checked once the voucher's signer is known: ``limits`` notation ("50/second"),
  enforced by a token bucket per key (GCRA: ``amount`` at once, then evenly spread over the
  period), in memory, at most ``max_keys`` keys (the least recently seen forgotten first).
  It starts no thread (``limits``' own MemoryStorage starts a timer thread every 10 ms of
  traffic to expire its windows: about one OS thread per query);
- one request at a time per channel (a second waits up to ``channel_wait`` seconds);
- at most ``max_proofs`` forward passes at once and ``max_queue`` requests waiting for one
  (each for up to ``queue_timeout`` seconds); a request beyond the queue is refused at once.

The asyncio primitives belong to the server's event loop. Used by the node's service.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from limits import parse

from ghostproof.protocol.errors import OverloadError

from .config import NodeConfig

#: Rate-limit keys (addresses, channels) remembered at once; the least recently seen go first.
MAX_RATE_KEYS = 100_000


class RateLimits:
    """Per-IP and per-channel request rates: a token bucket per key (GCRA), thread-free."""

    def __init__(self, per_ip: str, per_channel: str, max_keys: int = MAX_RATE_KEYS,
                 clock: Callable[[], float] = time.monotonic):
        self._ip = parse(per_ip)
        self._channel = parse(per_channel)
        self._max_keys = max_keys
        self._clock = clock
        self._due: OrderedDict[tuple[str, str], float] = OrderedDict()  # key → theoretical arrival
        self._lock = threading.Lock()

    def _hit(self, item, kind: str, key: str) -> None:
        """Count one request of ``key`` against ``item`` (``amount`` per period): each request
        moves the key's theoretical arrival time on by period/amount; a request is refused
        while that time is more than period − period/amount ahead of now."""
        period = float(item.get_expiry())
        interval = period / item.amount
        now = self._clock()
        with self._lock:
            due = max(self._due.get((kind, key), now), now)
            wait = due - (period - interval) - now
            if wait <= 0:
                self._due[(kind, key)] = due + interval
                self._due.move_to_end((kind, key))
                if len(self._due) > self._max_keys:
                    self._due.popitem(last=False)
                return
        seconds = max(1, math.ceil(round(wait, 3)))
        raise OverloadError(f"rate limit of {item} per {kind} reached; retry in {seconds} s", seconds)

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
