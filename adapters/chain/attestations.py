"""GhostAttestations client: register an auditor's BLS key (with its proof of possession),
read the current epoch and a model's latest attestation, and aggregate signed attestations
into the one transaction that records them.

Used by ghostproof.verifier.attest (``ghostproof attest …``), ``model onchain``, the wallet's
``query`` and scripts/bench_attest.py. The BLS arithmetic is ghostproof.protocol.bls; the
pairings run in the contract (``verifySignature`` is a free view), never in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from ghostproof.protocol import bls
from ghostproof.protocol.errors import AttestationError, DeploymentError, TransactionRevertedError

from .deployment import Deployment, check_deployment, contract, load_deployment
from .provider import Chain, connect
from .tx import call, transact

#: Registered auditors read per ``auditors(start, count)`` call.
AUDITOR_PAGE = 500


def _attestations(chain: Chain, deployment: Deployment) -> Any:
    """The deployment's GhostAttestations; DeploymentError if it has none."""
    if deployment.attestations is None:
        raise DeploymentError(
            f"the deployment on chain {deployment.chain_id} has no GhostAttestations contract "
            "(deployed before attestations existed: run `ghostproof deploy` again)"
        )
    return contract(chain, "GhostAttestations", deployment.attestations)


@dataclass(frozen=True)
class AttestationStatus:
    """A model's latest recorded attestation and where the chain is now."""

    model_id: int
    ghost_root: bytes
    epoch: int
    signers: int
    auditors: int
    current_epoch: int
    auditors_now: int

    @property
    def attested(self) -> bool:
        """True iff some auditors ever attested the model."""
        return self.signers > 0

    @property
    def current(self) -> bool:
        """True iff the record is for the current epoch."""
        return self.attested and self.epoch == self.current_epoch

    def line(self) -> str:
        """One human line: ``3 of 4 auditors attested in epoch 20000 (current)``."""
        if not self.attested:
            return f"no auditor has attested it ({self.auditors_now} auditors registered)"
        when = "current" if self.current else f"the chain is at epoch {self.current_epoch}"
        return (f"{self.signers} of {self.auditors} auditors attested in epoch {self.epoch} "
                f"({when})")

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` output."""
        return {
            "signers": self.signers,
            "auditors": self.auditors,
            "epoch": self.epoch,
            "ghostRoot": "0x" + self.ghost_root.hex() if self.attested else None,
            "currentEpoch": self.current_epoch,
            "current": self.current,
            "auditorsNow": self.auditors_now,
        }


def current_epoch(chain: Chain, deployment: Deployment) -> int:
    """The contract's current epoch (latest block's timestamp / epoch length)."""
    return int(call(chain, _attestations(chain, deployment).functions.currentEpoch(), "currentEpoch"))


def read_attestation(chain: Chain, deployment: Deployment, model_id: int) -> AttestationStatus:
    """Model ``model_id``'s latest attestation (signers 0 when none was ever recorded)."""
    c = _attestations(chain, deployment)
    root, epoch, signers, auditors = call(chain, c.functions.attestation(model_id), "attestation")
    return AttestationStatus(
        model_id=model_id, ghost_root=bytes(root), epoch=int(epoch), signers=int(signers),
        auditors=int(auditors),
        current_epoch=int(call(chain, c.functions.currentEpoch(), "currentEpoch")),
        auditors_now=int(call(chain, c.functions.auditorCount(), "auditorCount")),
    )


def read_attestation_at(rpc_url: str | None, deployment_file: Path | None,
                        model_id: int) -> AttestationStatus | None:
    """:func:`read_attestation` through ``rpc_url`` (else the deployment file's RPC), as
    ``model onchain`` reads the model itself; None when the deployment has no GhostAttestations.
    DeploymentError, WrongChainError, ChainUnreachableError as anchor.read_registered_model."""
    deployment = load_deployment(deployment_file)
    if deployment.attestations is None:
        return None
    url = rpc_url or deployment.rpc
    if url is None:
        raise DeploymentError("no --rpc given and the deployment file names no RPC")
    chain = connect(url)
    check_deployment(chain, deployment)
    return read_attestation(chain, deployment, model_id)


def attestation_message(chain: Chain, deployment: Deployment, model_id: int, ghost_root: bytes,
                        epoch: int) -> bytes:
    """The message auditors sign for this model, root and epoch (protocol.bls computes the
    same bytes; this asks the contract, for checks)."""
    fn = _attestations(chain, deployment).functions.attestationMessage(model_id, ghost_root, epoch)
    return bytes(call(chain, fn, "attestationMessage"))


def key_of(chain: Chain, deployment: Deployment, address: str) -> tuple[bytes, bool]:
    """(key hash, registered now) of ``address``'s BLS key; zero hash if it never had one."""
    key_hash, active = call(chain, _attestations(chain, deployment).functions.keyOf(address), "keyOf")
    return bytes(key_hash), bool(active)


def registered_auditors(chain: Chain, deployment: Deployment) -> list[tuple[str, bls.G1Point]]:
    """Every registered auditor now: (address, G1 key), read AUDITOR_PAGE at a time."""
    c = _attestations(chain, deployment)
    total = int(call(chain, c.functions.auditorCount(), "auditorCount"))
    found: list[tuple[str, bls.G1Point]] = []
    for start in range(0, total, AUDITOR_PAGE):
        owners, keys = call(chain, c.functions.auditors(start, AUDITOR_PAGE), "auditors")
        found.extend((o, (int(k[0]), int(k[1]))) for o, k in zip(owners, keys, strict=True))
    return found


def verify_signature(chain: Chain, deployment: Deployment, message: bytes, pk_g1: bls.G1Point,
                     pk_g2: bls.G2Point, sigma: bls.G1Point) -> bool:
    """The contract's check of one signature (``verifySignature``, a free view): ``sigma``
    signs ``message`` under the key, and the key's two halves match."""
    fn = _attestations(chain, deployment).functions.verifySignature(message, pk_g1, pk_g2, sigma)
    try:
        return bool(call(chain, fn, "verifySignature"))
    except TransactionRevertedError as exc:
        if exc.error == "GhostAttestationsBadPoint":
            return False
        raise


def register_auditor(chain: Chain, deployment: Deployment, account: LocalAccount,
                     secret_key: int) -> TxReceipt:
    """Register the BLS key of ``secret_key`` for ``account``, with its proof of possession
    (a signature of the possession message naming ``account`` and the key).

    AttestationError if ``account`` already has a registered key; TransactionRevertedError
    (GhostAttestationsKeyTaken, …) if the contract refuses.
    """
    c = _attestations(chain, deployment)
    key_hash, active = key_of(chain, deployment, account.address)
    if active:
        raise AttestationError(
            f"{account.address} already has the registered BLS key 0x{key_hash.hex()}")
    pk_g1 = bls.public_key_g1(secret_key)
    message = bls.possession_message(chain.chain_id, c.address, account.address, pk_g1)
    proof = bls.sign(secret_key, message)
    fn = c.functions.register(pk_g1, bls.public_key_g2(secret_key), proof)
    return transact(chain, account, fn, "register auditor")


def deregister_auditor(chain: Chain, deployment: Deployment, account: LocalAccount) -> TxReceipt:
    """Withdraw ``account``'s BLS key (GhostAttestationsNotAuditor if it has none)."""
    return transact(chain, account, _attestations(chain, deployment).functions.deregister(),
                    "deregister auditor")


@dataclass(frozen=True)
class Submission:
    """What :func:`submit_attestations` sent: the counts and the transaction's gas."""

    model_id: int
    epoch: int
    signers: int
    auditors: int
    non_signers: int
    gas_used: int
    tx_hash: str

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` output."""
        return {"modelId": self.model_id, "epoch": self.epoch, "signers": self.signers,
                "auditors": self.auditors, "nonSigners": self.non_signers,
                "gasUsed": self.gas_used, "tx": self.tx_hash}


def _signers_and_non_signers(
    registered: list[tuple[str, bls.G1Point]], signed: Sequence[bls.SignedAttestation]
) -> list[bls.G1Point]:
    """The registered keys that did not sign, sorted by key hash (the contract's order).
    AttestationError when a signature's key is not registered, or belongs to another address."""
    owner_of = {bls.pubkey_hash(key): owner for owner, key in registered}
    signer_hashes: set[bytes] = set()
    for s in signed:
        key_hash = bls.pubkey_hash(s.pubkey_g1)
        owner = owner_of.get(key_hash)
        if owner is None or owner.lower() != s.auditor.lower():
            raise AttestationError(
                f"the signature of {s.auditor} is by key 0x{key_hash.hex()}, which is not "
                f"{s.auditor}'s registered key (run `ghostproof attest register` first)")
        if key_hash in signer_hashes:
            raise AttestationError(f"two signatures by auditor {s.auditor}")
        signer_hashes.add(key_hash)
    non_signers = [key for _, key in registered if bls.pubkey_hash(key) not in signer_hashes]
    return sorted(non_signers, key=bls.pubkey_hash)


def _bad_signers(chain: Chain, deployment: Deployment,
                 signed: Sequence[bls.SignedAttestation]) -> list[str]:
    """The auditors whose signature the contract rejects on its own."""
    return [s.auditor for s in signed
            if not verify_signature(chain, deployment, s.message, s.pubkey_g1, s.pubkey_g2, s.signature)]


def submit_attestations(chain: Chain, deployment: Deployment, account: LocalAccount,
                        signed: Sequence[bls.SignedAttestation]) -> Submission:
    """Aggregate ``signed`` (one statement: same model, root and epoch — see
    :attr:`bls.SignedAttestation.statement`) and record them in one transaction from
    ``account``; every registered auditor without a signature is passed as a non-signer.

    AttestationError when there is nothing to submit, statements differ, a key is not its
    auditor's registered key, or (the aggregate failing) naming the auditors whose own
    signature fails; TransactionRevertedError for the contract's other refusals
    (GhostAttestationsWrongEpoch, GhostAttestationsNotMore, …).
    """
    if not signed:
        raise AttestationError("no signatures to submit")
    if len({s.statement for s in signed}) != 1:
        raise AttestationError("the signatures are for different models, roots, epochs or chains")
    registered = registered_auditors(chain, deployment)
    non_signers = _signers_and_non_signers(registered, signed)
    sigma = bls.aggregate_g1(s.signature for s in signed)
    apk_g2 = bls.aggregate_g2(s.pubkey_g2 for s in signed)
    first = signed[0]
    fn = _attestations(chain, deployment).functions.submitAttestation(
        first.model_id, first.epoch, sigma, apk_g2, non_signers)
    try:
        receipt = transact(chain, account, fn, "submit attestation")
    except TransactionRevertedError as exc:
        if exc.error != "GhostAttestationsBadSignature":
            raise
        bad = _bad_signers(chain, deployment, signed)
        raise AttestationError(
            "the aggregate signature does not verify: "
            + (f"bad signature from {', '.join(bad)}" if bad else
               "every signature verifies alone, but not for the registered root and epoch")
        ) from exc
    return Submission(
        model_id=first.model_id, epoch=first.epoch, signers=len(registered) - len(non_signers),
        auditors=len(registered), non_signers=len(non_signers), gas_used=int(receipt["gasUsed"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
    )
