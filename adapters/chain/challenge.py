"""GhostRegistry.challenge from Python: a dry run with its gas, and the transaction that
slashes a prover's stake (DESIGN §6).

The evidence is built by the verifier (protocol/challenge.py); this module only sends it.
A challenge that would fail is reported by its custom error before anything is sent
(``tx.transact`` estimates gas first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from ghostproof.protocol.challenge import ChallengeEvidence

from .deployment import Deployment, contract
from .provider import Chain
from .tx import estimate, transact


def _registry(chain: Chain, deployment: Deployment) -> Any:
    return contract(chain, "GhostRegistry", deployment.registry)


def challenge_fn(chain: Chain, deployment: Deployment, evidence: ChallengeEvidence) -> Any:
    """The bound GhostRegistry.challenge call carrying ``evidence``."""
    return _registry(chain, deployment).functions.challenge(*evidence.contract_args())


def challenge_gas(chain: Chain, deployment: Deployment, sender: str, evidence: ChallengeEvidence) -> int:
    """Gas the challenge would use if ``sender`` sent it now (a dry run: nothing is sent).

    Raises TransactionRevertedError, with the decoded GhostRegistry* error, when it would fail.
    """
    return estimate(chain, challenge_fn(chain, deployment, evidence), sender)


@dataclass(frozen=True)
class Slash:
    """What a successful challenge did (from its ProverSlashed event and receipt)."""

    model_id: int
    receipt_digest: bytes
    challenger: str
    layer: int
    column: int
    score: int
    tau: int
    reward: int
    burned: int
    tx_hash: str
    gas_used: int
    block: int

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` output (amounts in credit base units, as strings)."""
        return {
            "modelId": self.model_id,
            "receiptDigest": "0x" + self.receipt_digest.hex(),
            "challenger": self.challenger,
            "layer": self.layer,
            "column": self.column,
            "score": self.score,
            "tau": self.tau,
            "reward": str(self.reward),
            "burned": str(self.burned),
            "tx": self.tx_hash,
            "gasUsed": self.gas_used,
            "block": self.block,
        }


def submit_challenge(
    chain: Chain, deployment: Deployment, account: LocalAccount, evidence: ChallengeEvidence
) -> Slash:
    """Send the challenge from ``account``; the slash it caused.

    Raises TransactionRevertedError (decoded) and sends nothing if it would revert;
    InsufficientFundsError if the account cannot pay the gas.
    """
    registry = _registry(chain, deployment)
    receipt = transact(chain, account, challenge_fn(chain, deployment, evidence), "challenge")
    args = registry.events.ProverSlashed().process_receipt(receipt, errors=DISCARD)[0]["args"]
    return Slash(
        model_id=int(args["modelId"]),
        receipt_digest=bytes(args["receiptDigest"]),
        challenger=str(args["challenger"]),
        layer=int(args["layer"]),
        column=int(args["column"]),
        score=int(args["score"]),
        tau=int(args["tau"]),
        reward=int(args["reward"]),
        burned=int(args["burned"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
        block=int(receipt["blockNumber"]),
    )
