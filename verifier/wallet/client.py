"""Querying a prover node and paying for it: the wallet's half of DESIGN §7.

``Client.query(model_id, x)`` does, in order:

1. reads the model from the registry on the chain — its ghostRoot, its registered prover,
   that it is active — never from the node; refuses a prover the wallet stopped paying;
   when the chain registers a version newer than the newest the wallet verified, verifies
   every rotation up to it first (follow.py: the update proofs and ghost files from the
   node's version endpoints, checked against the registered CIDs); a rotation that fails is
   kept as evidence, the prover is no longer paid, and ProofError is raised;
2. gets the ghost file (from the wallet folder, else from the node) and checks it against
   that root;
3. asks the node without payment and checks its terms (402 ``PAYMENT-REQUIRED``) against
   the chain: the registered prover, this deployment's escrow, credit token and chain, at
   most the registered price;
4. records the next voucher in the ledger — durably; its cumulative amount is the highest
   paid so far (the node's lastAccepted, the chain's redeemed total, what the node
   acknowledged to this wallet) plus the price, and never below what the wallet signed
   before (ledger.py) — *then* signs and sends it (``PAYMENT-SIGNATURE``);
5. on a corrective 402 (the node already accepted that much, or the channel moved to a new
   epoch), resynchronises from the 402's terms and pays again;
6. verifies the answer (ghostproof.verifier.trust.check_answer: the proof against the
   anchored root, the request it answers, the receipt's chain, registry and signer);
7. keeps it (archive.py) and returns it — or keeps it as evidence, stops paying that prover
   and raises the ProofError that names the failed check.

``Client.train(model_id, examples)`` pays for a training the same way (the voucher names
``keccak256("ghostproof/train/1\0" ‖ uint256 modelId ‖ body)``), then follows the model to the
version the training registered with the same verification, and checks that the proof the
node returned is the one the chain registered.

The node's lastAccepted is believed above what the ledger signed only when the ledger had
signed nothing on that channel when the query began (a new wallet folder for a key used
before), or when the client is told to (``trust_node_floor``: several wallet folders share
one key): otherwise a node could make the wallet sign away the whole deposit by claiming a
high lastAccepted.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ghostproof.adapters.chain import escrow
from ghostproof.adapters.chain.anchor import check_ghost_root
from ghostproof.adapters.chain.registry import RegisteredModel, check_active, read_model
from ghostproof.adapters.storage.answers import input_as_sent, request_to_json
from ghostproof.adapters.storage.layout import read_ghost_bytes
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import (
    ExternalError,
    FormatError,
    GhostproofError,
    PaymentError,
    ProofError,
    VoucherError,
)
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.hashing import keccak256, to_hex
from ghostproof.protocol.jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    Payment,
    Settlement,
    Terms,
    decode_payment_required,
)
from ghostproof.protocol.response import Request, Response
from ghostproof.protocol.response_json import loads_response
from ghostproof.protocol.response_wire import decode_binary
from ghostproof.protocol.voucher import ChannelState, Voucher, sign_voucher
from ghostproof.verifier.trust import Trust, check_answer
from ghostproof.verifier.verify import Expected, VerifiedOutput

from .archive import Paid, keep_answer
from .follow import Followed, VersionRejected, follow, keep_rejected
from .home import WalletHome
from .ledger import ChannelKey, Ledger
from .node import NodeHttp, Reply, error_text, node_error

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain

#: How many corrective 402s one query follows before giving up.
MAX_RESYNCS = 3
#: The most of a rejected training reply kept as evidence.
MAX_EVIDENCE_BYTES = 1 << 20
#: Sends one request to the node, with the PAYMENT-SIGNATURE header given (None: unpaid).
Send = Callable[[str | None], Reply]
#: The domain of a training's requestHash (the node's prover/node/training.py uses the same).
TRAIN_DOMAIN = b"ghostproof/train/1\x00"


def train_request_hash(model_id: int, body: bytes) -> bytes:
    """keccak256(TRAIN_DOMAIN ‖ uint256 modelId ‖ body): what a training's voucher names."""
    return keccak256(TRAIN_DOMAIN + model_id.to_bytes(32, "big") + body)


