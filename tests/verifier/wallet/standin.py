"""A minimal stand-in prover node for the wallet tests: it speaks the node's HTTP contract
(docs/WALLET.md, "The node's API") with real vouchers checked against the real chain
(``protocol.voucher.check_voucher`` on ``adapters.chain.escrow.channel``) and real answers
(``prover.prove.Prover``), on 127.0.0.1 under uvicorn in a thread.

Knobs a test turns: ``tamper`` (change the answer's output after proving: an answer altered
in transit), ``hang`` (block a paid request after the voucher is checked, until released:
the client is killed meanwhile), ``accept_then_hang`` (record the voucher as accepted, then
block), ``busy`` (answer that many 429s first), ``reveal_last`` (put the channel's
lastAccepted in the unpaid 402, which the real node does not), ``lie_last`` (claim this
lastAccepted in every 402), ``claim_accepted`` (claim this accepted amount in every
PAYMENT-RESPONSE).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, replace

import uvicorn
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, Response

from ghostproof.adapters.chain.anvil import free_port
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.escrow import channel
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.storage.answers import request_from_json
from ghostproof.protocol.errors import ExternalError, GhostproofError, VoucherError, http_status
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    Payment,
    Settlement,
    Terms,
    encode_payment_required,
)
from ghostproof.protocol.response_json import dumps_response
from ghostproof.protocol.response_wire import encode_binary
from ghostproof.protocol.voucher import check_voucher
from ghostproof.prover.prove import Prover


@dataclass
class StandIn:
    """The node's state and knobs (see the module docstring)."""

    prover: Prover
    chain: Chain
    deployment: Deployment
    model_id: int
    price: int
    ghost_bytes: bytes
    tamper: bool = False
    busy: int = 0
    reveal_last: bool = False
    lie_last: int | None = None
    claim_accepted: int | None = None
    hang: bool = False
    accept_then_hang: bool = False
    last: dict[tuple[str, int], int] = field(default_factory=dict)
    answered: dict[tuple[str, int, int], tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    paid: list[int] = field(default_factory=list)  # every voucher amount received, in order
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def terms(self, client: str | None, *, reveal: bool) -> Terms:
        epoch = channel(self.chain, self.deployment, client, self.prover.address).epoch if client else 0
        last = self.last.get((client, epoch), 0) if (client and reveal) else 0
        if self.lie_last is not None:
            last = self.lie_last
        dep = self.deployment
        return Terms(dep.chain_id, dep.escrow, dep.credit, self.prover.address, self.model_id,
                     self.price, epoch, last)


def _error(exc: GhostproofError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": type(exc).__name__, "message": str(exc), "field": None}
    return JSONResponse(body, status_code=http_status(exc), headers=headers)


def _refuse(node: StandIn, client: str | None, exc: GhostproofError, reveal: bool) -> JSONResponse:
    terms = node.terms(client, reveal=reveal)
    return _error(exc, {PAYMENT_REQUIRED_HEADER: encode_payment_required(terms, str(exc))})


def _answer(node: StandIn, request, payment: Payment, accept: str) -> Response:
    v = payment.voucher
    key = (v.client, v.epoch, v.cumulative_amount)
    if key in node.answered:  # a retry of an accepted voucher: the same answer, no charge
        body, kind, _ = node.answered[key]
    else:
        response = node.prover.prove(request.x, request.nonce)
        if node.tamper:
            response = replace(response, output=response.output + 1)
        binary = "octet-stream" in accept
        body = encode_binary(response) if binary else dumps_response(response).encode()
        kind = b"application/octet-stream" if binary else b"application/json"
        node.answered[key] = (body, kind, payment.request_hash)
        node.last[(v.client, v.epoch)] = v.cumulative_amount
    deposited = channel(node.chain, node.deployment, v.client, v.prover).deposited
    accepted = node.claim_accepted or v.cumulative_amount
    settlement = Settlement(node.deployment.chain_id, v.client, accepted, max(deposited - accepted, 0),
                            v.epoch)
    return Response(body, media_type=kind.decode(), headers={PAYMENT_RESPONSE_HEADER: settlement.to_header()})


def _admit(node: StandIn, payment: Payment) -> None:
    """check_voucher against the chain, and exactly the last accepted amount plus the price."""
    v = payment.voucher
    state = channel(node.chain, node.deployment, v.client, v.prover)
    previous = node.last.get((v.client, state.epoch), 0)
    done = node.answered.get((v.client, v.epoch, v.cumulative_amount))
    if done is not None:
        if done[2] != payment.request_hash:
            raise VoucherError(f"voucher amount {v.cumulative_amount} was already accepted for another "
                               "request (replay)")
        return
    now = int(node.chain.w3.eth.get_block("latest")["timestamp"])
    dep = node.deployment
    owed = check_voucher(v, payment.signature, prover=node.prover.address, escrow=dep.escrow,
                         chain_id=dep.chain_id, channel=state, now=now, margin=0, previous=previous)
    if owed != node.price:
        raise VoucherError(f"voucher amount must be exactly {max(previous, state.redeemed) + node.price}")


def make_app(node: StandIn) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> list[dict[str, object]]:
        return [{"id": str(node.model_id), "prover": node.prover.address, "price": str(node.price)}]

    @app.get("/v1/models/{model_id}/ghost")
    def ghost(model_id: int) -> Response:
        return Response(node.ghost_bytes, media_type="application/json")

    @app.post("/v1/models/{model_id}/query")
    async def query(model_id: int, http: HttpRequest) -> Response:
        request = request_from_json(json.loads(await http.body()))
        client = http.headers.get("x-ghostproof-client")
        header = http.headers.get(PAYMENT_SIGNATURE_HEADER)
        if node.busy > 0:
            node.busy -= 1
            return JSONResponse({"error": "OverloadError", "message": "busy", "field": None},
                                status_code=429, headers={"Retry-After": "0"})
        if not header:
            return _refuse(node, client, VoucherError("this query needs a payment"), node.reveal_last)
        payment = Payment.from_header(header)
        if payment.request_hash != request.hash:
            return _error(VoucherError("the payment is for another request"))
        return await _paid(node, request, payment, http.headers.get("accept", ""))

    return app


async def _paid(node: StandIn, request, payment: Payment, accept: str) -> Response:
    import asyncio

    with node.lock:
        node.paid.append(payment.voucher.cumulative_amount)
        try:
            _admit(node, payment)
        except VoucherError as exc:
            return _refuse(node, payment.voucher.client, exc, True)
        reply = None if node.hang else _answer(node, request, payment, accept)
    if node.hang or node.accept_then_hang:
        node.received.set()
        while not node.release.is_set():
            await asyncio.sleep(0.05)
    return reply if reply is not None else _error(ExternalError("released"))


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread (``url``; ``stop()``)."""

    def __init__(self, app: FastAPI) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stand-in node did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
