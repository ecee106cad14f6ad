"""The node's view of the chain: channel states read through a bounded cache, the chain's
clock, and one lock around an in-process chain.

A channel (deposited, redeemed, withdrawableAt, epoch) is read from CreditEscrow at most
once per ``ttl`` seconds and at most ``size`` channels are kept (least recently used go
first); the redeemer and the withdrawal watcher drop an entry when they learn it changed.
The clock is the latest block's timestamp, advanced by the wall clock between reads, so
``withdrawableAt`` (a block time) is compared with the chain's own time. The embedded
eth-tester chain is not thread-safe: every call to it is made under :attr:`ChainView.lock`
(a no-op lock for a JSON-RPC node). Used by the payment gate and the redeemer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from ghostproof.adapters.chain import escrow
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.protocol.voucher import ChannelState


class ChainView:
    """The chain as the node reads it: cached channels to ``prover`` and the chain clock."""

    def __init__(self, chain: Chain, deployment: Deployment, prover: str, *, ttl: float,
                 size: int, wall: Callable[[], float] = time.time):
        self.chain = chain
        self.deployment = deployment
        self.prover = prover
        self.ttl = ttl
        self.size = size
        self._wall = wall
        self.lock: AbstractContextManager[object] = (
            threading.RLock() if chain.is_embedded else contextlib.nullcontext()
        )
        self._cache: OrderedDict[str, tuple[float, ChannelState]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._clock: tuple[float, int] | None = None  # (wall time read, block timestamp)

    @contextlib.contextmanager
    def calling(self) -> Iterator[Chain]:
        """The chain, under the lock an in-process chain needs."""
        with self.lock:
            yield self.chain

    def channel(self, client: str, *, fresh: bool = False) -> ChannelState:
        """``client``'s channel to this prover: cached unless older than the TTL or ``fresh``."""
        now = self._wall()
        with self._cache_lock:
            hit = self._cache.get(client)
            if hit is not None and not fresh and now - hit[0] < self.ttl:
                self._cache.move_to_end(client)
                return hit[1]
        with self.calling() as chain:
            state = escrow.channel(chain, self.deployment, client, self.prover)
        with self._cache_lock:
            self._cache[client] = (now, state)
            self._cache.move_to_end(client)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return state

    def forget(self, client: str) -> None:
        """Drop ``client``'s cached channel (it changed: a redeem, a withdrawal request)."""
        with self._cache_lock:
            self._cache.pop(client, None)

    def now(self) -> int:
        """The chain's time: the latest block's timestamp (re-read after the TTL), advanced by
        the wall clock since it was read; never behind the wall clock."""
        wall = self._wall()
        if self._clock is None or wall - self._clock[0] >= self.ttl:
            self._clock = (wall, self.head()[1])
        read_at, stamp = self._clock
        return max(int(wall), stamp + int(wall - read_at))

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block; ChainUnreachableError when down."""
        with self.calling() as chain:
            return escrow.head(chain)
