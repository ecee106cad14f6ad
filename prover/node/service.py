"""The node's service: one paid query, from a parsed request to a proven, recorded answer.

:meth:`NodeService.admit_caller` (the rate limit per IP) runs first, before the request is
routed or its body read (app.py's ``CallerLimit``); :meth:`NodeService.query` then runs the
rest in cost order — the request's model and size, the payment's form
(:class:`PaymentGate`), one signature recovery, the rate limit per channel, then, holding
the channel (one request at a time), a retry of an accepted voucher (its stored answer, no
charge), the channel state and the amount, a proof slot, the forward pass (``Prover.prove``
in a worker thread: it never sees a voucher — or, with batching, ``Prover.prove_batch`` for
the queries ready at the same time, batcher.py), and the durable record of the voucher with
its answer, per request — before the caller sends the reply. A forward pass that fails (a selection
the registered margin does not cover: UnsafeSelectionError, 503) records nothing, so the
voucher is not consumed and the same amount pays for the next query. It counts every
outcome in the metrics. Used by the HTTP app (prover/node/app.py), which only parses and
renders.

:meth:`NodeService.train` (``serve --train``) is paid the same way and through the same gate
and ledger; the training itself (training.py's :class:`Trainer`) runs holding the
:class:`VersionLock` alone, while every forward pass holds it shared, so no query is answered
while the model directory moves to its next version, and every answer after a training is
signed under the new root, which the chain registered first. :meth:`NodeService.version_bytes`
serves any archived version's ghost file and update proof.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ghostproof.adapters.chain.registry import RegisteredModel
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import (
    ExternalError,
    GhostproofError,
    InputError,
    OverloadError,
    UnknownModelError,
    VoucherError,
)
from ghostproof.protocol.hashing import keccak256, to_hex
from ghostproof.protocol.payment import PAYMENT_SIGNATURE_HEADER, Payment, Settlement, Terms, network_of
from ghostproof.protocol.response import Request, Response
from ghostproof.protocol.response_wire import decode_binary, encode_binary
from ghostproof.prover.prove import Prover

from .batcher import Batcher
from .channels import ChainView
from .config import NodeConfig
from .gate import Admission, PaymentGate, Refused
from .ledger import Accepted, Ledger
from .metrics import Metrics
from .redeemer import Redeemer
from .throttle import ChannelLocks, ProofSlots, RateLimits
from .training import (
    TRAINING_OFF,
    Trainer,
    TrainingRefusedError,
    VersionLock,
    archived_bytes,
    parse_root,
    train_request_hash,
)

log = logging.getLogger("ghostproof.node")


@dataclass(frozen=True)
class Answer:
    """A proven answer and what was paid for it (``replayed``: a retry, not charged again)."""

    response: Response
    settlement: Settlement
    replayed: bool = False


@dataclass(frozen=True)
class TrainAnswer:
    """A training's reply (training.py's ``Trained.reply()``) and what was paid for it
    (``replayed``: a retry, answered from the ledger, not charged or trained again)."""

    reply: bytes
    settlement: Settlement
    replayed: bool = False


class NodeService:
    """One model served for pay: the prover, the gate, the ledger, the limits, the redeemer."""

    def __init__(self, *, prover: Prover, registered: RegisteredModel, ghost_bytes: bytes,
                 view: ChainView, ledger: Ledger, redeemer: Redeemer, metrics: Metrics,
                 config: NodeConfig, trainer: Trainer | None = None):
        self.prover = prover
        self.trainer = trainer
        self.registered = registered
        self.ghost_bytes = ghost_bytes
        self.view = view
        self.ledger = ledger
        self.redeemer = redeemer
        self.metrics = metrics
        self.config = config
        dep = view.deployment
        self.terms = Terms(chain_id=dep.chain_id, escrow=dep.escrow, credit=dep.credit,
                           prover=prover.address, model_id=registered.model_id, price=registered.price)
        self.gate = PaymentGate(self.terms, view, ledger, config.margin)
        self.limits = RateLimits(config.rate_per_ip, config.rate_per_channel)
        self.locks = ChannelLocks(config.channel_wait)
        self.slots = ProofSlots(replace(config, max_proofs=config.proof_slots))
        self.batcher = (Batcher(self._prove_batch, max_size=config.batch_max, workers=config.max_proofs,
                                wait=config.batch_wait, on_batch=self.metrics.batch_size.observe)
                        if config.batch_max > 1 else None)
        self.d_in = prover.model.layers[0].spec.d_in
        self.d_out = prover.model.layers[-1].spec.d_out
        self.version_lock = VersionLock()

    # ------------------------------------------------------------------ description

    def model_info(self) -> dict[str, object]:
        """What ``GET /v1/models`` lists for this model."""
        return {
            "id": str(self.registered.model_id),
            "ghostRoot": to_hex(self.registered.ghost_root),
            "ghostCid": cid_for_bytes(self.ghost_bytes),
            "price": str(self.registered.price),
            "prover": self.prover.address,
            "chain": network_of(self.terms.chain_id),
            "escrow": self.terms.escrow,
            "credit": self.terms.credit,
            "registry": self.view.deployment.registry,
            "inputSize": self.d_in,
        }

    def readiness(self) -> dict[str, bool]:
        """Model loaded, chain reachable, database open (``GET /ready``)."""
        try:
            self.view.head()
            chain = True
        except ExternalError:
            chain = False
        return {"model": self.prover is not None, "chain": chain, "database": self.ledger.ping()}

    def check_model(self, model_id: str) -> None:
        """UnknownModelError (404) unless ``model_id`` (a path segment) is this node's model."""
        if model_id != str(self.registered.model_id):
            raise UnknownModelError(f"this node serves model {self.registered.model_id}, not {model_id}")

    # ------------------------------------------------------------------ a query

    def admit_caller(self, remote: str) -> None:
        """Count a query from address ``remote``: OverloadError (429, counted) over the per-IP
        rate. Called before the request is routed or its body read: a refused caller costs
        no parse."""
        try:
            self.limits.ip(remote)
        except OverloadError:
            self.metrics.queries.labels("overloaded").inc()
            raise

    async def query(self, request: Request, payment_header: str | None, client_hint: str | None) -> Answer:
        """Answer ``request`` (from a caller :meth:`admit_caller` let in) if paid; count the
        outcome. Raises Refused (a payment refused), OverloadError (429) or another
        GhostproofError."""
        started = time.perf_counter()
        try:
            answer = await self._query(request, payment_header, client_hint)
        except Refused as refused:
            self.metrics.queries.labels("payment_required" if refused.reason == "missing"
                                        else "rejected").inc()
            if refused.reason != "missing":
                self.metrics.rejections.labels(refused.reason).inc()
            raise
        except OverloadError:
            self.metrics.queries.labels("overloaded").inc()
            raise
        except InputError:
            self.metrics.queries.labels("bad_request").inc()
            raise
        except GhostproofError:
            self.metrics.queries.labels("error").inc()
            raise
        finally:
            self.metrics.request_seconds.observe(time.perf_counter() - started)
        self.metrics.queries.labels("replayed" if answer.replayed else "paid").inc()
        return answer

    def _check_request(self, request: Request) -> None:
        if request.model_id != self.registered.model_id:
            raise InputError(f"the request is for model {request.model_id}, this is model "
                             f"{self.registered.model_id}", field="modelId")
        if len(request.x) != self.d_in:
            raise InputError(f"the input must have {self.d_in} numbers, got {len(request.x)}",
                             field="input")

    async def _admit(
        self, payment_header: str | None, client_hint: str | None, what: str,
        parse: Callable[[str], Payment],
    ) -> Payment:
        """The free checks of a paid request: a 402 with the terms when it carries no payment
        (only a named client's epoch needs the chain, read in a worker thread), else the
        payment parsed, its signature authenticated and its channel's rate limit taken."""
        if not payment_header:
            terms = (self.gate.terms_for(None) if client_hint is None
                     else await asyncio.to_thread(self.gate.terms_for, client_hint))
            raise Refused(VoucherError(f"this {what} needs a payment", field=PAYMENT_SIGNATURE_HEADER),
                          "missing", terms)
        payment = parse(payment_header)
        self.gate.authenticate(payment)
        self.limits.channel(payment.voucher.client)
        return payment

    async def _query(self, request: Request, payment_header: str | None, client_hint: str | None) -> Answer:
        self._check_request(request)
        payment = await self._admit(payment_header, client_hint, "query",
                                    lambda header: self.gate.parse(header, request))
        client = payment.voucher.client
        async with self.locks.hold(client):
            checked = await asyncio.to_thread(self._check_payment, payment)
            if isinstance(checked, Answer):
                return checked
            admission = checked
            if admission.channel.withdrawable_at:
                self.redeemer.note_withdrawal(client, admission.channel.withdrawable_at)
            await self._caught_up()
            async with self.slots.slot(), self.version_lock.shared():
                response = await self._proven(request)
            await asyncio.to_thread(self._record, payment, response)
        self.metrics.earn(self.terms.price)
        return Answer(response, self._settlement(payment, admission.channel.deposited))

    def _check_payment(self, payment: Payment) -> Answer | Admission:
        """A retry's stored answer (not charged again), else the admission of a new voucher:
        the ledger and channel reads in one worker-thread hop."""
        done = self.gate.retry_of(payment)
        return self._replay(done) if done is not None else self.gate.admit(payment)

    async def _proven(self, request: Request) -> Response:
        """``request``'s forward pass (the caller holds a proof slot and the version lock's
        shared side): alone in a worker thread (``batch_max`` 1), else in a batch."""
        if self.batcher is None:
            return await asyncio.to_thread(self._prove, request)
        return await self.batcher.prove(request)

    def _prove(self, request: Request) -> Response:
        started = time.perf_counter()
        response = self.prover.prove(request.x, request.nonce)
        self.metrics.prove_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(1)
        return response

    def _prove_batch(self, requests: list[Request]) -> list[Response | GhostproofError]:
        """The batcher's forward pass (a worker thread; every request holds the version lock's
        shared side, so ``self.prover`` is the version they were admitted under): one result
        per request, each query's latency the batch's."""
        started = time.perf_counter()
        if len(requests) == 1:  # Prover.prove: prove_batch of one, the same answer
            results: list[Response | GhostproofError] = [self._prove_alone(requests[0])]
        else:
            results = self.prover.prove_batch([r.x for r in requests], [r.nonce for r in requests])
        elapsed = time.perf_counter() - started
        for _ in requests:
            self.metrics.prove_seconds.observe(elapsed)
        return results

    def _prove_alone(self, request: Request) -> Response | GhostproofError:
        """``Prover.prove`` of one batched query: its response, or the GhostproofError it raised."""
        try:
            return self.prover.prove(request.x, request.nonce)
        except GhostproofError as exc:
            return exc

    def _record(self, payment: Payment, response: Response) -> None:
        v = payment.voucher
        self.ledger.accept(Accepted(v.client, v.epoch, v.cumulative_amount, payment.signature,
                                    payment.request_hash, response.digest(), encode_binary(response)))

    def _replay(self, done: Accepted) -> Answer:
        response = decode_binary(done.answer or b"")
        deposited = self.view.channel(done.client).deposited
        settlement = Settlement(self.terms.chain_id, done.client, done.amount,
                                max(deposited - done.amount, 0), done.epoch)
        return Answer(response, settlement, replayed=True)

    def _settlement(self, payment: Payment, deposited: int) -> Settlement:
        v = payment.voucher
        return Settlement(self.terms.chain_id, v.client, v.cumulative_amount,
                          deposited - v.cumulative_amount, v.epoch)

    # ------------------------------------------------------------------ versions and training

    def version_bytes(self, model_id: str, root: str, kind: str) -> bytes:
        """``GET /v1/models/{id}/versions/{root}/{kind}``: the archived ghost file or update
        proof of the version ``root`` (FormatError for a malformed root, UnknownModelError —
        404 — for another model or a version this node does not keep)."""
        self.check_model(model_id)
        wanted = parse_root(root)
        directory = self.trainer.md.path if self.trainer is not None else None
        if directory is None:
            if kind == "ghost" and wanted == self.registered.ghost_root:
                return self.ghost_bytes
            raise UnknownModelError(f"this node keeps no {kind} for version {root}", field="root")
        return archived_bytes(directory, (self.prover.model.ghost_root, self.ghost_bytes), wanted, kind)

    def check_training(self, model_id: str) -> Trainer:
        """The trainer, if this node trains model ``model_id`` (TrainingRefusedError: 403 off,
        409 no update rule; UnknownModelError for another model)."""
        self.check_model(model_id)
        if self.trainer is None:
            raise TrainingRefusedError(TRAINING_OFF, 403)
        self.trainer.check_enabled()
        return self.trainer

    async def train(self, body: bytes, payment_header: str | None, client_hint: str | None) -> TrainAnswer:
        """One paid training on ``body`` (``{"examples": [...]}``): the free checks, the same
        gate as a query (the voucher's requestHash is ``train_request_hash`` of the body), then,
        holding the channel and the version lock alone, the training and its rotation, and the
        durable record of the voucher with the reply. A refused or failed training records
        nothing: the voucher is not consumed."""
        trainer = self.check_training(str(self.registered.model_id))
        examples = trainer.parse(body)
        request_hash = train_request_hash(self.registered.model_id, body)
        payment = await self._admit(payment_header, client_hint, "training",
                                    lambda header: self.gate.parse_for(header, request_hash))
        client = payment.voucher.client
        async with self.locks.hold(client):
            checked = await asyncio.to_thread(self._check_training_payment, payment)
            if isinstance(checked, TrainAnswer):
                return checked
            async with self.version_lock.exclusive():
                await self._caught_up(locked=True)
                trained = await asyncio.to_thread(trainer.train, examples)
                await asyncio.to_thread(self._adopt, trainer)
            reply = trained.reply()
            v = payment.voucher
            await asyncio.to_thread(self.ledger.accept, Accepted(
                v.client, v.epoch, v.cumulative_amount, payment.signature, payment.request_hash,
                keccak256(reply), reply))
        self.metrics.earn(self.terms.price)
        log.info("trained model %d to version %d (%d examples)", self.registered.model_id,
                 trained.rotation.version, trained.examples)
        return TrainAnswer(reply, self._settlement(payment, checked.channel.deposited))

    def _check_training_payment(self, payment: Payment) -> TrainAnswer | Admission:
        done = self.gate.retry_of(payment)
        if done is None:
            return self.gate.admit(payment)
        deposited = self.view.channel(done.client).deposited
        settlement = Settlement(self.terms.chain_id, done.client, done.amount,
                                max(deposited - done.amount, 0), done.epoch)
        return TrainAnswer(done.answer or b"", settlement, replayed=True)

    def _adopt(self, trainer: Trainer) -> None:
        """Serve the trainer's current version: its prover, the chain's record, its ghost bytes."""
        self.prover = trainer.prover
        self.ghost_bytes = trainer.md.ghost.to_bytes()
        self.registered = trainer.registered()

    async def _caught_up(self, *, locked: bool = False) -> None:
        """Before an answer: when a rotation failed (the directory is ahead of the chain),
        rotate first — holding the version lock alone unless ``locked`` already — or raise
        ExternalError (503, nothing charged)."""
        trainer = self.trainer
        if trainer is None or not trainer.behind:
            return
        if locked:
            await asyncio.to_thread(trainer.catch_up)
            await asyncio.to_thread(self._adopt, trainer)
            return
        async with self.version_lock.exclusive():
            if trainer.behind:
                await self._caught_up(locked=True)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Reconcile with the chain (redeem what the ledger holds and the chain does not), then
        start the redeemer's thread."""
        moved = self.redeemer.redeem_all()
        if moved:
            log.info("redeemed %d credits left from the last run", moved)
        self.redeemer.start()

    def stop(self) -> None:
        """Stop the redeemer (it redeems everything first) and close the ledger."""
        self.redeemer.stop()
        self.ledger.close()
