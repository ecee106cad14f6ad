"""The node's HTTP API (FastAPI): parse, call the service, render. Nothing else happens here.

- ``GET /health`` alive; ``GET /ready`` model, chain, database (503 when one is not);
  ``GET /metrics`` Prometheus text; ``GET /openapi.json`` (FastAPI's).
- ``GET /v1/models`` this node's model; ``GET /v1/models/{id}/ghost`` its ghost file;
  ``GET /v1/models/{id}/versions/{root}/ghost|update`` any archived version's ghost file and
  the update proof leading to it (clients check both against the CIDs the chain registered).
- ``POST /v1/models/{id}/query``: the request (protocol/request.py) as JSON or in its binary
  wire form, paid with the x402 v2 headers (protocol/payment.py); the answer as response
  JSON or in its binary wire form, as ``Accept`` asks.
- ``POST /v1/models/{id}/train`` (``serve --train``): ``{"examples": [...]}``, paid like a
  query; the reply is the update proof, the new version and its rotation (training.py).

Every error is ``{"error": class, "message": …, "field": …}`` with the status of
``protocol.errors.http_status``; a 402 carries ``PAYMENT-REQUIRED``, a 429 ``Retry-After``.
The per-IP rate limit on queries is an ASGI middleware (:class:`CallerLimit`), ahead of
routing and of reading the body.
docs/NODE.md describes the API. Used by ghostproof.prover.node.boot (``ghostproof serve``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ghostproof.protocol.errors import (
    FormatError,
    GhostproofError,
    OverloadError,
    RequestTooLargeError,
    UnknownModelError,
    http_status,
)
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    encode_payment_required,
)
from ghostproof.protocol.request import decode_request, request_from_json
from ghostproof.protocol.response import Request
from ghostproof.protocol.response_json import dumps_response
from ghostproof.protocol.response_wire import encode_binary

from .config import body_limit
from .gate import CLIENT_HEADER, Refused, parse_client
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .service import Answer, NodeService
from .training import VERSION_KINDS, TrainingRefusedError, train_body_limit

JSON = "application/json"
BINARY = "application/octet-stream"
LAST_RECEIPT_HEADER = "X-GHOSTPROOF-LAST-RECEIPT"
_ERROR_SCHEMA = {"type": "object", "required": ["error", "message"],
                 "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                "field": {"type": ["string", "null"]}}}
_QUERY_DOC = {
    "parameters": [
        {"name": PAYMENT_SIGNATURE_HEADER, "in": "header", "required": False,
         "description": "x402 v2 PaymentPayload (base64 JSON): voucher, signature, requestHash",
         "schema": {"type": "string"}},
        {"name": CLIENT_HEADER, "in": "header", "required": False,
         "description": "The payer's address, so that an unpaid request's 402 names its channel epoch",
         "schema": {"type": "string"}},
    ],
    "requestBody": {"required": True, "content": {
        JSON: {"schema": {"type": "object", "required": ["modelId", "input", "nonce"], "properties": {
            "modelId": {"type": "integer"}, "input": {"type": "array", "items": {"type": "number"}},
            "nonce": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}}}},
        BINARY: {"schema": {"type": "string", "format": "binary",
                            "description": "GPQ\\x02 ‖ uint256 modelId ‖ nonce ‖ uint32 n ‖ n × float32BE"}},
    }},
}
_TRAIN_DOC = {
    "parameters": _QUERY_DOC["parameters"],
    "requestBody": {"required": True, "content": {JSON: {"schema": {
        "type": "object", "required": ["examples"], "properties": {"examples": {
            "type": "array", "maxItems": 64, "items": {"type": "object", "description":
                "input (floats) or sample (index); target (int8), label (class) or output (floats)"}}}}}}},
}
_QUERY_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The proven answer and its signed receipt (PAYMENT-RESPONSE header)",
          "content": {JSON: {}, BINARY: {}}},
    **{status: {"description": text, "content": {JSON: {"schema": _ERROR_SCHEMA}}} for status, text in (
        (400, "Malformed body or header"), (402, "Payment required (PAYMENT-REQUIRED header)"),
        (404, "Unknown model"), (413, "Body or header too large"), (422, "Unusable input"),
        (429, "Overloaded or rate-limited (Retry-After header)"), (503, "Chain unreachable"))},
}


def error_response(exc: GhostproofError, headers: dict[str, str] | None = None,
                   extra: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body and status of ``exc`` (429 with Retry-After)."""
    headers = dict(headers or {})
    if isinstance(exc, OverloadError):
        headers["Retry-After"] = str(exc.retry_after)
    body = {"error": type(exc).__name__, "message": str(exc), "field": getattr(exc, "field", None),
            **(extra or {})}
    status = exc.status if isinstance(exc, TrainingRefusedError) else http_status(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def refusal_response(refused: Refused, url: str) -> JSONResponse:
    """A refused payment: its error, with PAYMENT-REQUIRED terms (and the last accepted
    answer's receipt digest, for a client to resynchronise)."""
    headers = {PAYMENT_REQUIRED_HEADER: encode_payment_required(refused.terms, str(refused.error), url)}
    extra = {"lastAccepted": str(refused.terms.last_accepted)}
    if refused.last is not None:
        headers[LAST_RECEIPT_HEADER] = to_hex(refused.last.receipt_digest)
        extra.update(lastReceipt=to_hex(refused.last.receipt_digest),
                     lastRequestHash=to_hex(refused.last.request_hash))
    return error_response(refused.error, headers, extra)


async def read_body(http: HttpRequest, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes before it is all read."""
    declared = http.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestTooLargeError(f"the body must be at most {limit} bytes", field="body")
    chunks, size = [], 0
    async for chunk in http.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the body must be at most {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_query(body: bytes, content_type: str) -> Request:
    """The request in ``body``, JSON or binary by Content-Type; FormatError naming the field."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == JSON:
        return request_from_json(load_json(body, what="request body", max_bytes=len(body) + 1))
    if kind == BINARY:
        return decode_request(body)
    raise FormatError(f"Content-Type must be {JSON} or {BINARY}", field="Content-Type")


def render(answer: Answer, accept: str) -> Response:
    """The answer as the client asked (binary only when it accepts octet-stream, not JSON)."""
    headers = {PAYMENT_RESPONSE_HEADER: answer.settlement.to_header()}
    if BINARY in accept and JSON not in accept:
        return Response(encode_binary(answer.response), media_type=BINARY, headers=headers)
    return Response(dumps_response(answer.response, compact=True), media_type=JSON, headers=headers)


async def answer_query(service: NodeService, limit: int, model_id: str, http: HttpRequest) -> Response:
    """``POST /v1/models/{id}/query`` (its caller already let in by :class:`CallerLimit`):
    parse the body and headers, call the service, render."""
    service.check_model(model_id)
    try:
        request = parse_query(await read_body(http, limit), http.headers.get("content-type", ""))
        client = parse_client(http.headers.get(CLIENT_HEADER))
    except GhostproofError:
        service.metrics.queries.labels("bad_request").inc()
        raise
    try:
        answer = await service.query(request, http.headers.get(PAYMENT_SIGNATURE_HEADER), client)
    except Refused as refused:
        return refusal_response(refused, str(http.url))
    return render(answer, http.headers.get("accept", JSON))


async def answer_training(service: NodeService, limit: int, model_id: str, http: HttpRequest) -> Response:
    """``POST /v1/models/{id}/train``: refuse it when this node does not train (403/409)
    before reading the body, then the service; the reply is the training result JSON."""
    service.check_training(model_id)
    kind = http.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != JSON:
        raise FormatError(f"Content-Type must be {JSON}", field="Content-Type")
    body = await read_body(http, limit)
    client = parse_client(http.headers.get(CLIENT_HEADER))
    try:
        done = await service.train(body, http.headers.get(PAYMENT_SIGNATURE_HEADER), client)
    except Refused as refused:
        return refusal_response(refused, str(http.url))
    return Response(done.reply, media_type=JSON,
                    headers={PAYMENT_RESPONSE_HEADER: done.settlement.to_header()})


class CallerLimit:
    """ASGI middleware: the per-IP rate limit on ``POST /v1/models/{id}/query`` (and
    ``/train``), checked before
    the request is routed, its body read or parsed, so that a 429 to a flood from one address
    costs the node as little as an answer can."""

    def __init__(self, app: ASGIApp, service: NodeService):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") == "POST" and path.startswith("/v1/models/") and \
                path.endswith(("/query", "/train")):
            client = scope.get("client")
            try:
                self.service.admit_caller(client[0] if client else "unknown")
            except OverloadError as exc:
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(service: NodeService) -> FastAPI:
    """The FastAPI app of ``service``; its lifespan starts and stops the service."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="ghostproof node", version="1", lifespan=lifespan,
                  description="Proven answers of a Hopfield lookup model, paid with x402 v2 vouchers "
                              "over the CreditEscrow (docs/NODE.md).")
    limit = body_limit(service.config, service.d_in)
    app.add_middleware(CallerLimit, service=service)

    @app.exception_handler(GhostproofError)
    async def on_error(_: HttpRequest, exc: GhostproofError) -> JSONResponse:
        return error_response(exc)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Model loaded, chain reachable, database open (503 otherwise)."""
        checks = service.readiness()
        return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text exposition (ghostproof_*)."""
        return Response(service.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/v1/models")
    async def models() -> dict[str, list[dict[str, object]]]:
        """The model this node serves: id, ghostRoot, ghost CID, price, prover, chain, escrow."""
        return {"models": [service.model_info()]}

    @app.get("/v1/models/{model_id}/ghost", responses={200: {"content": {JSON: {}}}})
    async def ghost(model_id: str) -> Response:
        """The model's ghost file (canonical bytes)."""
        service.check_model(model_id)
        return Response(service.ghost_bytes, media_type=JSON)

    @app.post("/v1/models/{model_id}/query", openapi_extra=_QUERY_DOC, responses=_QUERY_RESPONSES)
    async def query(model_id: str, http: HttpRequest) -> Response:
        """One proven answer, paid with a voucher (x402 v2 headers)."""
        return await answer_query(service, limit, model_id, http)

    add_training_routes(app, service)
    return app


def add_training_routes(app: FastAPI, service: NodeService) -> None:
    """The version endpoints and ``POST /v1/models/{id}/train``."""
    train_limit = train_body_limit(service.d_in, service.d_out)

    @app.get("/v1/models/{model_id}/versions/{root}/{kind}", responses={200: {"content": {JSON: {}}},
                                                                        404: {"description": "Not kept"}})
    async def version(model_id: str, root: str, kind: str) -> Response:
        """An archived version's ghost file (``ghost``) or the update proof leading to it
        (``update``), by ghostRoot; the chain's CIDs say whether the bytes are right."""
        if kind not in VERSION_KINDS:
            raise UnknownModelError(f"a version has a ghost and an update, not {kind!r}", field="kind")
        return Response(service.version_bytes(model_id, root, kind), media_type=JSON)

    @app.post("/v1/models/{model_id}/train", openapi_extra=_TRAIN_DOC, responses=_QUERY_RESPONSES)
    async def train(model_id: str, http: HttpRequest) -> Response:
        """Train the model on the body's examples, paid like a query (``serve --train``)."""
        return await answer_training(service, train_limit, model_id, http)

