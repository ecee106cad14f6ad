"""The payment gate: what a paid query must pass before the node does any work for it.

In cost order, every check that costs nothing before anything that costs something:
:meth:`PaymentGate.parse` (header size and form, the accepted terms are this node's, the
voucher pays for *this* request) → :meth:`PaymentGate.authenticate` (one signature
recovery) → :meth:`PaymentGate.retry_of` (a voucher already accepted: its stored answer,
no second charge) → :meth:`PaymentGate.admit` (the channel from the chain, through the
cache; ``protocol.voucher.check_voucher``; the amount must be exactly the last accepted one
plus the price). Each refusal is a :class:`Refused`: the error (one of protocol/errors.py),
a reason label for the metrics and the terms the 402 carries — after authentication with
the caller's epoch and last accepted amount, and for a stale voucher the last accepted
answer's receipt digest, so a client that lost its state resynchronises. The gate changes
nothing; the service records a voucher only once its answer is proven. Used by the service.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace

from eth_utils import is_hex_address, to_checksum_address

from ghostproof.protocol.errors import (
    FormatError,
    GhostproofError,
    RequestTooLargeError,
    VoucherError,
)
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.protocol.payment import (
    MAX_HEADER_BYTES,
    PAYMENT_SIGNATURE_HEADER,
    Payment,
    Terms,
)
from ghostproof.protocol.response import Request
from ghostproof.protocol.voucher import ChannelState, check_voucher, recover_voucher_signer

from .channels import ChainView
from .ledger import Accepted, Ledger

CLIENT_HEADER = "X-GHOSTPROOF-CLIENT"


class Refused(Exception):
    """A payment the node will not accept: ``error`` (whose HTTP status is the answer's),
    ``reason`` (a metrics label), the ``terms`` to send back, and, when the voucher was
    stale, the ``last`` voucher the node accepted on the channel."""

    def __init__(self, error: GhostproofError, reason: str, terms: Terms, last: Accepted | None = None):
        super().__init__(str(error))
        self.error = error
        self.reason = reason
        self.terms = terms
        self.last = last


@dataclass(frozen=True)
class Admission:
    """A voucher the node may accept once its answer is proven."""

    payment: Payment
    channel: ChannelState
    previous: int


def _header_json(header: str, base: Terms) -> None:
    """Refuse a PAYMENT-SIGNATURE that is too long (413) or not base64 JSON (400) before x402's
    models see it (protocol.payment then refuses anything else in it with a VoucherError)."""
    if len(header) > MAX_HEADER_BYTES:
        raise Refused(RequestTooLargeError(f"{PAYMENT_SIGNATURE_HEADER} is longer than "
                                           f"{MAX_HEADER_BYTES} bytes", field=PAYMENT_SIGNATURE_HEADER),
                      "too_large", base)
    try:
        raw = base64.b64decode(header.encode("ascii"), validate=True)
        load_json(raw, what=PAYMENT_SIGNATURE_HEADER, max_bytes=MAX_HEADER_BYTES)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        message = str(exc) if isinstance(exc, FormatError) else f"{PAYMENT_SIGNATURE_HEADER} is not base64"
        raise Refused(FormatError(message, field=PAYMENT_SIGNATURE_HEADER), "malformed", base) from None


def parse_client(header: str | None) -> str | None:
    """The ``X-GHOSTPROOF-CLIENT`` address, checksummed; FormatError (400) if malformed."""
    if header is None:
        return None
    if not is_hex_address(header):
        raise FormatError(f"{CLIENT_HEADER} must be a 0x-prefixed 20-byte address", field=CLIENT_HEADER)
    return to_checksum_address(header)


class PaymentGate:
    """Checks payments for one node: its terms (chain, escrow, credit, prover, model, price)."""

    def __init__(self, base: Terms, view: ChainView, ledger: Ledger, margin: int):
        self.base = base
        self.view = view
        self.ledger = ledger
        self.margin = margin

    def terms_for(self, client: str | None) -> Terms:
        """Terms for a caller not yet authenticated: last accepted 0 (never revealed before a
        signature), and the channel's epoch from the chain when ``client`` is named."""
        if client is None:
            return self.base
        return replace(self.base, epoch=self.view.channel(client).epoch)

    def _terms(self, client: str, epoch: int) -> tuple[Terms, Accepted | None]:
        last = self.ledger.last_accepted(client, epoch)
        return replace(self.base, epoch=epoch, last_accepted=last.amount if last else 0), last

    def parse(self, header: str, request: Request) -> Payment:
        """The payment in ``header`` for ``request``; Refused on any form error, terms that are
        not this node's, or a voucher for another request. Costs nothing (no recovery, no I/O)."""
        return self.parse_for(header, request.hash)

    def parse_for(self, header: str, request_hash: bytes) -> Payment:
        """:meth:`parse` for a request named by its hash (a training's: training.py)."""
        _header_json(header, self.base)
        try:
            payment = Payment.from_header(header)
        except VoucherError as exc:
            exc.field = PAYMENT_SIGNATURE_HEADER
            raise Refused(exc, "malformed", self.base) from None
        got = replace(payment.terms, epoch=0, last_accepted=0)
        if got != replace(self.base, epoch=0, last_accepted=0):
            raise Refused(VoucherError(f"the payment accepts other terms than this node's "
                                       f"({got} instead of {self.base})", field="accepted"),
                          "wrong_terms", self.base)
        if payment.request_hash != request_hash:
            raise Refused(VoucherError("the payment's requestHash is not this request's hash",
                                       field="requestHash"), "wrong_request", self.base)
        return payment

    def authenticate(self, payment: Payment) -> None:
        """Refused unless the client signed the voucher: the one signature recovery a request
        without a valid voucher may cost."""
        voucher = payment.voucher
        try:
            signer = recover_voucher_signer(voucher, payment.signature)
        except VoucherError as exc:
            exc.field = "signature"
            raise Refused(exc, "bad_signature", self.base) from None
        if signer != voucher.client:
            raise Refused(VoucherError(f"voucher signed by {signer}, not by the client {voucher.client}",
                                       field="signature"), "bad_signature", self.base)

    def retry_of(self, payment: Payment) -> Accepted | None:
        """The accepted voucher this payment repeats (same client, epoch and amount), if any;
        Refused when that voucher paid for another request."""
        voucher = payment.voucher
        done = self.ledger.find(voucher.client, voucher.epoch, voucher.cumulative_amount)
        if done is None:
            return None
        if done.request_hash != payment.request_hash or done.answer is None:
            terms, last = self._terms(voucher.client, voucher.epoch)
            error = VoucherError(f"voucher amount {voucher.cumulative_amount} was already accepted "
                                 "for another request, or superseded (replay)", field="cumulativeAmount")
            raise Refused(error, "replayed", terms, last)
        return done

    def admit(self, payment: Payment) -> Admission:
        """Check the voucher against its channel (cached; re-read once when the cache may be
        behind a deposit or a new epoch); Refused unless it pays exactly the price."""
        client = payment.voucher.client
        try:
            return self._admit(payment, self.view.channel(client))
        except Refused as refused:
            if refused.reason not in ("over_deposit", "wrong_epoch"):
                raise
        return self._admit(payment, self.view.channel(client, fresh=True))

    def _admit(self, payment: Payment, channel: ChannelState) -> Admission:
        voucher = payment.voucher
        terms, last = self._terms(voucher.client, channel.epoch)
        previous = terms.last_accepted
        now = self.view.now()
        try:
            owed = check_voucher(voucher, payment.signature, prover=self.base.prover,
                                 escrow=self.base.escrow, chain_id=self.base.chain_id,
                                 channel=channel, now=now, margin=self.margin, previous=previous,
                                 signed_by=voucher.client)  # authenticate() recovered it already
        except VoucherError as exc:
            reason, exc.field = _reason(voucher.cumulative_amount, voucher.epoch, channel, previous,
                                        now, self.margin)
            raise Refused(exc, reason, terms, last if reason == "stale" else None) from None
        if owed != self.base.price:
            floor = max(previous, channel.redeemed)
            raise Refused(VoucherError(f"voucher amount {voucher.cumulative_amount} must be exactly "
                                       f"{floor + self.base.price} (last accepted {floor} + price "
                                       f"{self.base.price})", field="cumulativeAmount"),
                          "wrong_amount", terms, last)
        return Admission(payment, channel, previous)


def _reason(amount: int, epoch: int, channel: ChannelState, previous: int, now: int,
            margin: int) -> tuple[str, str]:
    """(metrics reason, field) of a voucher check_voucher refused, in its order of checks."""
    if epoch != channel.epoch:
        return "wrong_epoch", "epoch"
    if channel.withdrawal_due_within(now, margin):
        return "withdrawal_pending", "epoch"
    if amount <= max(previous, channel.redeemed):
        return "stale", "cumulativeAmount"
    return "over_deposit", "cumulativeAmount"
