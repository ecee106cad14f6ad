"""Anchoring a trained model's new versions (DESIGN §10): ``ghostproof model rotate``.

A model directory that ``model update`` moved past the version registered on-chain keeps
every ghost file and update proof under ``versions/`` (adapters/storage/layout.py). Rotating
walks that chain of updates from the registered ghostRoot to the directory's, checks each
transition with the verifier's own ``verify_update``, publishes the changed chunks, the new
ghost file and the update proof to a block store, and registers each version in order with
``GhostRegistry.rotateRoot``, so any client can fetch and check every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import Rotation, read_model, rotate_root
from ghostproof.adapters.fileio import read_capped
from ghostproof.adapters.storage.layout import (
    archived_ghost_path,
    archived_update_path,
    read_ghost_bytes,
)
from ghostproof.adapters.storage.store import BlockStore
from ghostproof.adapters.storage.transfer import PublishReport, publish
from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import InputError
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.update import UpdateProof, loads_update, verify_update

MAX_PROOF_BYTES = MAX_CHUNK_BYTES  # stored as one raw IPFS block


@dataclass(frozen=True)
class Transition:
    """One archived step: the old and new ghost file (bytes and parsed) and the proof."""

    old_bytes: bytes
    old: GhostFile
    new_bytes: bytes
    new: GhostFile
    proof_bytes: bytes
    proof: UpdateProof


def _ghost_at(directory: Path, root: bytes) -> tuple[bytes, GhostFile]:
    path = archived_ghost_path(directory, root)
    if not path.is_file():
        raise InputError(f"{directory} keeps no ghost file for version {to_hex(root)} ({path} is missing)")
    data = read_capped(path, MAX_CHUNK_BYTES)
    return data, parse_ghost(data)


def pending_transitions(directory: Path, registered_root: bytes) -> list[Transition]:
    """The archived updates leading from ``registered_root`` to the directory's ghostRoot,
    oldest first, each checked (``verify_update``). InputError when the directory is at the
    registered version, or its archive does not link the two."""
    current_bytes, current = read_ghost_bytes(directory)
    steps: list[Transition] = []
    root = current.ghost_root
    while root != registered_root:
        path = archived_update_path(directory, root)
        if not path.is_file():
            raise InputError(
                f"{directory} is at ghostRoot {to_hex(current.ghost_root)}, but no archived update leads "
                f"there from the registered {to_hex(registered_root)} ({path} is missing)")
        proof_bytes = read_capped(path, MAX_PROOF_BYTES)
        proof = loads_update(proof_bytes)
        at_dir = root == current.ghost_root
        new_bytes, new = (current_bytes, current) if at_dir else _ghost_at(directory, root)
        old_bytes, old = _ghost_at(directory, proof.old_ghost_root)
        verify_update(proof, old, new)
        steps.append(Transition(old_bytes, old, new_bytes, new, proof_bytes, proof))
        root = proof.old_ghost_root
        if len(steps) > 10_000:
            raise InputError("the archived updates form a cycle")
    if not steps:
        raise InputError(f"{directory} is already at the registered version {to_hex(registered_root)}")
    return steps[::-1]


@dataclass(frozen=True)
class RotateReport:
    """What ``rotate_model`` did: the store publish and each registered version."""

    publish: PublishReport
    rotations: tuple[Rotation, ...]


def rotate_model(
    directory: Path, chain: Chain, deployment: Deployment, account: LocalAccount, model_id: int,
    store: BlockStore,
) -> RotateReport:
    """Register every pending version of ``directory`` for ``model_id`` (see the module
    docstring). The store receives the changed chunks (``publish`` skips what it has), every
    version's ghost file and every update proof before the first transaction is sent."""
    registered = read_model(chain, deployment, model_id)
    steps = pending_transitions(directory, registered.ghost_root)
    report = publish(directory, store)
    proof_cids = []
    for step in steps:
        store.put(step.old_bytes)
        store.put(step.new_bytes)
        proof_cids.append(store.put(step.proof_bytes))
    rotations = tuple(
        rotate_root(chain, deployment, account, model_id, step.new_bytes, step.new, cid)
        for step, cid in zip(steps, proof_cids, strict=True)
    )
    return RotateReport(report, rotations)
