"""Publish, fetch and audit a model's weights through a BlockStore (DESIGN §4).

A model directory holds ``ghost.json`` (the canonical ghost file) and, per layer ℓ,
``layer{ℓ}.K.npy`` (N × d_in int8) and ``layer{ℓ}.V.npy`` (N × d_out int8), row j being
committed column j. A chunk's bytes are rows first..first+count-1 of one matrix.

- ``publish`` checks every chunk of the directory against the chunk table, stores the ones the
  store lacks, and stores the ghost file last: a publish cut short leaves no ghost CID to fetch.
- ``fetch`` gets the ghost file and every chunk by CID (each checked), and writes the directory
  under a temporary name, moving files into place only once every CID has been checked, with
  ``ghost.json`` last: a directory without ``ghost.json`` is not a model.
- the chunk readers (:func:`local_chunk_reader`, :func:`fetch_ghost`) are shared with the
  audit (ghostproof.verifier.audit) and the CAR export (``car.export_car``).

Used by the CLI (cli/ipfs.py), the demo, the verifier's audit and scripts/bench_ipfs.py.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes, cid_matches
from ghostproof.protocol.errors import CorruptBlockError, GhostFileError, ModelError, RootMismatchError
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.hashing import to_hex

from .layout import GHOST_FILE, load_matrix, matrix_file, matrix_shape, read_ghost_bytes
from .store import BlockStore

Progress = Callable[[int], None]


def chunk_label(ref: ChunkRef) -> str:
    """How errors and reports name a chunk: its layer, matrix and columns."""
    return f"layer {ref.layer} {ref.matrix} columns {ref.first}..{ref.first + ref.count - 1}"


def chunk_what(ref: ChunkRef) -> str:
    """The ``what`` that store and CID errors name a chunk by: ``chunk (<its label>)``."""
    return f"chunk ({chunk_label(ref)})"


def matrix_bytes(ghost: GhostFile) -> int:
    """The bytes of every matrix of ``ghost``'s model: what a publish, fetch or audit moves."""
    return sum(s.n * (s.d_in + s.d_out) for s in ghost.header.layers)


def read_chunked_ghost(model_dir: str | os.PathLike[str]) -> tuple[bytes, GhostFile]:
    """The ghost file bytes of a model directory and their parse; it must have a chunk table.

    Raises ModelError if the file is missing, GhostFileError if it is invalid or lists no chunks.
    """
    path = Path(model_dir) / GHOST_FILE
    data, ghost = read_ghost_bytes(path)
    if not ghost.header.chunks:
        raise GhostFileError(f"{path} has no chunk table: the model cannot be published")
    return data, ghost


ChunkSource = Callable[[ChunkRef], bytes]


def local_chunk_reader(model_dir: str | os.PathLike[str], ghost: GhostFile) -> ChunkSource:
    """A function returning a chunk-table entry's bytes, cut from the directory's matrices (each
    memory-mapped once, on first use); it raises CorruptBlockError when they differ from the CID."""
    matrices: dict[tuple[int, str], np.ndarray] = {}

    def chunk_bytes(ref: ChunkRef) -> bytes:
        key = (ref.layer, ref.matrix)
        if key not in matrices:
            matrices[key] = load_matrix(model_dir, ghost, ref.layer, ref.matrix)
        data = matrices[key][ref.first : ref.first + ref.count].tobytes()
        if not cid_matches(ref.cid, data):
            raise CorruptBlockError(ref.cid, what=chunk_what(ref), found=cid_for_bytes(data))
        return data

    return chunk_bytes


def local_chunks(model_dir: str | os.PathLike[str], ghost: GhostFile) -> Iterator[tuple[ChunkRef, bytes]]:
    """(entry, bytes) for every chunk-table entry, cut from the directory's matrices; raises
    CorruptBlockError naming the first chunk whose bytes differ from its CID."""
    chunk_bytes = local_chunk_reader(model_dir, ghost)
    for ref in ghost.header.chunks:
        yield ref, chunk_bytes(ref)


# ---------------------------------------------------------------------------- publish