@dataclass(frozen=True, eq=False)
class Answer:
    """A verified answer the wallet paid for."""

    request: Request
    response: Response
    verified: VerifiedOutput
    prover: str
    price: int
    cumulative: int
    settlement: Settlement | None
    path: Path
    verify_ms: float
    followed: tuple[Followed, ...] = ()

    @property
    def top1(self) -> int:
        """The index of the largest output element (the class of a classifier)."""
        return self.verified.top1

    @property
    def output(self) -> np.ndarray:
        """The verifier's own exact output (int64, Q16 in units of s_V)."""
        return self.verified.output

    @property
    def values(self) -> np.ndarray:
        """The output as floats."""
        return self.verified.values

    def to_json(self) -> dict[str, object]:
        """``query --json``."""
        left = self.settlement.deposit_left if self.settlement is not None else None
        return {
            "modelId": self.request.model_id,
            "requestHash": "0x" + self.request.hash.hex(),
            "nonce": "0x" + self.request.nonce.hex(),
            "prover": self.prover,
            "valid": True,
            "top1": self.top1,
            "output": [int(v) for v in self.output],
            "values": [float(v) for v in self.values],
            "price": str(self.price),
            "cumulative": str(self.cumulative),
            "depositLeft": None if left is None else str(left),
            "answer": str(self.path),
            "verifyMs": round(self.verify_ms, 3),
            "followed": [f.to_json() for f in self.followed],
        }


@dataclass(frozen=True)
class Training:
    """A paid training, verified: the version it registered (and every version followed to
    reach it, that one last), what it cost, and the node's reply as received."""

    model_id: int
    version: int
    ghost_root: bytes
    prover: str
    price: int
    cumulative: int
    followed: tuple[Followed, ...]
    transaction: str | None
    reply: bytes

    def to_json(self) -> dict[str, object]:
        """``train --json``."""
        return {"modelId": self.model_id, "version": self.version, "ghostRoot": to_hex(self.ghost_root),
                "prover": self.prover, "price": str(self.price), "cumulative": str(self.cumulative),
                "transaction": self.transaction, "followed": [f.to_json() for f in self.followed]}


def with_context(exc: GhostproofError, text: str) -> GhostproofError:
    """``exc`` (same class and fields) with ``text`` as its one-line message."""
    exc.args = (text,)
    return exc


def check_terms(terms: Terms, model: RegisteredModel, deployment: Deployment) -> None:
    """PaymentError unless the node's ``terms`` are the chain's: the model, its registered
    prover, this deployment's chain, escrow and credit token, and no more than the
    registered price per query."""
    pairs = (
        ("model id", terms.model_id, model.model_id),
        ("prover", terms.prover.lower(), model.prover.lower()),
        ("chain id", terms.chain_id, deployment.chain_id),
        ("escrow", terms.escrow.lower(), deployment.escrow.lower()),
        ("credit token", terms.credit.lower(), deployment.credit.lower()),
    )
    for what, got, want in pairs:
        if got != want:
            raise PaymentError(f"the node asks to be paid with {what} {got}; the chain says {want}")
    if terms.price > model.price:
        raise PaymentError(
            f"the node asks {terms.price} per query; model {model.model_id}'s registered price is "
            f"{model.price}"
        )


