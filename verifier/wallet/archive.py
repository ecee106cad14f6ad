"""Keeping what the wallet paid for: every answer, verified or not, in the wallet folder.

One folder per request (``answers/<requestHash>/``, or ``answers/rejected/<requestHash>/``
for an answer that failed verification, kept as evidence against the prover), holding:

- ``request.json`` — the request sent (a request file: ``verify --request`` reads it);
- ``response.json`` or ``response.bin`` — the node's reply body, byte for byte as received
  (the receipt is inside: the prover's signature over the answer);
- ``payment.json`` — the voucher paid for it, its signature, the settlement the node
  returned, the model, prover, node and chain, and the verdict (``verified``, ``reason``).

``ghostproof verify answers/<h>/response.json --request answers/<h>/request.json --ghost
ghosts/<ghostRoot>.json --rpc URL --model-id ID`` checks any of them again. Files are 0600.
Used by ghostproof.verifier.wallet.client.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ghostproof.adapters.storage.answers import request_to_json
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.payment import Payment, Settlement
from ghostproof.protocol.response import Request

from .home import WalletHome

REQUEST_FILE = "request.json"
RESPONSE_JSON_FILE = "response.json"
RESPONSE_BINARY_FILE = "response.bin"
PAYMENT_FILE = "payment.json"


@dataclass(frozen=True)
class Paid:
    """What one answer was paid with, and where it came from."""

    node: str
    model_id: int
    chain_id: int
    registry: str
    ghost_root: bytes
    payment: Payment
    settlement: Settlement | None

    def to_json(self) -> dict[str, object]:
        """The payment record of ``payment.json`` (without the verdict)."""
        settlement = self.settlement
        return {
            "node": self.node,
            "modelId": self.model_id,
            "chainId": self.chain_id,
            "registry": self.registry,
            "ghostRoot": to_hex(self.ghost_root),
            "prover": self.payment.voucher.prover,
            "voucher": self.payment.voucher.to_json(),
            "signature": to_hex(self.payment.signature),
            "requestHash": to_hex(self.payment.request_hash),
            "settlement": None if settlement is None else {
                "accepted": str(settlement.accepted), "depositLeft": str(settlement.deposit_left),
                "epoch": settlement.epoch, "payer": settlement.payer,
            },
        }


def keep_answer(
    home: WalletHome, request: Request, body: bytes, paid: Paid, *, reason: str | None = None
) -> Path:
    """Write the request, the reply ``body`` as received and the payment record into the
    answer's folder (``rejected`` when ``reason`` is given); return the folder."""
    folder = home.folder(home.answer(request.hash, rejected=reason is not None))
    name = RESPONSE_BINARY_FILE if body[:3] == b"GPR" else RESPONSE_JSON_FILE
    home.write(folder / name, body)
    home.write(folder / REQUEST_FILE, (json.dumps(request_to_json(request)) + "\n").encode())
    record = {**paid.to_json(), "response": name, "verified": reason is None, "reason": reason,
              "keptAt": int(time.time())}
    home.write(folder / PAYMENT_FILE, (json.dumps(record, indent=2) + "\n").encode())
    return folder