@dataclass(frozen=True)
class PublishReport:
    """What a publish did: the ghost CID, and how much was stored now versus already there."""

    ghost_cid: str
    store: str
    chunks: int
    chunks_stored: int
    bytes_total: int
    bytes_stored: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json``."""
        return {
            "ghostCid": self.ghost_cid,
            "store": self.store,
            "chunks": self.chunks,
            "chunksStored": self.chunks_stored,
            "chunksAlreadyPresent": self.chunks - self.chunks_stored,
            "bytesTotal": self.bytes_total,
            "bytesStored": self.bytes_stored,
            "seconds": round(self.seconds, 3),
        }


def publish(
    model_dir: str | os.PathLike[str], store: BlockStore, *, on_progress: Progress | None = None
) -> PublishReport:
    """Store every chunk of ``model_dir`` the store lacks, then the ghost file; return the report.

    Each chunk is checked against its chunk-table CID before it is stored (CorruptBlockError
    names the first that differs). ``on_progress`` is called with each chunk's byte count.
    """
    start = time.perf_counter()
    ghost_bytes, ghost = read_chunked_ghost(model_dir)
    stored = stored_bytes = total_bytes = 0
    for ref, data in local_chunks(model_dir, ghost):
        total_bytes += len(data)
        if not store.has(ref.cid):
            store.put(data)
            stored += 1
            stored_bytes += len(data)
        if on_progress:
            on_progress(len(data))
    ghost_cid = store.put(ghost_bytes)
    return PublishReport(
        ghost_cid=ghost_cid,
        store=store.describe(),
        chunks=len(ghost.header.chunks),
        chunks_stored=stored,
        bytes_total=total_bytes,
        bytes_stored=stored_bytes,
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class FetchReport:
    """What a fetch wrote: the directory, the ghost CID and ghostRoot, chunk and byte counts."""

    out_dir: str
    ghost_cid: str
    ghost_root: str
    chunks: int
    bytes_total: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json``."""
        return {
            "outDir": self.out_dir,
            "ghostCid": self.ghost_cid,
            "ghostRoot": self.ghost_root,
            "chunks": self.chunks,
            "bytesTotal": self.bytes_total,
            "seconds": round(self.seconds, 3),
        }


def fetch_ghost(
    store: BlockStore, ghost_cid: str, *, timeout: float | None = None
) -> tuple[bytes, GhostFile]:
    """The ghost file named ``ghost_cid``, checked against it and parsed; it must list chunks."""
    data = store.get(ghost_cid, timeout=timeout, what="ghost file")
    ghost = parse_ghost(data)
    if not ghost.header.chunks:
        raise GhostFileError(f"ghost file {ghost_cid} has no chunk table")
    return data, ghost


def fetch_matrices(
    store: BlockStore,
    ghost: GhostFile,
    *,
    timeout: float | None = None,
    on_progress: Progress | None = None,
) -> dict[tuple[int, str], np.ndarray]:
    """Every matrix of ``ghost``, assembled from its chunks, each checked against its CID."""
    matrices = {
        (layer, m): np.empty(matrix_shape(ghost, layer, m), dtype=np.int8)
        for layer in range(len(ghost.header.layers))
        for m in ("K", "V")
    }
    for ref in ghost.header.chunks:
        what = chunk_what(ref)
        data = store.get(ref.cid, timeout=timeout, what=what)
        target = matrices[(ref.layer, ref.matrix)]
        if len(data) != ref.count * target.shape[1]:
            raise GhostFileError(
                f"{what} {ref.cid} holds {len(data)} bytes, not {ref.count} columns of {target.shape[1]}"
            )
        target[ref.first : ref.first + ref.count] = np.frombuffer(data, dtype=np.int8).reshape(
            ref.count, target.shape[1]
        )
        if on_progress:
            on_progress(len(data))
    return matrices


def fetch(
    ghost_cid: str,
    store: BlockStore,
    out_dir: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    on_ghost: Callable[[GhostFile], None] | None = None,
    expected_ghost_root: bytes | None = None,
) -> FetchReport:
    """Download the model ``ghost_cid`` names into ``out_dir``; return the report.

    Nothing is written into ``out_dir`` until every block has been checked against its CID;
    ``ghost.json`` is moved in last. With ``expected_ghost_root`` (the anchored one), a ghost
    file with another ghostRoot raises RootMismatchError before anything is fetched or written.
    ``on_ghost`` sees the parsed ghost file before the chunks are fetched (to size a progress bar).
    """
    start = time.perf_counter()
    ghost_bytes, ghost = fetch_ghost(store, ghost_cid, timeout=timeout)
    if expected_ghost_root is not None and ghost.ghost_root != expected_ghost_root:
        raise RootMismatchError(
            f"the ghost file {ghost_cid} has ghostRoot {to_hex(ghost.ghost_root)}, not the expected "
            f"{to_hex(expected_ghost_root)} (run `ghostproof audit` for details)"
        )
    if on_ghost:
        on_ghost(ghost)
    matrices = fetch_matrices(store, ghost, timeout=timeout, on_progress=on_progress)
    out = Path(out_dir)
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        for (layer, matrix), array in matrices.items():
            np.save(staging / matrix_file(layer, matrix), array, allow_pickle=False)
        (staging / GHOST_FILE).write_bytes(ghost_bytes)
        _move_into(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchReport(
        out_dir=str(out),
        ghost_cid=ghost_cid,
        ghost_root=to_hex(ghost.ghost_root),
        chunks=len(ghost.header.chunks),
        bytes_total=sum(a.nbytes for a in matrices.values()),
        seconds=time.perf_counter() - start,
    )


def _move_into(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``: matrices first, the ghost file last."""
    if not out.exists():
        os.replace(staging, out)
        return
    if not out.is_dir():
        raise ModelError(f"{out} exists and is not a directory")
    (out / GHOST_FILE).unlink(missing_ok=True)  # the old model is no longer trusted
    for item in sorted(staging.iterdir(), key=lambda p: p.name == GHOST_FILE):
        os.replace(item, out / item.name)
