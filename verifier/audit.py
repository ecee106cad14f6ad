"""Audit a model's weights (DESIGN §4): rebuild every layer root and the ghostRoot from the
chunks — each checked against its CID — and compare them with the ghost file and with the
anchored (on-chain) ghostRoot. The verifier role: anyone can run it on the light install.

Used by ``ghostproof audit``, the demo and scripts/bench_ipfs.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ghostproof.adapters.storage.layout import load_matrix, matrix_shape
from ghostproof.adapters.storage.store import BlockStore
from ghostproof.adapters.storage.transfer import Progress, chunk_label, fetch_ghost, read_ghost
from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes, cid_matches
from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.errors import CorruptBlockError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import leaf_hashes, to_hex
from ghostproof.protocol.merkle import build_tree


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
        }


ChunkSource = Callable[[ChunkRef], bytes]


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
            return MatrixAudit(
                layer,
                matrix,
                False,
                None,
                committed,
                first_bad_chunk=ref.cid,
                detail=f"first mismatching chunk {ref.cid} ({chunk_label(ref)}): {exc}",
            )
        if len(data) != ref.count * d:
            return MatrixAudit(
                layer,
                matrix,
                False,
                None,
                committed,
                first_bad_chunk=ref.cid,
                detail=f"chunk {ref.cid} ({chunk_label(ref)}) holds {len(data)} bytes, not {ref.count}×{d}",
            )
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
) -> AuditReport:
    """Audit a model directory: each chunk cut from its matrices must match its CID, and the
    rebuilt roots and ghostRoot must match the ghost file and ``expected_ghost_root``."""
    _, ghost = read_ghost(model_dir)
    matrices: dict[tuple[int, str], np.ndarray] = {}

    def chunk_bytes(ref: ChunkRef) -> bytes:
        key = (ref.layer, ref.matrix)
        if key not in matrices:
            matrices[key] = load_matrix(model_dir, ghost, ref.layer, ref.matrix)
        data = matrices[key][ref.first : ref.first + ref.count].tobytes()
        if not cid_matches(ref.cid, data):
            raise CorruptBlockError(ref.cid, what=f"chunk ({chunk_label(ref)})", found=cid_for_bytes(data))
        return data

    return audit_chunks(
        ghost,
        chunk_bytes,
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
        return store.get(ref.cid, timeout=timeout, what=f"chunk ({chunk_label(ref)})")

    return audit_chunks(
        ghost,
        chunk_bytes,
        source=f"{ghost_cid} via {store.describe()}",
        expected_ghost_root=expected_ghost_root,
        on_progress=on_progress,
    )
