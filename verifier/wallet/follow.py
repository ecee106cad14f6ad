"""Following a model's versions, verified (DESIGN §10): the wallet trusts a newer ghostRoot
only after checking every rotation that leads there.

The wallet folder records, per model, the newest version it verified
(``versions/<chainId>-<registry>-<modelId>.json``, written atomically; a fresh wallet starts at
version 0, the registration). When the chain registers a newer version, :func:`follow` checks
each rotation after the recorded one, in order, with ``verifier.versions.verify_rotation``:
the ghost files and the update proof come from the node's version endpoints, fetched by root
and accepted only when their bytes hash to the CIDs the chain registered (CorruptBlockError
otherwise), so the node is not trusted for them. Each verified version is recorded before the
next is checked. A rotation that does not verify raises :class:`VersionRejected`; the caller
keeps the evidence (:func:`keep_rejected`) and stops paying the prover.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ghostproof.adapters.chain.registry import RegisteredModel, Rotation, read_rotations
from ghostproof.adapters.fileio import read_capped
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import CorruptBlockError, FormatError, ProofError
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.verifier.versions import Fetch, VerifiedVersion, verify_rotation

from .home import WalletHome
from .node import NodeHttp

if TYPE_CHECKING:
    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain

MAX_RECORD_BYTES = 64 * 1024


class VersionRejected(ProofError):
    """A rotation the wallet could not verify: its update proof failed, or the node served
    bytes that are not the ones the chain registered. ``rotation`` names it."""

    def __init__(self, message: str, rotation: Rotation):
        super().__init__(message)
        self.rotation = rotation


@dataclass(frozen=True)
class Followed:
    """A version the wallet verified and now follows."""

    model_id: int
    verified: VerifiedVersion

    def line(self) -> str:
        """``following model 1 version 2 (update verified: 3 examples, 12 columns)``."""
        res = self.verified.result
        return (f"following model {self.model_id} version {self.verified.rotation.version} "
                f"(update verified: {res.examples} examples, {len(res.positions)} columns)")

    def to_json(self) -> dict[str, object]:
        """JSON form (``query --json``'s ``followed``)."""
        r, res = self.verified.rotation, self.verified.result
        return {"modelId": self.model_id, "version": r.version, "ghostRoot": to_hex(r.new_root),
                "oldGhostRoot": to_hex(r.old_root), "examples": res.examples, "columns": len(res.positions),
                "updateProofCid": r.update_proof_cid}


def followed_version(home: WalletHome, chain_id: int, registry: str, model_id: int) -> int:
    """The newest version of the model the wallet verified (0 when none is recorded)."""
    path = home.version_record(chain_id, registry, model_id)
    try:
        obj = load_json(read_capped(path, MAX_RECORD_BYTES), what=str(path), max_bytes=MAX_RECORD_BYTES)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    version = obj.get("version") if isinstance(obj, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise FormatError(f"{path} names no version")
    return version


def record_version(home: WalletHome, chain_id: int, registry: str, rotation: Rotation) -> Path:
    """Record ``rotation``'s version as verified (atomically)."""
    record = {"chainId": chain_id, "registry": registry, "modelId": rotation.model_id,
              "version": rotation.version, "ghostRoot": to_hex(rotation.new_root),
              "ghostCid": rotation.ghost_cid, "updateProofCid": rotation.update_proof_cid,
              "verifiedAt": int(time.time())}
    path = home.version_record(chain_id, registry, rotation.model_id)
    return home.write(path, (json.dumps(record, indent=2) + "\n").encode())


def node_fetch(node: NodeHttp, home: WalletHome, rotation: Rotation) -> Fetch:
    """verify_rotation's fetch for ``rotation``, from the node's version endpoints by root:
    the registered ghost CID names the new ghost file, the proof CID the update proof, any
    other CID the old ghost file (the wallet's checked copy first, if it holds it). The bytes
    must hash to the CID asked for (CorruptBlockError)."""
    kinds = {rotation.ghost_cid: ("ghost", rotation.new_root),
             rotation.update_proof_cid: ("update", rotation.new_root)}

    def fetch(cid: str, what: str) -> bytes:
        kind, root = kinds.get(cid, ("ghost", rotation.old_root))
        if kind == "ghost":
            cached = home.ghost(root)
            if cached.is_file():
                data = cached.read_bytes()
                if cid_for_bytes(data) == cid:
                    return data
        data = node.version(rotation.model_id, root, kind)
        found = cid_for_bytes(data)
        if found != cid:
            raise CorruptBlockError(cid, what=f"{what} from node {node.url}", found=found)
        return data

    return fetch


def follow(chain: Chain, deployment: Deployment, home: WalletHome, node: NodeHttp,
           model: RegisteredModel, *, on_version: Callable[[Followed], None] | None = None) -> list[Followed]:
    """Verify and record every rotation of ``model`` after the newest version the wallet
    verified, up to ``model.version`` (nothing when it is not newer). VersionRejected for the
    first rotation that fails (nothing after it is recorded); ExternalError when the node or
    the chain is down (nothing is concluded)."""
    since = followed_version(home, deployment.chain_id, deployment.registry, model.model_id)
    if model.version <= since:
        return []
    done: list[Followed] = []
    for rotation in read_rotations(chain, deployment, model.model_id):
        if rotation.version <= since or rotation.version > model.version:
            continue
        try:
            verified = verify_rotation(chain, deployment, model.model_id, rotation,
                                       node_fetch(node, home, rotation))
        except (ProofError, CorruptBlockError) as exc:
            raise VersionRejected(f"version {rotation.version} of model {model.model_id} does not verify "
                                  f"({type(exc).__name__}: {exc})", rotation) from None
        home.write(home.ghost(rotation.new_root), verified.ghost.to_bytes())
        record_version(home, deployment.chain_id, deployment.registry, rotation)
        done.append(Followed(model.model_id, verified))
        if on_version is not None:
            on_version(done[-1])
    return done


def keep_rejected(home: WalletHome, deployment: Deployment, node: str, model_id: int, version: int,
                  reason: str, extra: dict[str, object] | None = None) -> Path:
    """Keep the evidence of a version that failed (a rotation, or a training's reply): the
    node, the model and version, the reason, and ``extra`` (the rotation, the reply)."""
    record = {"node": node, "chainId": deployment.chain_id, "registry": deployment.registry,
              "modelId": model_id, "version": version, "reason": reason, "keptAt": int(time.time()),
              **(extra or {})}
    path = home.rejected_version(deployment.chain_id, deployment.registry, model_id, version)
    return home.write(path, (json.dumps(record, indent=2) + "\n").encode())
