"""Talking HTTP to a prover node (``ghostproof serve``): the transport under the payment loop.

The node's API (docs/WALLET.md, docs/NODE.md): ``GET /v1/models``, ``GET /v1/models/{id}/ghost``,
``GET /v1/models/{id}/versions/{root}/ghost|update`` (archived versions, by ghostRoot),
``POST /v1/models/{id}/query`` with a request file's JSON body (``/train`` with examples), answered 402 with
``PAYMENT-REQUIRED`` until paid, 200 with the answer and ``PAYMENT-RESPONSE`` once paid, 429
with ``Retry-After`` when busy, and ``{"error", "message", "field"}`` JSON on failure.

This module only moves bytes: every reply body is read with a size cap, a busy node (429)
or a dropped connection is retried a bounded number of times (the node answers a retried
paid request with the same voucher and request with the same answer), and a node that is
down is an ExternalError. What a reply means is the client's business (client.py). Uses
httpx, which is in the light install.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import (
    ExternalError,
    FormatError,
    GhostproofError,
    InputError,
    PaymentError,
    UnknownModelError,
)
from ghostproof.protocol.jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from ghostproof.protocol.payment import PAYMENT_SIGNATURE_HEADER

CLIENT_HEADER = "X-GHOSTPROOF-CLIENT"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
#: How many times a busy (429) node is asked again, and the longest wait it may ask for; how
#: many times an unreachable one is (after 0.5 s, then 1 s).
MAX_RETRIES = 5
MAX_RETRY_AFTER_S = 30.0
MAX_TRANSPORT_RETRIES = 2
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0
MAX_ERROR_BYTES = 64 * 1024
MAX_MODELS_BYTES = 4 << 20


@dataclass(frozen=True)
class Reply:
    """One HTTP reply of the node: status, headers (lower-case names) and the capped body."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False

    @property
    def content_type(self) -> str:
        """The media type, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def header(self, name: str) -> str | None:
        """A header's value, or None."""
        return self.headers.get(name.lower())


def retry_after(reply: Reply) -> float:
    """Seconds a 429 asks to wait (``Retry-After`` in seconds), at most MAX_RETRY_AFTER_S;
    1 s when absent or not a number."""
    text = reply.header("retry-after") or ""
    try:
        seconds = float(text)
    except ValueError:
        return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if seconds == seconds else 1.0


