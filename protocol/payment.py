"""Paying a prover node over HTTP: the x402 v2 headers for the ghostproof escrow scheme.

DESIGN §7. A query without payment gets 402 with ``PAYMENT-REQUIRED`` (base64 JSON, x402's
``PaymentRequired``: one ``PaymentRequirements`` with scheme ``ghostproof-escrow``, network
``eip155:<chainId>``, asset = the credit token, ``payTo`` = the prover, ``amount`` = the
price per query, and in ``extra`` the escrow, model id, channel epoch and the cumulative
amount the node last accepted on the caller's channel). The client retries with
``PAYMENT-SIGNATURE`` (base64 JSON, x402's ``PaymentPayload``: the accepted requirements
and, as ``payload``, the EIP-712 voucher for the new cumulative amount, its signature and
the hash of the request it pays for). Success carries ``PAYMENT-RESPONSE`` (x402's
``SettleResponse``: the accepted cumulative amount and what is left of the deposit).

x402's pydantic models and field names are used as they are; this module adds what x402
leaves to a scheme — the ``extra`` and ``payload`` fields, their strict parsing, and size
caps (every header is decoded through :func:`ghostproof.protocol.jsonlimits.load_json`
before a model sees it). Pure: no network, no chain. Used by the node (prover role) and the
wallet (verifier role).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from eth_utils import to_checksum_address
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse

from .errors import VoucherError
from .hashing import from_hex, to_hex
from .jsonlimits import load_json
from .voucher import Voucher

SCHEME = "ghostproof-escrow"
X402_VERSION = 2
PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE_HEADER = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE_HEADER = "PAYMENT-RESPONSE"
#: A header is a few hundred bytes; anything longer is refused before it is decoded.
MAX_HEADER_BYTES = 4096
#: How long (seconds) a client may take to pay a requirement (x402's maxTimeoutSeconds).
PAYMENT_TIMEOUT_S = 60


def network_of(chain_id: int) -> str:
    """The CAIP-2 name of an EVM chain: ``eip155:<chainId>``."""
    return f"eip155:{chain_id}"


def _amount(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 39:
        raise VoucherError(f"{what} must be a decimal string of at most 39 ASCII digits")
    if len(value) > 1 and value[0] == "0":
        raise VoucherError(f"{what} must have no leading zero")
    return int(value)


def _uint(value: object, what: str, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise VoucherError(f"{what} must be an unsigned {bits}-bit integer")
    return value


def _address(value: object, what: str) -> str:
    try:
        return to_checksum_address(from_hex(value, what, 20))
    except ValueError as exc:
        raise VoucherError(str(exc)) from None


def _b64_json(header: str | None, what: str) -> object:
    """The JSON inside a base64 header value: size-capped, strict base64, strict UTF-8 JSON."""
    if header is None or header == "":
        raise VoucherError(f"{what} header is missing")
    if len(header) > MAX_HEADER_BYTES:
        raise VoucherError(f"{what} header is longer than {MAX_HEADER_BYTES} bytes")
    try:
        raw = base64.b64decode(header.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise VoucherError(f"{what} header is not base64") from None
    return load_json(raw, what=f"{what} header", max_bytes=MAX_HEADER_BYTES, error=VoucherError)


def _b64(model: PaymentRequired | PaymentPayload | SettleResponse) -> str:
    return base64.b64encode(model.model_dump_json(by_alias=True, exclude_none=True).encode()).decode()


@dataclass(frozen=True)
class Terms:
    """What a node asks for one query on one channel (the ``PaymentRequirements``).

    ``last_accepted`` is the cumulative amount the node last accepted on the caller's channel
    in ``epoch`` (0 for a new channel or an unknown caller), so the next voucher is
    ``last_accepted + price``.
    """

    chain_id: int
    escrow: str
    credit: str
    prover: str
    model_id: int
    price: int
    epoch: int = 0
    last_accepted: int = 0

    def requirements(self) -> PaymentRequirements:
        """The x402 ``PaymentRequirements`` of these terms."""
        return PaymentRequirements(
            scheme=SCHEME,
            network=network_of(self.chain_id),
            asset=self.credit,
            amount=str(self.price),
            pay_to=self.prover,
            max_timeout_seconds=PAYMENT_TIMEOUT_S,
            extra={
                "escrow": self.escrow,
                "modelId": self.model_id,
                "epoch": self.epoch,
                "lastAccepted": str(self.last_accepted),
            },
        )

    @classmethod
    def from_requirements(cls, req: PaymentRequirements) -> Terms:
        """Parse x402 requirements of the ghostproof scheme; VoucherError on any deviation."""
        if req.scheme != SCHEME:
            raise VoucherError(f"payment scheme {req.scheme!r} is not {SCHEME!r}")
        network = str(req.network)
        if not network.startswith("eip155:") or not network[7:].isdigit():
            raise VoucherError(f"network {network!r} is not eip155:<chainId>")
        extra = req.extra or {}
        if set(extra) != {"escrow", "modelId", "epoch", "lastAccepted"}:
            raise VoucherError("requirements extra must have exactly escrow, modelId, epoch, lastAccepted")
        return cls(
            chain_id=int(network[7:]),
            escrow=_address(extra["escrow"], "escrow"),
            credit=_address(req.asset, "asset"),
            prover=_address(req.pay_to, "payTo"),
            model_id=_uint(extra["modelId"], "modelId", 256),
            price=_amount(req.amount, "amount"),
            epoch=_uint(extra["epoch"], "epoch", 64),
            last_accepted=_amount(extra["lastAccepted"], "lastAccepted"),
        )


def encode_payment_required(terms: Terms, error: str | None = None, resource: str | None = None) -> str:
    """The ``PAYMENT-REQUIRED`` header value for ``terms`` (``error`` says why, if refused)."""
    info = {"url": resource} if resource else None
    return _b64(PaymentRequired(x402_version=X402_VERSION, error=error, resource=info,
                                accepts=[terms.requirements()]))


def decode_payment_required(header: str | None) -> tuple[Terms, str | None]:
    """(terms, error) from a ``PAYMENT-REQUIRED`` header; VoucherError if it is not one of ours."""
    obj = _b64_json(header, PAYMENT_REQUIRED_HEADER)
    try:
        required = PaymentRequired.model_validate(obj)
    except ValueError as exc:
        raise VoucherError(f"{PAYMENT_REQUIRED_HEADER} is not x402 v2: {_first_line(exc)}") from None
    ours = [r for r in required.accepts if r.scheme == SCHEME]
    if required.x402_version != X402_VERSION or len(ours) != 1:
        raise VoucherError(f"{PAYMENT_REQUIRED_HEADER} offers no single {SCHEME} requirement")
    return Terms.from_requirements(ours[0]), required.error


@dataclass(frozen=True)
class Payment:
    """One paid request: the voucher, the client's signature, and the request it pays for."""

    terms: Terms
    voucher: Voucher
    signature: bytes
    request_hash: bytes

    def to_header(self) -> str:
        """The ``PAYMENT-SIGNATURE`` header value."""
        payload = {
            "voucher": self.voucher.to_json(),
            "signature": to_hex(self.signature),
            "requestHash": to_hex(self.request_hash),
        }
        return _b64(PaymentPayload(x402_version=X402_VERSION, accepted=self.terms.requirements(),
                                   payload=payload))

    @classmethod
    def from_header(cls, header: str | None) -> Payment:
        """Parse a ``PAYMENT-SIGNATURE`` header; VoucherError on any deviation. Checks only the
        form (lengths, types, that the voucher is for the accepted terms' prover, escrow and
        chain) — the signature and the channel are the node's checks."""
        obj = _b64_json(header, PAYMENT_SIGNATURE_HEADER)
        try:
            payload = PaymentPayload.model_validate(obj)
        except ValueError as exc:
            raise VoucherError(f"{PAYMENT_SIGNATURE_HEADER} is not x402 v2: {_first_line(exc)}") from None
        if payload.x402_version != X402_VERSION:
            raise VoucherError(f"{PAYMENT_SIGNATURE_HEADER} is x402 version {payload.x402_version}, not 2")
        terms = Terms.from_requirements(payload.accepted)
        body = payload.payload
        if set(body) != {"voucher", "signature", "requestHash"}:
            raise VoucherError("payment payload must have exactly voucher, signature, requestHash")
        try:
            signature = from_hex(body["signature"], "signature", 65)
            request_hash = from_hex(body["requestHash"], "requestHash", 32)
        except ValueError as exc:
            raise VoucherError(str(exc)) from None
        voucher = Voucher.from_json(body["voucher"])
        for what, got, want in (("prover", voucher.prover, terms.prover),
                                ("escrow", voucher.escrow, terms.escrow),
                                ("chain id", voucher.chain_id, terms.chain_id)):
            if got != want:
                raise VoucherError(f"voucher {what} is {got}, the accepted terms say {want}")
        return cls(terms, voucher, signature, request_hash)


