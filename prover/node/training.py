"""Paid training through the node, and the model's versions served by root (DESIGN §10).

- :func:`train_request_hash` — what a training voucher's ``requestHash`` names: keccak256 of
  ``"ghostproof/train/1\\0" ‖ uint256 modelId ‖ the body's bytes`` (the wallet computes the
  same over the bytes it sends; docs/NODE.md).
- :class:`VersionLock` — an asyncio readers-writer lock: every forward pass holds it shared,
  a training holds it alone, so no query is answered while the directory changes (a waiting
  training lets no new query in before it).
- :class:`Trainer` — the model directory's side of one training, run in a worker thread under
  that lock: ``compute_update`` → ``refresh_retrievers`` → ``archive_version`` →
  ``write_update`` (crash-safe, its journal is the commit) → a new in-memory ``Prover`` on the
  reloaded directory → ``GhostRegistry.rotateRoot`` with the node's own key (ghost CID of the
  new ghost file's bytes, proof CID of the archived proof's bytes). A rotation that fails
  leaves the directory ahead of the chain: :meth:`Trainer.catch_up` retries it before the
  next answer.
- :func:`rotate_pending` — the same catch-up at start (boot.py): a directory ahead of the chain
  whose archive links the registered root to its own is rotated, step by step, each checked
  with ``verify_update`` first.
- :func:`archived_bytes` — what ``GET /v1/models/{id}/versions/{root}/ghost|update`` serve:
  the archived bytes, which wallets check against the CIDs the chain registered.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import RegisteredModel, Rotation, read_model, rotate_root
from ghostproof.adapters.fileio import read_capped
from ghostproof.adapters.storage.layout import (
    archived_ghost_path,
    archived_update_path,
    read_ghost_bytes,
)
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import ExternalError, FormatError, InputError, UnknownModelError
from ghostproof.protocol.hashing import keccak256, to_hex
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.protocol.update import Example

from ..modeldir import ModelDir, load_model_dir
from ..prove import Prover
from ..rotate import pending_transitions
from ..update import archive_version, compute_update, parse_examples, refresh_retrievers, write_update

TRAIN_DOMAIN = b"ghostproof/train/1\x00"
TRAIN_RESULT_FORMAT = "ghostproof/train-result/1"
#: Examples one paid training may carry.
MAX_TRAIN_EXAMPLES = 64
#: What a version endpoint's ``{root}`` must look like.
TRAINING_OFF = "this node does not train (start it with `ghostproof serve --train`)"
ROOT_PATTERN = re.compile(r"0x[0-9a-fA-F]{64}")
VERSION_KINDS = ("ghost", "update")

ChainCalling = Callable[[], AbstractContextManager[Chain]]


class TrainingRefusedError(InputError):
    """This node does not train this model: ``status`` 403 (training is off: ``serve
    --train``) or 409 (the model's ghost header declares no update rule)."""

    def __init__(self, message: str, status: int):
        super().__init__(message, field="train")
        self.status = status


def train_request_hash(model_id: int, body: bytes) -> bytes:
    """The requestHash a training's voucher must name: keccak256(TRAIN_DOMAIN ‖ uint256
    modelId ‖ body), over the body's bytes exactly as sent."""
    return keccak256(TRAIN_DOMAIN + model_id.to_bytes(32, "big") + body)


def train_body_limit(d_in: int, d_out: int) -> int:
    """The largest training body accepted: MAX_TRAIN_EXAMPLES examples of ``d_in`` float32
    numbers (≤ 32 characters each) and a ``d_out`` target, plus room for the keys."""
    return MAX_TRAIN_EXAMPLES * (32 * d_in + 8 * d_out + 256) + 4096


def parse_root(text: str) -> bytes:
    """A version's ghostRoot from a path segment, ``0x`` + 64 hex; FormatError (400) otherwise."""
    if not ROOT_PATTERN.fullmatch(text):
        raise FormatError("a version is named by its ghostRoot, 0x + 64 hex digits", field="root")
    return bytes.fromhex(text[2:])


def archived_bytes(directory: Path, current: tuple[bytes, bytes], root: bytes, kind: str) -> bytes:
    """The ghost file (``kind`` "ghost") or the update proof leading to it ("update") of the
    version with ghostRoot ``root``, as the directory keeps them; ``current`` is (ghostRoot,
    ghost bytes) of the version served now (its ghost file may not be archived yet).
    UnknownModelError (404) when the directory keeps none."""
    if kind == "ghost" and root == current[0]:
        return current[1]
    path = (archived_ghost_path if kind == "ghost" else archived_update_path)(directory, root)
    try:
        return read_capped(path, MAX_CHUNK_BYTES)
    except OSError:
        raise UnknownModelError(f"this node keeps no {'ghost file' if kind == 'ghost' else 'update proof'} "
                                f"for version {to_hex(root)}", field="root") from None


class VersionLock:
    """A readers-writer lock for one event loop: :meth:`shared` for forward passes (any number
    at once), :meth:`exclusive` for a training (alone; new readers wait behind a waiting
    writer, so a training is not starved by a stream of queries)."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the lock with other readers."""
        async with self._cond:
            await self._cond.wait_for(lambda: not self._writer and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            async with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the lock alone."""
        async with self._cond:
            self._waiting += 1
            try:
                await self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            finally:
                self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            async with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class Trained:
    """One training, done and registered: the archived proof's bytes, the rotation (version,
    roots, CIDs), its transaction (when found) and the figures."""

    model_id: int
    proof_bytes: bytes
    rotation: Rotation
    transaction: str | None
    examples: int
    columns: int

    def to_json(self) -> dict[str, object]:
        """The reply of ``POST /v1/models/{id}/train`` (``ghostproof/train-result/1``)."""
        r = self.rotation
        return {
            "format": TRAIN_RESULT_FORMAT, "modelId": str(self.model_id), "version": r.version,
            "oldGhostRoot": to_hex(r.old_root), "ghostRoot": to_hex(r.new_root),
            "ghostCid": r.ghost_cid, "updateProofCid": r.update_proof_cid,
            "rotation": {"block": r.block, "gasUsed": r.gas_used, "transaction": self.transaction},
            "examples": self.examples, "columns": self.columns,
            "updateProof": json.loads(self.proof_bytes),
        }

    def reply(self) -> bytes:
        """The reply's bytes (what the ledger keeps for a retry)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def _rotation_tx(chain: Chain, deployment: Deployment, account: str, block: int) -> str | None:
    """The hash of ``account``'s transaction to the registry in ``block`` (rotate_root gives
    the block, not the hash)."""
    try:
        txs = chain.w3.eth.get_block(block, full_transactions=True)["transactions"]
    except Exception:  # informational only: the rotation itself is on-chain already
        return None
    for tx in txs:
        if str(tx["from"]).lower() == account.lower() and str(tx.get("to") or "").lower() == \
                deployment.registry.lower():
            return "0x" + bytes(tx["hash"]).hex()
    return None


def rotate_pending(directory: Path, calling: ChainCalling, deployment: Deployment,
                   account: LocalAccount, model_id: int) -> list[Rotation]:
    """Register every version the directory is ahead of the chain, oldest first, each step
    checked (``verify_update``) before its transaction; [] when it is at the registered root.
    InputError when its archive does not link the registered root to its own."""
    with calling() as chain:
        registered = read_model(chain, deployment, model_id)
    if read_ghost_bytes(directory)[1].ghost_root == registered.ghost_root:
        return []
    steps = pending_transitions(directory, registered.ghost_root)
    done = []
    for step in steps:
        with calling() as chain:
            done.append(rotate_root(chain, deployment, account, model_id, step.new_bytes, step.new,
                                    cid_for_bytes(step.proof_bytes)))
    return done


class Trainer:
    """The model directory ``md`` trained in place for the node serving it with ``prover`` as
    ``model_id``; rotates with ``account`` through ``calling`` (the chain under the node's
    lock). Not thread-safe: the service calls it under :class:`VersionLock`'s exclusive side."""

    def __init__(self, md: ModelDir, prover: Prover, deployment: Deployment, account: LocalAccount,
                 calling: ChainCalling, *, enabled: bool):
        self.md = md
        self.prover = prover
        self.deployment = deployment
        self.account = account
        self.calling = calling
        self.enabled = enabled
        #: True while the directory is ahead of the chain (a rotation failed): no answer until
        #: :meth:`catch_up` succeeds.
        self.behind = False

    @property
    def model_id(self) -> int:
        """The registered model id."""
        return self.prover.model_id

    def check_enabled(self) -> None:
        """TrainingRefusedError unless this node trains this model."""
        if not self.enabled:
            raise TrainingRefusedError(TRAINING_OFF, 403)
        spec = self.md.model.layers[0].spec
        if len(self.md.model.layers) != 1 or spec.update is None:
            raise TrainingRefusedError(f"model {self.model_id} declares no update rule "
                                       "(`ghostproof model trainable`, then a new registration)", 409)

    def parse(self, body: bytes) -> list[Example]:
        """The examples of a training body ``{"examples": [...]}`` (prover.update.parse_examples;
        ``sample`` names this model's held-out samples); InputError, FormatError."""
        obj = load_json(body, what="training body", max_bytes=len(body) + 1)
        items = obj.get("examples") if isinstance(obj, dict) else None
        if isinstance(items, list) and len(items) > MAX_TRAIN_EXAMPLES:
            raise InputError(f"a training carries at most {MAX_TRAIN_EXAMPLES} examples, got {len(items)}",
                             field="examples")
        spec = self.md.model.layers[0].spec
        return parse_examples(obj, spec.d_in, spec.d_out, spec.s_v, self.md.samples)

    def train(self, examples: list[Example]) -> Trained:
        """Train, write, reload, rotate (the module docstring); the new prover is
        :attr:`prover` once the directory moved. ExternalError (503) when the rotation failed:
        the directory is then ahead of the chain (:attr:`behind`) until :meth:`catch_up`."""
        md, old = self.md, self.prover
        step = compute_update(md.model, examples, old.retrievers)
        refresh_retrievers(old.retrievers, step)
        archive_version(md.path, step)
        write_update(md.path, step, md.model, old.retrievers)
        # The old model's matrices are memory-mapped: from here on only the new prover is right.
        self.md = load_model_dir(md.path)
        self.prover = Prover(self.md.model, bytes(self.account.key), old.retrievers,
                             model_id=old.model_id, chain_id=old.chain_id,
                             verifying_contract=old.verifying_contract,
                             candidates_factor=old.candidates_factor, selection_margin=old.selection_margin)
        self.behind = True
        proof_bytes = read_capped(archived_update_path(md.path, step.new_ghost.ghost_root), MAX_CHUNK_BYTES)
        try:
            with self.calling() as chain:
                rotation = rotate_root(chain, self.deployment, self.account, self.model_id,
                                       step.new_ghost.to_bytes(), step.new_ghost, cid_for_bytes(proof_bytes))
                tx = _rotation_tx(chain, self.deployment, self.account.address, rotation.block)
        except ExternalError as exc:
            raise ExternalError(f"trained, but the rotation failed ({exc}); the node rotates before "
                                "its next answer") from exc
        self.behind = False
        return Trained(self.model_id, proof_bytes, rotation, tx, len(examples), len(step.positions))

    def catch_up(self) -> list[Rotation]:
        """Rotate what a failed rotation left pending (ExternalError while the chain refuses)."""
        done = rotate_pending(self.md.path, self.calling, self.deployment, self.account, self.model_id)
        self.behind = False
        return done

    def registered(self) -> RegisteredModel:
        """The model as the chain registers it now."""
        with self.calling() as chain:
            return read_model(chain, self.deployment, self.model_id)

