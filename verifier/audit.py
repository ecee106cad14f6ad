"""Audit a model's weights (DESIGN §4): rebuild every layer root and the ghostRoot from the
chunks — each checked against its CID — and compare them with the ghost file and with the
anchored (on-chain) ghostRoot. The verifier role: anyone can run it on the light install.

A model is named by a directory, a ghost file CID, or an on-chain model id
(:func:`resolve_model`); :func:`audit_model` audits whichever it is.

Used by ``ghostproof audit`` and ``model fetch``, the demo and scripts/bench_ipfs.py.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ghostproof.adapters.storage.layout import matrix_shape
from ghostproof.adapters.storage.store import BlockStore
from ghostproof.adapters.storage.transfer import (
    ChunkSource,
    Progress,
    chunk_label,
    chunk_what,
    fetch_ghost,
    local_chunk_reader,
    read_chunked_ghost,
)
from ghostproof.protocol.chunks import ChunkRef, parse_cid
from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.errors import CorruptBlockError, InputError, RootMismatchError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import leaf_hashes, to_hex
from ghostproof.protocol.merkle import build_tree

_MODEL_ID = re.compile(r"^[0-9]+$")
#: AuditReport.expected_source of a ghostRoot the caller gave (``ghostproof audit --root``).
GIVEN_ROOT = "--root"


@dataclass(frozen=True)
class ModelRef:
    """A published model as a command names it: its ghost file CID, the ghostRoot anchored
    on-chain for it (None for a bare CID) and where that came from."""

    ghost_cid: str
    anchored_root: bytes | None
    source: str

    def expected_root(self, root: bytes | None) -> tuple[bytes | None, str]:
        """(expected ghostRoot, its source): the anchored root when there is one, else ``root``
        (source GIVEN_ROOT) or nothing ("none"). InputError when both differ."""
        if self.anchored_root is None:
            return root, GIVEN_ROOT if root is not None else "none"
        if root is not None and root != self.anchored_root:
            raise InputError("--root differs from the root registered on-chain")
        return self.anchored_root, self.source


def resolve_model(target: str, rpc: str | None, deployment: Path | None) -> ModelRef:
    """The model ``target`` names: an on-chain model id (all digits; its ghost CID and
    ghostRoot read from the registry through ``rpc`` and ``deployment``) or a ghost file CID.

    FormatError when ``target`` is neither; the chain adapter's errors when the chain cannot
    be read or has no such model.
    """
    if _MODEL_ID.match(target):
        from ghostproof.adapters.chain import read_registered_model

        registered = read_registered_model(rpc, deployment, int(target))
        return ModelRef(registered.ghost_cid, registered.ghost_root, f"chain (model {target})")
    parse_cid(target)
    return ModelRef(target, None, "none")


@dataclass(frozen=True)
class MatrixAudit:
    """The audit of one matrix: OK, or the first chunk that differs from its CID, or a root
    that the (CID-correct) chunks do not reproduce."""

    layer: int
    matrix: str
    ok: bool
    rebuilt_root: str | None
    committed_root: str
    first_bad_chunk: str | None = None
    detail: str = ""

    def line(self) -> str:
        """One human-readable line."""
        where = f"layer {self.layer} {self.matrix}"
        return f"{where}: OK" if self.ok else f"{where}: MISMATCH {self.detail}"

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json``."""
        return {
            "layer": self.layer,
            "matrix": self.matrix,
            "ok": self.ok,
            "rebuiltRoot": self.rebuilt_root,
            "committedRoot": self.committed_root,
            "firstBadChunk": self.first_bad_chunk,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditReport:
    """Per-matrix results, the rebuilt ghostRoot, and the expected one when given."""

    source: str
    matrices: tuple[MatrixAudit, ...]
    rebuilt_ghost_root: str | None
    file_ghost_root: str
    expected_ghost_root: str | None
    seconds: float
    notes: tuple[str, ...] = field(default=())
    #: Where expected_ghost_root came from: GIVEN_ROOT, "chain (model N)", "given" or "none".
    expected_source: str = "none"

    @property
    def ok(self) -> bool:
        """True iff every matrix matched and the rebuilt ghostRoot equals the expected one."""
        if not all(m.ok for m in self.matrices) or self.rebuilt_ghost_root is None:
            return False
        if self.rebuilt_ghost_root != self.file_ghost_root:
            return False
        return self.expected_ghost_root is None or self.rebuilt_ghost_root == self.expected_ghost_root

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json``."""
        return {
            "source": self.source,
            "ok": self.ok,
            "matrices": [m.to_json() for m in self.matrices],
            "rebuiltGhostRoot": self.rebuilt_ghost_root,
            "ghostFileGhostRoot": self.file_ghost_root,
            "expectedGhostRoot": self.expected_ghost_root,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "expectedSource": self.expected_source,
        }

    def check(self) -> None:
        """Return if the audit passed; else raise RootMismatchError naming the first matrix
        that failed, or (every matrix OK) the rebuilt ghostRoot and the one it differs from."""
        if self.ok:
            return
        bad = next((m for m in self.matrices if not m.ok), None)
        if bad is not None:
            raise RootMismatchError(bad.detail, layer=bad.layer, matrix=bad.matrix)
        raise RootMismatchError(
            f"rebuilt ghostRoot {self.rebuilt_ghost_root} differs from "
            f"{self.expected_ghost_root or self.file_ghost_root}"
        )


def audit_chunks(
    ghost: GhostFile,
    chunk_bytes: ChunkSource,
    *,
    source: str,
    expected_ghost_root: bytes | None = None,
    on_progress: Progress | None = None,
) -> AuditReport:
    """Rebuild every root of ``ghost`` from the chunks ``chunk_bytes`` returns, and compare.

    ``chunk_bytes(ref)`` returns a chunk's bytes, or raises CorruptBlockError (reported as that
    matrix's first mismatching chunk). Other errors (a missing block) propagate.
    """
    start = time.perf_counter()
    by_matrix: dict[tuple[int, str], list[ChunkRef]] = {}
    for ref in ghost.header.chunks:
        by_matrix.setdefault((ref.layer, ref.matrix), []).append(ref)
    results: list[MatrixAudit] = []
    rebuilt_roots: list[list[bytes | None]] = [[None, None] for _ in ghost.header.layers]
    for layer in range(len(ghost.header.layers)):
        for matrix in ("K", "V"):
            result = _audit_matrix(ghost, layer, matrix, by_matrix[(layer, matrix)], chunk_bytes, on_progress)
            rebuilt_roots[layer][MATRIX_TAGS[matrix]] = (
                bytes.fromhex(result.rebuilt_root[2:]) if result.rebuilt_root else None
            )
            results.append(result)
    rebuilt_ghost: str | None = None
    notes: list[str] = []
    if all(k is not None and v is not None for k, v in rebuilt_roots):
        roots = tuple((k, v) for k, v in rebuilt_roots)  # type: ignore[misc]
        rebuilt_ghost = to_hex(GhostFile(ghost.header, roots).ghost_root)  # type: ignore[arg-type]
    else:
        notes.append("ghostRoot not rebuilt: some chunks do not match their CIDs")
    return AuditReport(
        source=source,
        matrices=tuple(results),
        rebuilt_ghost_root=rebuilt_ghost,
        file_ghost_root=to_hex(ghost.ghost_root),
        expected_ghost_root=to_hex(expected_ghost_root) if expected_ghost_root is not None else None,
        seconds=time.perf_counter() - start,
        notes=tuple(notes),
        expected_source="given" if expected_ghost_root is not None else "none",
    )


def _audit_matrix(
    ghost: GhostFile,
    layer: int,
    matrix: str,
    refs: list[ChunkRef],
    chunk_bytes: ChunkSource,
    on_progress: Progress | None,
) -> MatrixAudit:
    committed = to_hex(ghost.layer_root(layer, matrix))
    _, d = matrix_shape(ghost, layer, matrix)
    leaves: list[bytes] = []
    for ref in refs:
        try:
            data = chunk_bytes(ref)
        except CorruptBlockError as exc:
            detail = f"first mismatching chunk {ref.cid} ({chunk_label(ref)}): {exc}"
            return MatrixAudit(layer, matrix, False, None, committed, first_bad_chunk=ref.cid, detail=detail)
        if len(data) != ref.count * d:
            detail = f"chunk {ref.cid} ({chunk_label(ref)}) holds {len(data)} bytes, not {ref.count}×{d}"
            return MatrixAudit(layer, matrix, False, None, committed, first_bad_chunk=ref.cid, detail=detail)
        columns = np.frombuffer(data, dtype=np.int8).reshape(ref.count, d)
        leaves.extend(leaf_hashes(layer, MATRIX_TAGS[matrix], columns, ref.first))
        if on_progress:
            on_progress(len(data))
    rebuilt = to_hex(build_tree(leaves).root)
    if rebuilt == committed:
        return MatrixAudit(layer, matrix, True, rebuilt, committed)
    return MatrixAudit(
        layer,
        matrix,
        False,
        rebuilt,
        committed,
        detail=f"every chunk matches its CID but they rebuild root {rebuilt}, not the committed {committed}",
    )


def audit_dir(
    model_dir: str | os.PathLike[str],
    *,
    expected_ghost_root: bytes | None = None,
    on_progress: Progress | None = None,
    on_ghost: Callable[[GhostFile], None] | None = None,
) -> AuditReport:
    """Audit a model directory: each chunk cut from its matrices must match its CID, and the
    rebuilt roots and ghostRoot must match the ghost file and ``expected_ghost_root``.
    ``on_ghost`` sees the parsed ghost file before any chunk is read (to size a progress bar)."""
    _, ghost = read_chunked_ghost(model_dir)
    if on_ghost:
        on_ghost(ghost)
    return audit_chunks(
        ghost,
        local_chunk_reader(model_dir, ghost),
        source=str(model_dir),
        expected_ghost_root=expected_ghost_root,
        on_progress=on_progress,
    )


def audit_store(
    ghost_cid: str,
    store: BlockStore,
    *,
    expected_ghost_root: bytes | None = None,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    on_ghost: Callable[[GhostFile], None] | None = None,
) -> AuditReport:
    """Audit a published model: fetch the ghost file and every chunk by CID, then rebuild."""
    _, ghost = fetch_ghost(store, ghost_cid, timeout=timeout)
    if on_ghost:
        on_ghost(ghost)

    def chunk_bytes(ref: ChunkRef) -> bytes:
        return store.get(ref.cid, timeout=timeout, what=chunk_what(ref))

    return audit_chunks(
        ghost,
        chunk_bytes,
        source=f"{ghost_cid} via {store.describe()}",
        expected_ghost_root=expected_ghost_root,
        on_progress=on_progress,
    )


def audit_model(
    target: str,
    open_store: Callable[[], BlockStore],
    *,
    root: bytes | None = None,
    rpc: str | None = None,
    deployment: Path | None = None,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    on_ghost: Callable[[GhostFile], None] | None = None,
) -> AuditReport:
    """Audit what ``target`` names: a model directory (:func:`audit_dir`), or a ghost file CID
    or on-chain model id (:func:`resolve_model`, ``rpc`` and ``deployment`` being for a model
    id) whose blocks come from the store ``open_store()`` opens (:func:`audit_store`).

    The expected ghostRoot is the one registered on-chain for a model id, else ``root``
    (:meth:`ModelRef.expected_root`: InputError when both are given and differ); the report's
    ``expected_source`` says which. A mismatch is reported, not raised (:meth:`AuditReport.check`).
    """
    if Path(target).is_dir():
        report = audit_dir(target, expected_ghost_root=root, on_progress=on_progress, on_ghost=on_ghost)
        return replace(report, expected_source=GIVEN_ROOT if root is not None else "none")
    model = resolve_model(target, rpc, deployment)
    expected, source = model.expected_root(root)
    with open_store() as store:
        report = audit_store(
            model.ghost_cid,
            store,
            expected_ghost_root=expected,
            timeout=timeout,
            on_progress=on_progress,
            on_ghost=on_ghost,
        )
    return replace(report, expected_source=source)
