"""Batches the node's concurrent forward passes: one ``Prover.prove_batch`` for what is queued.

A request that is ready to be proven — its payment checked, holding its proof slot and the
version lock's shared side (service.py) — calls :meth:`Batcher.prove` and waits. Up to
``workers`` batches run at once, each in a worker thread; an idle worker takes everything
queued (at most ``max_size`` requests) at once. So the first request of an idle node is
proven at once, and the requests that arrive while every worker is busy form the next
batch; with ``wait`` > 0 a worker first waits that long for more (unless the queue is
already full). Each request gets its own result: its Response, or the GhostproofError its
query alone raised (``prove_batch`` fails one query, not the batch); an unexpected error in
the batch (a bug) is raised in each of its requests. Nothing here pays, records or refuses:
the service does that per request, after its proof, as without batching.

The asyncio parts belong to the server's event loop. Used by prover/node/service.py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from ghostproof.protocol.errors import GhostproofError
from ghostproof.protocol.response import Request, Response

ProveBatch = Callable[[list[Request]], Sequence[Response | GhostproofError]]


class Batcher:
    """Queues requests to prove and proves them in batches of at most ``max_size``."""

    def __init__(self, prove_batch: ProveBatch, *, max_size: int, workers: int, wait: float = 0.0,
                 on_batch: Callable[[int], None] | None = None):
        """``prove_batch(requests)`` (run in a worker thread) returns one result per request, in
        order; ``on_batch(size)`` is called for every batch proven. Raises ValueError for
        ``max_size`` or ``workers`` < 1 or ``wait`` < 0."""
        if max_size < 1 or workers < 1 or wait < 0:
            raise ValueError("a batch needs max_size and workers ≥ 1 and wait ≥ 0")
        self._prove_batch = prove_batch
        self.max_size = max_size
        self.workers = workers
        self.wait = wait
        self._on_batch = on_batch
        self._queue: deque[tuple[Request, asyncio.Future[Response]]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> int:
        """Requests waiting for a worker."""
        return len(self._queue)

    async def prove(self, request: Request) -> Response:
        """``request``'s proven response, from the batch it joins; raises the GhostproofError
        its query raised. Cancelled while queued, it leaves the queue."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._start_worker()
        return await future

    def _start_worker(self) -> None:
        """Start a worker when requests are queued and fewer than ``workers`` run."""
        if self._queue and self._running < self.workers:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self) -> None:
        """One batch: wait (if configured), take what is queued, prove it, then hand over."""
        try:
            if self.wait > 0 and len(self._queue) < self.max_size:
                await asyncio.sleep(self.wait)
            batch = self._take()
            if batch:
                await self._run(batch)
        finally:
            self._running -= 1
            self._start_worker()

    def _take(self) -> list[tuple[Request, asyncio.Future[Response]]]:
        """Up to ``max_size`` queued requests whose callers still wait, oldest first."""
        batch = []
        while self._queue and len(batch) < self.max_size:
            request, future = self._queue.popleft()
            if not future.done():
                batch.append((request, future))
        return batch

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Response]]]) -> None:
        """Prove ``batch`` in a worker thread; resolve each future with its own result (a
        cancelled worker — the server stopping — cancels its futures: no caller waits on)."""
        futures = [future for _, future in batch]
        try:
            results = await self._results([request for request, _ in batch])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        if self._on_batch is not None:
            self._on_batch(len(batch))
        for future, result in zip(futures, results, strict=True):
            if future.done():  # its caller gave up
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _results(self, requests: list[Request]) -> list[Response | BaseException]:
        """One result per request from ``prove_batch`` in a worker thread; an unexpected error
        (a bug, or a result count that does not match) for every request."""
        try:
            results: list[Response | BaseException] = list(
                await asyncio.to_thread(self._prove_batch, requests))
        except Exception as exc:
            return [exc] * len(requests)
        if len(results) != len(requests):
            wrong = RuntimeError(f"prove_batch returned {len(results)} results for {len(requests)}")
            return [wrong] * len(requests)
        return results