@dataclass
class NodeHttp:
    """The HTTP connection to one node at ``url`` (``http://host:port``)."""

    url: str
    client_address: str | None = None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise InputError(f"node URL {self.url!r} must start with http:// or https://")
        self.url = self.url.rstrip("/")
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self._http = httpx.Client(timeout=timeout, transport=self.transport, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(self, method: str, path: str, limit: int, **kwargs: object) -> Reply:
        """One request; the body read up to ``limit`` bytes (``truncated`` beyond)."""
        try:
            with self._http.stream(method, self.url + path, **kwargs) as resp:  # type: ignore[arg-type]
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return Reply(resp.status_code, headers, bytes(body[:limit]), len(body) > limit)
        except httpx.HTTPError as exc:
            raise ExternalError(f"node {self.url} is not reachable ({type(exc).__name__})") from exc

    def _send_retrying(self, method: str, path: str, limit: int, **kwargs: object) -> Reply:
        """:meth:`_send`, asked again up to MAX_RETRIES times while the node is busy (429,
        waiting ``Retry-After``) and up to MAX_TRANSPORT_RETRIES times while it is unreachable."""
        busy = unreachable = 0
        while True:
            try:
                reply = self._send(method, path, limit, **kwargs)
            except ExternalError:
                if unreachable == MAX_TRANSPORT_RETRIES:
                    raise
                self.sleep(0.5 * 2**unreachable)
                unreachable += 1
                continue
            if reply.status != 429 or busy == MAX_RETRIES:
                return reply
            self.sleep(retry_after(reply))
            busy += 1

    def models(self) -> list[object]:
        """``GET /v1/models``: the node's list of models (a JSON list, or ``{"models": [...]}``),
        as the node says it: the wallet trusts the chain, not this."""
        reply = self._send_retrying("GET", "/v1/models", MAX_MODELS_BYTES)
        if reply.status != 200:
            raise node_error(self.url, reply)
        obj = load_json(reply.body, what=f"node {self.url} model list", max_bytes=MAX_MODELS_BYTES)
        if isinstance(obj, dict):
            obj = obj.get("models")
        if not isinstance(obj, list):
            raise FormatError(f"node {self.url} model list is not a JSON list")
        return obj

    def ghost(self, model_id: int) -> bytes:
        """``GET /v1/models/{id}/ghost``: the ghost file's bytes (at most one 1 MiB block)."""
        reply = self._send_retrying("GET", f"/v1/models/{model_id}/ghost", MAX_CHUNK_BYTES)
        if reply.status != 200:
            raise node_error(self.url, reply)
        if reply.truncated:
            raise FormatError(f"node {self.url} sent a ghost file larger than {MAX_CHUNK_BYTES} bytes")
        return reply.body

    def query(self, model_id: int, body: bytes, *, payment: str | None = None,
              binary: bool = False) -> Reply:
        """``POST /v1/models/{id}/query`` with the request ``body`` (a request file's JSON),
        ``payment`` as ``PAYMENT-SIGNATURE`` if given; the answer read up to the response
        size cap. Retries a busy or unreachable node; returns any other reply as it is."""
        headers = {"Content-Type": JSON_TYPE, "Accept": BINARY_TYPE if binary else JSON_TYPE}
        if self.client_address is not None:
            headers[CLIENT_HEADER] = self.client_address
        if payment is not None:
            headers[PAYMENT_SIGNATURE_HEADER] = payment
        return self._send_retrying("POST", f"/v1/models/{model_id}/query", MAX_RESPONSE_JSON_BYTES,
                                   content=body, headers=headers)


    def version(self, model_id: int, root: bytes, kind: str) -> bytes:
        """``GET /v1/models/{id}/versions/{root}/{kind}``: an archived ghost file (``ghost``) or
        update proof (``update``), at most one 1 MiB block; the caller checks its CID."""
        path = f"/v1/models/{model_id}/versions/0x{root.hex()}/{kind}"
        reply = self._send_retrying("GET", path, MAX_CHUNK_BYTES)
        if reply.status != 200:
            raise node_error(self.url, reply)
        if reply.truncated:
            raise FormatError(f"node {self.url} sent a {kind} larger than {MAX_CHUNK_BYTES} bytes")
        return reply.body

    def train(self, model_id: int, body: bytes, *, payment: str | None = None) -> Reply:
        """``POST /v1/models/{id}/train`` with the examples ``body``, ``payment`` as
        ``PAYMENT-SIGNATURE`` if given (as :meth:`query`)."""
        headers = {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE}
        if self.client_address is not None:
            headers[CLIENT_HEADER] = self.client_address
        if payment is not None:
            headers[PAYMENT_SIGNATURE_HEADER] = payment
        return self._send_retrying("POST", f"/v1/models/{model_id}/train", MAX_RESPONSE_JSON_BYTES,
                                   content=body, headers=headers)


def error_text(reply: Reply) -> str:
    """``error: message (field)`` from a node's JSON error body, or a short description."""
    try:
        obj = load_json(reply.body[:MAX_ERROR_BYTES], what="node error", max_bytes=MAX_ERROR_BYTES)
    except FormatError:
        return f"HTTP {reply.status}"
    if not isinstance(obj, dict):
        return f"HTTP {reply.status}"
    parts = [str(obj.get("error") or f"HTTP {reply.status}")]
    if obj.get("message"):
        parts.append(f": {obj['message']}"[:500])
    if obj.get("field"):
        parts.append(f" (field {obj['field']})"[:200])
    return "".join(parts)


def node_error(url: str, reply: Reply) -> GhostproofError:
    """The error a failed reply means: the node down or busy (ExternalError, exit 3), a
    payment refused (PaymentError), an unknown model (UnknownModelError), else bad input."""
    text = f"node {url} refused (HTTP {reply.status}, {error_text(reply)})"
    if reply.status >= 500 or reply.status == 429:
        return ExternalError(text)
    if reply.status == 402:
        return PaymentError(text)
    if reply.status == 404:
        return UnknownModelError(text)
    return InputError(text)
