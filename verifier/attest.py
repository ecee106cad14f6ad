"""Availability attestations, the auditor's side (DESIGN §6, docs/ATTESTATIONS.md): audit a
registered model — every chunk fetched and checked, the ghostRoot rebuilt and compared with
the one on-chain (verifier.audit) — then BLS-sign that it is available for the current epoch;
register the auditor's BLS key; aggregate signature files into one transaction.

The BLS secret key is derived from the auditor's signing account (its keystore, a key file
or a dev account): sk = 1 + keccak256("ghostproof.bls-key.v1" ‖ account key) mod (r − 1)
(protocol.bls.secret_key_from_seed). There is no second secret file to guard; the account
key cannot be recovered from the BLS key; a new account means a new BLS key (register it).

Used by ``ghostproof attest`` (cli/attest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.attestations import (
    Submission,
    current_epoch,
    register_auditor,
    submit_attestations,
)
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import RegisteredModel, read_model
from ghostproof.adapters.fileio import atomic_write, read_capped
from ghostproof.adapters.storage.store import BlockStore
from ghostproof.adapters.storage.transfer import Progress
from ghostproof.protocol import bls
from ghostproof.protocol.errors import AttestationError
from ghostproof.protocol.ghost import GhostFile

from .audit import AuditReport, audit_dir, audit_store


def bls_secret_key(account: LocalAccount) -> int:
    """The auditor's BLS secret key, derived from its signing account's private key."""
    return bls.secret_key_from_seed(bytes(account.key))


@dataclass(frozen=True)
class Target:
    """What an attestation will be about: the registered model and the epoch to sign for."""

    model: RegisteredModel
    epoch: int


def attest_target(chain: Chain, deployment: Deployment, model_id: int) -> Target:
    """Model ``model_id`` as registered and the current epoch, read before the audit (a long
    audit may cross an epoch boundary: the signature is for the epoch it started in).
    UnknownModelError for an unknown id; DeploymentError without GhostAttestations."""
    epoch = current_epoch(chain, deployment)
    return Target(read_model(chain, deployment, model_id), epoch)


@dataclass(frozen=True)
class Attested:
    """A signed attestation and the audit behind it."""

    signed: bls.SignedAttestation
    report: AuditReport


def attest_model(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    target: Target,
    *,
    model_dir: Path | None = None,
    open_store: Callable[[], BlockStore] | None = None,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    on_ghost: Callable[[GhostFile], None] | None = None,
) -> Attested:
    """Audit ``target``'s model (:func:`attest_target`) against its registered ghostRoot —
    from ``model_dir`` if given, else its ghost file CID from the store ``open_store()`` opens —
    and sign it for ``target.epoch`` with ``account``'s BLS key.

    RootMismatchError (exit 1, nothing signed) when the audit fails; the store's errors when a
    block is missing.
    """
    model, epoch, model_id = target.model, target.epoch, target.model.model_id
    if model_dir is not None:
        report = audit_dir(model_dir, expected_ghost_root=model.ghost_root, on_progress=on_progress,
                           on_ghost=on_ghost)
    elif open_store is not None:
        with open_store() as store:
            report = audit_store(model.ghost_cid, store, expected_ghost_root=model.ghost_root,
                                 timeout=timeout, on_progress=on_progress, on_ghost=on_ghost)
    else:
        raise AttestationError("give a model directory or a block store to audit from")
    report.check()
    sk = bls_secret_key(account)
    contract = str(deployment.attestations)  # current_epoch raised DeploymentError if None
    message = bls.attestation_message(chain.chain_id, contract, deployment.registry,
                                      model_id, model.ghost_root, epoch)
    signed = bls.SignedAttestation(
        chain_id=chain.chain_id, attestations=contract, registry=deployment.registry,
        model_id=model_id, ghost_root=model.ghost_root, epoch=epoch, auditor=account.address,
        pubkey_g1=bls.public_key_g1(sk), pubkey_g2=bls.public_key_g2(sk),
        signature=bls.sign(sk, message),
    )
    return Attested(signed, report)


def write_signature(path: Path, signed: bls.SignedAttestation) -> None:
    """Write a signature file atomically (public data: mode 0644)."""
    atomic_write(path, (json.dumps(signed.to_json(), indent=2) + "\n").encode())


def read_signature(path: Path) -> bls.SignedAttestation:
    """Read and parse a signature file (AttestationError naming it when unreadable or bad)."""
    try:
        data = read_capped(path, bls.MAX_SIGNATURE_FILE_BYTES)
    except OSError as exc:
        raise AttestationError(f"cannot read signature file {path}: {exc.strerror or exc}") from exc
    return bls.SignedAttestation.from_bytes(data, f"signature file {path}")


def register_key(chain: Chain, deployment: Deployment, account: LocalAccount) -> tuple[bls.G1Point, int]:
    """Register ``account``'s derived BLS key with its proof of possession; (G1 key, gas)."""
    sk = bls_secret_key(account)
    receipt = register_auditor(chain, deployment, account, sk)
    return bls.public_key_g1(sk), int(receipt["gasUsed"])


def check_statement(chain: Chain, deployment: Deployment, signed: Sequence[bls.SignedAttestation],
                    paths: Sequence[Path]) -> None:
    """AttestationError unless every signature is for this chain and contract, the model's
    registered ghostRoot, and the current epoch (naming the first file that is not)."""
    epoch = current_epoch(chain, deployment)
    roots: dict[int, bytes] = {}
    for s, path in zip(signed, paths, strict=True):
        if s.chain_id != chain.chain_id or s.attestations.lower() != str(deployment.attestations).lower():
            raise AttestationError(f"{path} is for chain {s.chain_id}, contract {s.attestations}, "
                                   "not this deployment")
        if s.epoch != epoch:
            raise AttestationError(f"{path} is for epoch {s.epoch}; the chain is at epoch {epoch} "
                                   "(stale: run `ghostproof attest` again)")
        if s.model_id not in roots:
            roots[s.model_id] = read_model(chain, deployment, s.model_id).ghost_root
        if s.ghost_root != roots[s.model_id]:
            raise AttestationError(f"{path} attests ghostRoot 0x{s.ghost_root.hex()}, not model "
                                   f"{s.model_id}'s registered 0x{roots[s.model_id].hex()}")


def submit(chain: Chain, deployment: Deployment, account: LocalAccount, paths: Sequence[Path]) -> Submission:
    """Read the signature files ``paths``, check them (:func:`check_statement`) and record
    their aggregate from ``account`` (adapters.chain.attestations.submit_attestations)."""
    signed = [read_signature(p) for p in paths]
    check_statement(chain, deployment, signed, paths)
    return submit_attestations(chain, deployment, account, signed)