@dataclass(frozen=True)
class Settlement:
    """What the node accepted (``PAYMENT-RESPONSE``): the channel's new cumulative amount and
    the deposit left after it, in ``epoch``, for ``payer`` on ``chain_id``."""

    chain_id: int
    payer: str
    accepted: int
    deposit_left: int
    epoch: int

    def to_header(self) -> str:
        """The ``PAYMENT-RESPONSE`` header value (x402 ``SettleResponse``; ``transaction`` is
        empty: a voucher is settled on-chain later, by the node's redemption)."""
        return _b64(SettleResponse(
            success=True, transaction="", network=network_of(self.chain_id), payer=self.payer,
            amount=str(self.accepted),
            extensions={"depositLeft": str(self.deposit_left), "epoch": self.epoch},
        ))

    @classmethod
    def from_header(cls, header: str | None) -> Settlement:
        """Parse a ``PAYMENT-RESPONSE`` header; VoucherError on any deviation."""
        obj = _b64_json(header, PAYMENT_RESPONSE_HEADER)
        try:
            resp = SettleResponse.model_validate(obj)
        except ValueError as exc:
            raise VoucherError(f"{PAYMENT_RESPONSE_HEADER} is not x402 v2: {_first_line(exc)}") from None
        ext = resp.extensions or {}
        network = str(resp.network)
        if not resp.success or not network.startswith("eip155:") or not network[7:].isdigit():
            raise VoucherError(f"{PAYMENT_RESPONSE_HEADER} is not a successful eip155 settlement")
        if set(ext) != {"depositLeft", "epoch"} or resp.payer is None:
            raise VoucherError(f"{PAYMENT_RESPONSE_HEADER} must name the payer, depositLeft and epoch")
        return cls(
            chain_id=int(network[7:]),
            payer=_address(resp.payer, "payer"),
            accepted=_amount(resp.amount, "amount"),
            deposit_left=_amount(ext["depositLeft"], "depositLeft"),
            epoch=_uint(ext["epoch"], "epoch", 64),
        )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