class Client:
    """Queries one node and pays for its answers from one wallet (see the module docstring)."""

    def __init__(
        self,
        *,
        account: LocalAccount,
        home: WalletHome,
        ledger: Ledger,
        node: NodeHttp,
        chain: Chain,
        deployment: Deployment,
        binary: bool = False,
        trust_node_floor: bool = False,
    ) -> None:
        self.account = account
        self.home = home
        self.ledger = ledger
        self.node = node
        self.chain = chain
        self.deployment = deployment
        self.binary = binary
        self.trust_node_floor = trust_node_floor

    def close(self) -> None:
        """Close the node connection."""
        self.node.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ what the chain says

    def registered(self, model_id: int) -> RegisteredModel:
        """Model ``model_id`` from the registry: active, and with a prover the wallet still
        pays (PaymentError naming the evidence otherwise)."""
        model = read_model(self.chain, self.deployment, model_id)
        check_active(model)
        block = self.ledger.blocked(self.deployment.chain_id, model.prover)
        if block is not None:
            raise PaymentError(
                f"the wallet stopped paying prover {model.prover}: {block.reason} "
                f"(evidence in {block.evidence})"
            )
        return model

    def ghost(self, model: RegisteredModel) -> GhostFile:
        """The model's ghost file, checked against its on-chain ghostRoot: the copy in the
        wallet folder, else the node's (then kept). RootMismatchError if the node's differs."""
        cached = self.home.ghost(model.ghost_root)
        if cached.exists():
            _, ghost = read_ghost_bytes(cached)
            check_ghost_root(model, ghost)
            return ghost
        data = self.node.ghost(model.model_id)
        ghost = parse_ghost(data)
        check_ghost_root(model, ghost)
        self.home.write(cached, data)
        return ghost

    def _channel(self, prover: str) -> tuple[ChannelState, ChannelKey]:
        state = escrow.channel(self.chain, self.deployment, self.account.address, prover)
        key = ChannelKey(self.deployment.chain_id, self.deployment.escrow, self.account.address,
                         prover, state.epoch)
        return state, key

    # ------------------------------------------------------------ paying

    def _floor(self, terms: Terms, state: ChannelState, key: ChannelKey, trusting: bool) -> int:
        """What was already paid on the channel: the chain's redeemed total and the node's
        lastAccepted — above what the ledger signed only if ``trusting``."""
        node_says = terms.last_accepted if terms.epoch == state.epoch else 0
        signed = self.ledger.signed(key)
        if node_says > state.deposited:
            raise PaymentError(
                f"the node claims it accepted {node_says} on a channel holding {state.deposited}"
            )
        if node_says > signed and not trusting:
            raise PaymentError(
                f"the node claims it accepted {node_says} on the channel to {key.prover} (epoch "
                f"{key.epoch}), but this wallet signed at most {signed}: refusing to pay more "
                "(several wallet folders for one key? see docs/WALLET.md, resync)"
            )
        return max(state.redeemed, node_says)

    def _sign(
        self, request_hash: bytes, terms: Terms, model: RegisteredModel, trusting: bool
    ) -> tuple[int, Payment]:
        """Record the next voucher in the ledger (durably), then sign it; (voucher id, payment)."""
        state, key = self._channel(model.prover)
        floor = self._floor(terms, state, key, trusting)
        need = self.ledger.next_amount(key, floor, terms.price)
        if need > state.deposited:
            raise PaymentError(
                f"the channel to {model.prover} holds {state.deposited} credit units and this "
                f"query needs {need} in all: `ghostproof credits deposit --prover {model.prover} "
                "AMOUNT`"
            )
        voucher_id, amount = self.ledger.reserve(
            key, floor, terms.price, model_id=model.model_id, request_hash=request_hash,
            node=self.node.url,
        )
        voucher = Voucher(self.account.address, model.prover, state.epoch, amount,
                          self.deployment.chain_id, self.deployment.escrow)
        signature = sign_voucher(voucher, bytes(self.account.key))
        return voucher_id, Payment(terms, voucher, signature, request_hash)

    def _terms(self, reply: Reply, model: RegisteredModel) -> tuple[Terms, str | None]:
        """The node's terms from a 402, checked against the chain."""
        terms, error = decode_payment_required(reply.header(PAYMENT_REQUIRED_HEADER))
        check_terms(terms, model, self.deployment)
        return terms, error

    def _ask(self, send: Send, model: RegisteredModel) -> Terms:
        """The unpaid request: the node's terms (a 402)."""
        reply = send(None)
        if reply.status != 402:
            if reply.status == 200:
                raise ExternalError(f"node {self.node.url} answered without asking for payment")
            raise node_error(self.node.url, reply)
        return self._terms(reply, model)[0]

    def _resync(self, voucher_id: int, payment: Payment, reply: Reply, model: RegisteredModel) -> Terms:
        """After a 402 to a paid query: the new terms if the node already accepted at least
        the voucher's amount or names another epoch (a corrective 402), else PaymentError
        with the node's reason."""
        self.ledger.settle(voucher_id, "refused")
        try:
            terms, error = self._terms(reply, model)
        except VoucherError:
            raise PaymentError(f"node {self.node.url} refused the payment ({error_text(reply)})") from None
        stale = terms.last_accepted >= payment.voucher.cumulative_amount
        if not stale and terms.epoch == payment.voucher.epoch:
            raise PaymentError(
                f"node {self.node.url} refused the voucher for {payment.voucher.cumulative_amount}: "
                f"{error or error_text(reply)}"
            )
        return terms

    def _pay(self, send: Send, request_hash: bytes, model: RegisteredModel) -> tuple[Reply, Payment, int]:
        """Ask unpaid (the terms), then pay with the next voucher, following corrective 402s:
        the paid 200 reply, its payment and the ledger's voucher id. PaymentError,
        ExternalError or the node's refusal otherwise."""
        trusting = self.trust_node_floor or self.ledger.signed(self._channel(model.prover)[1]) == 0
        terms = self._ask(send, model)
        for _ in range(MAX_RESYNCS + 1):
            voucher_id, payment = self._sign(request_hash, terms, model, trusting)
            reply = send(payment.to_header())
            if reply.status == 402:
                terms = self._resync(voucher_id, payment, reply, model)
                continue
            if reply.status != 200:
                self.ledger.settle(voucher_id, "failed")
                raise node_error(self.node.url, reply)
            return reply, payment, voucher_id
        raise PaymentError(f"node {self.node.url} kept refusing the payment after {MAX_RESYNCS} resyncs")

    def follow(self, model: RegisteredModel) -> tuple[Followed, ...]:
        """Verify and record every version of ``model`` newer than the newest the wallet
        verified (follow.py). A rotation that fails: kept as evidence, the prover no longer
        paid, ProofError (VersionRejected) raised."""
        try:
            return tuple(follow(self.chain, self.deployment, self.home, self.node, model))
        except VersionRejected as exc:
            r = exc.rotation
            path = keep_rejected(self.home, self.deployment, self.node.url, model.model_id, r.version,
                                 str(exc), {"rotation": r.to_json()})
            self.ledger.block(self.deployment.chain_id, model.prover, str(exc), str(path))
            raise with_context(exc, f"{exc}; kept as evidence in {path}; the wallet no longer pays "
                                    f"prover {model.prover}") from None

    def query(self, model_id: int, x: np.ndarray, *, nonce: bytes | None = None) -> Answer:
        """Ask model ``model_id`` about ``x``, pay, and return the verified answer.

        Raises ProofError (and subclasses) for an answer that fails verification (kept as
        evidence; the prover is no longer paid) or a new version whose update does not
        verify, PaymentError for payment trouble (terms that differ from the chain, too small
        a deposit, a refused voucher, a stopped prover), ExternalError for a node or chain
        that is down, InputError for bad input.
        """
        model = self.registered(model_id)
        followed = self.follow(model)
        ghost = self.ghost(model)
        request = Request(model_id, input_as_sent(np.asarray(x)),
                          nonce if nonce is not None else secrets.token_bytes(32))
        body = json.dumps(request_to_json(request)).encode()

        def send(header: str | None) -> Reply:
            return self.node.query(model_id, body, payment=header, binary=self.binary)

        reply, payment, voucher_id = self._pay(send, request.hash, model)
        answer = self._receive(reply, request, payment, voucher_id, model, ghost)
        return replace(answer, followed=followed + answer.followed)

    def train(self, model_id: int, examples: list[dict[str, object]]) -> Training:
        """Pay the node to train model ``model_id`` on ``examples`` (prover.update's example
        objects: ``input`` or ``sample``, and ``target``, ``label`` or ``output``), then
        verify the version it registered before accepting it (follow.py), and that the proof
        the node returned is the registered one. ProofError when it is not (kept as evidence,
        the prover no longer paid); the node's refusals (403 training off, 409 no update rule,
        422 bad examples) as InputError; PaymentError, ExternalError as :meth:`query`."""
        model = self.registered(model_id)
        self.follow(model)
        body = json.dumps({"examples": examples}).encode()

        def send(header: str | None) -> Reply:
            return self.node.train(model_id, body, payment=header)

        reply, payment, voucher_id = self._pay(send, train_request_hash(model_id, body), model)
        accepted = payment.voucher.cumulative_amount
        try:
            claimed, followed = self._check_training(reply, model)
        except VersionRejected:
            self.ledger.settle(voucher_id, "rejected", accepted)  # follow() kept the evidence
            raise
        except ProofError as exc:
            self.ledger.settle(voucher_id, "rejected", accepted)
            reason = f"{type(exc).__name__}: {exc}"
            kept = {"reply": reply.body[:MAX_EVIDENCE_BYTES].decode("utf-8", "replace")}
            path = keep_rejected(self.home, self.deployment, self.node.url, model_id, model.version + 1,
                                 reason, kept)
            self.ledger.block(self.deployment.chain_id, model.prover, reason, str(path))
            raise with_context(exc, f"training rejected ({reason}); kept as evidence in {path}; the "
                                    f"wallet no longer pays prover {model.prover}") from None
        self.ledger.settle(voucher_id, "accepted", accepted)
        rotation = followed[-1].verified.rotation
        told = claimed.get("rotation")
        tx = told.get("transaction") if isinstance(told, dict) else None
        return Training(model_id, rotation.version, rotation.new_root, model.prover, payment.terms.price,
                        accepted, followed, tx if isinstance(tx, str) else None, reply.body)

    def _check_training(self, reply: Reply, before: RegisteredModel) -> tuple[dict, tuple[Followed, ...]]:
        """The node's training reply, held against the chain: the chain registers a newer
        version whose ghostRoot the reply names, every version up to it verifies, and the
        reply's update proof is the one registered. ProofError otherwise."""
        if reply.truncated:
            raise ProofError(f"the training reply is larger than {MAX_RESPONSE_JSON_BYTES} bytes")
        try:
            claimed = load_json(reply.body, what="training reply", max_bytes=MAX_RESPONSE_JSON_BYTES)
        except FormatError as exc:
            raise ProofError(f"the training reply is malformed: {exc}") from None
        if not isinstance(claimed, dict):
            raise ProofError("the training reply is not a JSON object")
        after = read_model(self.chain, self.deployment, before.model_id)
        if after.version <= before.version or claimed.get("ghostRoot") != to_hex(after.ghost_root):
            raise ProofError(f"the node says the training made ghostRoot {claimed.get('ghostRoot')!s:.80}; "
                             f"the chain registers {to_hex(after.ghost_root)} (version {after.version})")
        followed = self.follow(after)
        if not followed or followed[-1].verified.rotation.new_root != after.ghost_root:
            raise ProofError(f"version {after.version} of model {after.model_id} was not verified")
        registered_proof = self.node.version(after.model_id, after.ghost_root, "update")
        same = cid_for_bytes(registered_proof) == followed[-1].verified.rotation.update_proof_cid
        if not same or json.loads(registered_proof) != claimed.get("updateProof"):
            raise ProofError("the update proof the node returned is not the one the chain registered")
        return claimed, followed

    # ------------------------------------------------------------ the answer

    def _settlement(self, reply: Reply) -> Settlement | None:
        try:
            return Settlement.from_header(reply.header(PAYMENT_RESPONSE_HEADER))
        except VoucherError:
            return None  # informational only: the answer is checked on its own

    def _trust(self, model: RegisteredModel, request: Request) -> Trust:
        expected = Expected(model_id=model.model_id, chain_id=self.deployment.chain_id,
                            verifying_contract=self.deployment.registry, prover=model.prover,
                            request=request)
        return Trust(model.ghost_root, f"chain {self.deployment.chain_id} (model {model.model_id})",
                     expected, model)

    def _receive(
        self, reply: Reply, request: Request, payment: Payment, voucher_id: int,
        model: RegisteredModel, ghost: GhostFile,
    ) -> Answer:
        """Verify the paid answer; keep it; settle the ledger; return it or raise."""
        settlement = self._settlement(reply)
        # a paid 200 acknowledges this voucher; the settlement's own figure is not believed
        # (a node could name any amount there to lift the next voucher's floor)
        accepted = payment.voucher.cumulative_amount
        paid = Paid(self.node.url, model.model_id, self.deployment.chain_id, self.deployment.registry,
                    model.ghost_root, payment, settlement)
        started = time.perf_counter()
        followed: tuple[Followed, ...] = ()
        try:
            response = parse_answer(reply)
            if response.ghost_root != model.ghost_root:  # trained since the chain was read?
                model, ghost, followed = self._newer(model, ghost, response.ghost_root)
            verified = check_answer(response, ghost, self._trust(model, request))
        except ProofError as exc:
            raise self._reject(exc, reply.body, request, paid, voucher_id, accepted) from None
        ms = (time.perf_counter() - started) * 1e3
        path = keep_answer(self.home, request, reply.body, paid)
        self.ledger.settle(voucher_id, "accepted", accepted)
        return Answer(request, response, verified, model.prover, payment.terms.price,
                      payment.voucher.cumulative_amount, settlement, path, ms, followed)

    def _newer(self, model: RegisteredModel, ghost: GhostFile,
               root: bytes) -> tuple[RegisteredModel, GhostFile, tuple[Followed, ...]]:
        """An answer signed under ``root``, not the root read before the query: when the chain
        now registers ``root`` (the node trained in between), follow it — verified — and check
        the answer against it; else keep the old model (the answer then fails its root check)."""
        now = read_model(self.chain, self.deployment, model.model_id)
        if now.ghost_root != root or now.version <= model.version:
            return model, ghost, ()
        followed = self.follow(now)
        return now, self.ghost(now), followed

    def _reject(
        self, exc: ProofError, body: bytes, request: Request, paid: Paid, voucher_id: int, accepted: int
    ) -> ProofError:
        """Keep a failed answer as evidence, stop paying its prover; the error to raise."""
        check = f"{type(exc).__name__}: {exc}"
        path = keep_answer(self.home, request, body, paid, reason=check)
        self.ledger.settle(voucher_id, "rejected", accepted)
        prover = paid.payment.voucher.prover
        self.ledger.block(paid.chain_id, prover, check, str(path))
        text = (f"answer rejected ({check}); kept as evidence in {path}; the wallet no longer pays "
                f"prover {prover}")
        return with_context(exc, text)  # type: ignore[return-value]


def parse_answer(reply: Reply) -> Response:
    """The answer in a 200 reply (JSON, or the binary wire form); a ProofError if it cannot
    be read: the node was paid for it, so a malformed answer is a failed one."""
    if reply.truncated:
        raise ProofError(f"the answer is larger than {MAX_RESPONSE_JSON_BYTES} bytes")
    try:
        if reply.body[:3] == b"GPR":
            return decode_binary(reply.body)
        return loads_response(reply.body)
    except FormatError as exc:
        raise ProofError(f"the answer is malformed: {exc}") from None
