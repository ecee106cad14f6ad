"""Following a model's versions (DESIGN §10): check the update proof of each rotation against
the two anchored roots before trusting the new one — ``ghostproof model verify-update`` and
the wallet.

Everything comes by content address: the ghost files and the update proof are fetched by the
CIDs the registry's RotateRoot / ModelRegistered events name (a store checks each block
against its CID), the roots come from the chain, and ``protocol.update.verify_update``
replays the training step on the revealed columns. Light client: no prover code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import Rotation, ghost_cid_of, read_model, read_rotations
from ghostproof.protocol.errors import InputError, RootMismatchError
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.update import UpdateResult, loads_update, verify_update

#: fetch(cid, what) → the block's bytes, checked against the CID (BlockStore.get, or a node
#: serving the same bytes with the caller checking the CID).
Fetch = Callable[[str, str], bytes]


@dataclass(frozen=True)
class VerifiedVersion:
    """A rotation whose update proof verified: the rotation, the result of the replay, and the
    new version's ghost file."""

    rotation: Rotation
    result: UpdateResult
    ghost: GhostFile

    def line(self) -> str:
        """One line: the version, the roots, what changed."""
        r, res = self.rotation, self.result
        return (f"version {r.version} verified: {to_hex(r.old_root)} → {to_hex(r.new_root)}, "
                f"{res.examples} examples touched {len(res.positions)} columns of layer {res.layer}")


def _ghost(fetch: Fetch, cid: str, root: bytes, what: str) -> GhostFile:
    ghost = parse_ghost(fetch(cid, what))
    if ghost.ghost_root != root:
        raise RootMismatchError(f"{what} {cid} has ghostRoot {to_hex(ghost.ghost_root)}, the chain "
                                f"registered {to_hex(root)}")
    return ghost


def verify_rotation(chain: Chain, deployment: Deployment, model_id: int, rotation: Rotation,
                    fetch: Fetch) -> VerifiedVersion:
    """Check ``rotation`` of ``model_id``: fetch the old and new ghost files and the update
    proof by their registered CIDs, and ``verify_update`` the proof against the two roots.
    Raises RootMismatchError / MultiproofError / UpdateProofError when it does not hold."""
    model = read_model(chain, deployment, model_id)
    old = _ghost(fetch, ghost_cid_of(chain, deployment, model, rotation.old_root), rotation.old_root,
                 f"ghost file of version {rotation.version - 1}")
    new = _ghost(fetch, rotation.ghost_cid, rotation.new_root, f"ghost file of version {rotation.version}")
    proof = loads_update(fetch(rotation.update_proof_cid, f"update proof of version {rotation.version}"))
    return VerifiedVersion(rotation, verify_update(proof, old, new), new)


def rotation_of(chain: Chain, deployment: Deployment, model_id: int, version: int) -> Rotation:
    """The rotation that created ``version`` of ``model_id``; InputError when there is none."""
    for rotation in read_rotations(chain, deployment, model_id):
        if rotation.version == version:
            return rotation
    raise InputError(f"model {model_id} has no version {version} made by a rotation "
                     f"(versions start at 1; version 0 is the registration)")


def verify_versions(chain: Chain, deployment: Deployment, model_id: int, since: int, fetch: Fetch,
                    on_version: Callable[[VerifiedVersion], None] | None = None) -> list[VerifiedVersion]:
    """Verify every rotation after version ``since`` in order (what a client trusting version
    ``since`` must check before trusting the newest); stops at the first that fails."""
    done = []
    for rotation in read_rotations(chain, deployment, model_id):
        if rotation.version > since:
            done.append(verify_rotation(chain, deployment, model_id, rotation, fetch))
            if on_version:
                on_version(done[-1])
    return done
