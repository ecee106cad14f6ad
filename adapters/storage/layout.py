"""The model directory on disk, named in one place, and the file primitives every writer uses.

Layout (docs/PROTOCOL.md §10.1):
  ghost.json             the canonical ghost file (the only committed metadata)
  model.json             build and index parameters (not committed)
  layer{ℓ}.K.npy         int8 (N, d_in), row j = committed column j of K
  layer{ℓ}.V.npy         int8 (N, d_out), row j = committed row j of V
  layer{ℓ}.K.tree.npy    every level of K's Merkle tree, packed (prover cache)
  layer{ℓ}.V.tree.npy    the same for V
  layer{ℓ}.hnsw          the hnswlib index over K's columns
  samples.npy            held-out float32 inputs (and sample_labels.npy for classifiers)
  prover.key             the dev prover's secp256k1 key, hex (mode 0600)
  anchor.json            where ``model commit`` registered it (chain, registry, model id, prover)
Files are written under random temporary names and renamed (:func:`atomic_write`), ghost.json
last, so a directory with a ghost.json is complete.

Used by the prover (build, load), the storage transfers (publish, fetch), the verifier
(audit, trust anchors) and the CLI; the one ghost-file reader. Files are written with
ghostproof.adapters.fileio's one atomic writer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ghostproof.adapters.fileio import atomic_file, read_capped
from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import FormatError, ModelError
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.jsonlimits import load_json

GHOST_FILE = "ghost.json"
META_FILE = "model.json"
KEY_FILE = "prover.key"
ANCHOR_FILE = "anchor.json"
SAMPLES_FILE = "samples.npy"
SAMPLE_LABELS_FILE = "sample_labels.npy"
MAX_META_BYTES = 1 << 20  # model.json holds a few parameters


def matrix_file(layer: int, matrix: str) -> str:
    """File name of layer ``layer``'s matrix ``matrix`` ("K" or "V") in a model directory."""
    return f"layer{layer}.{matrix}.npy"


def matrix_path(directory: Path, layer: int, name: str) -> Path:
    """Path of layer ``layer``'s matrix ``name`` ("K" or "V")."""
    return directory / matrix_file(layer, name)


def tree_path(directory: Path, layer: int, name: str) -> Path:
    """Path of the packed Merkle tree of layer ``layer``'s matrix ``name``."""
    return directory / f"layer{layer}.{name}.tree.npy"


def index_path(directory: Path, layer: int) -> Path:
    """Path of layer ``layer``'s HNSW index."""
    return directory / f"layer{layer}.hnsw"


VERSIONS_DIR = "versions"


def archived_ghost_path(directory: Path, ghost_root: bytes) -> Path:
    """Where a model directory keeps the ghost file of its version with ghostRoot
    ``ghost_root`` (every version it has had: the node serves them, ``model rotate`` checks
    the transition against them)."""
    return directory / VERSIONS_DIR / f"0x{ghost_root.hex()}.ghost.json"


def archived_update_path(directory: Path, new_root: bytes) -> Path:
    """Where a model directory keeps the update proof that leads to the version with
    ghostRoot ``new_root``."""
    return directory / VERSIONS_DIR / f"0x{new_root.hex()}.update.json"


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as a .npy file atomically (:func:`atomic_file`)."""
    with atomic_file(path) as fh:
        np.save(fh, array)


def read_ghost_bytes(path: Path) -> tuple[bytes, GhostFile]:
    """The bytes of a ghost file (or of a model directory's ghost.json) and their parse.

    Raises ModelError if it cannot be read, GhostFileError if it is invalid or not canonical.
    """
    if path.is_dir():
        path = path / GHOST_FILE
    try:
        data = read_capped(path, MAX_CHUNK_BYTES)
    except OSError as exc:
        raise ModelError(
            f"cannot read ghost file {path}: {exc.strerror} (run `ghostproof model build`?)"
        ) from exc
    return data, parse_ghost(data)


def read_ghost(path: Path) -> GhostFile:
    """Read and validate a ghost file (or a model directory's); see :func:`read_ghost_bytes`."""
    return read_ghost_bytes(path)[1]


def matrix_shape(ghost: GhostFile, layer: int, matrix: str) -> tuple[int, int]:
    """(N, d) of a matrix as the ghost file's architecture says."""
    spec = ghost.header.layers[layer]
    return spec.n, spec.d_in if matrix == "K" else spec.d_out


def load_matrix(directory: str | os.PathLike[str], ghost: GhostFile, layer: int, matrix: str) -> np.ndarray:
    """A matrix of a model directory (memory-mapped), checked against the ghost file's shape.

    Raises ModelError when it is missing, unreadable, or not int8 of the header's shape."""
    path = Path(directory) / matrix_file(layer, matrix)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot be read as a .npy matrix ({exc})") from exc
    shape = matrix_shape(ghost, layer, matrix)
    if array.dtype != np.int8 or array.shape != shape:
        raise ModelError(f"{path}: expected int8 {shape[0]}×{shape[1]}, found {array.dtype} {array.shape}")
    return array


def read_meta(directory: Path) -> dict[str, object]:
    """model.json of ``directory`` ({} when absent or not an object); ModelError when it
    cannot be read or is not JSON."""
    try:
        meta = load_json(read_capped(directory / META_FILE, MAX_META_BYTES), what=META_FILE,
                         max_bytes=MAX_META_BYTES)
    except FileNotFoundError:
        return {}
    except (OSError, FormatError) as exc:
        raise ModelError(f"{directory / META_FILE} is unreadable: {exc}") from None
    return meta if isinstance(meta, dict) else {}
