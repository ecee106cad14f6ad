"""The embedding input layer of a model directory (docs/PROTOCOL.md §14.6).

``ghostproof model embed DIR --vocab V`` adds a table E (vocab × d_in int8, random or given)
to a one-layer model directory as ``embedding.npy`` and declares it in ghost.json's header
(``"embedding"``: vocab, dim, scale, the root of E's row tree, E's chunk CIDs, optionally the
learning rate lrE); the ghostRoot changes, so do it before registering. The row tree is
rebuilt from the table on load (vocab 50,000 × 256: well under a second) and checked against
the header's root; the update path (prover/update.py) patches only the touched rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ghostproof.adapters.fileio import atomic_write
from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost, save_npy
from ghostproof.protocol.embedding import (
    MAX_LR_E,
    EmbeddingSpec,
    embedding_chunks,
    embedding_tree,
)
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.merkle import MerkleTree

#: The embedding table's file in a model directory (int8, vocab × dim).
EMBEDDING_FILE = "embedding.npy"
#: Largest vocabulary ``model embed`` accepts (a leaf index is a uint32).
MAX_VOCAB = 1 << 32


@dataclass(frozen=True, eq=False)
class CommittedEmbedding:
    """E in committed form: row t of ``table`` is token t's row; ``tree`` is its row tree and
    ``spec`` the header object (whose root is ``tree.root``)."""

    table: np.ndarray  # int8 (vocab, dim)
    tree: MerkleTree
    spec: EmbeddingSpec


def commit_embedding(table: np.ndarray, scale: float, lr_e: int | None = None) -> CommittedEmbedding:
    """Commit an int8 (vocab, dim) table with float reading ``scale`` (> 0): its row tree,
    chunk CIDs and header object. InputError for a bad table, scale or rate."""
    arr = np.ascontiguousarray(table)
    if arr.dtype != np.int8 or arr.ndim != 2 or not 1 <= arr.shape[0] <= MAX_VOCAB or arr.shape[1] < 1:
        raise InputError("an embedding table is a non-empty int8 (vocab, dim) array")
    if np.any(arr == -128):
        raise InputError("an embedding table holds int8 values in ±127 (−128 is never produced)")
    if not (isinstance(scale, float | int) and np.isfinite(scale) and scale > 0):
        raise InputError("the embedding scale must be finite and positive")
    if lr_e is not None and not 0 <= lr_e <= MAX_LR_E:
        raise InputError("lrE must be an integer in 0..2^32-1")
    tree = embedding_tree(arr)
    spec = EmbeddingSpec(arr.shape[0], arr.shape[1], float(scale), tree.root, embedding_chunks(arr), lr_e)
    return CommittedEmbedding(arr, tree, spec)


def random_embedding(vocab: int, dim: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """A random table: standard normal rows quantised with s_E = max|E|/127 (seeded)."""
    if not 1 <= vocab <= MAX_VOCAB or dim < 1:
        raise InputError(f"vocab must be in 1..2^32 and dim positive, got {vocab} × {dim}")
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((vocab, dim), dtype=np.float32)
    scale = float(np.abs(table).max()) / 127
    return np.clip(np.rint(table / scale), -127, 127).astype(np.int8), scale


def with_embedding(ghost: GhostFile, embedding: CommittedEmbedding) -> GhostFile:
    """``ghost`` with the header's embedding object set to ``embedding``'s (ModelError unless
    the model has one layer whose d_in is the table's dim)."""
    layers = ghost.header.layers
    if len(layers) != 1 or layers[0].d_in != embedding.spec.dim:
        raise ModelError(f"an embedding feeds a one-layer model with d_in = its dim ({embedding.spec.dim})")
    return GhostFile(replace(ghost.header, embedding=embedding.spec), ghost.roots)


def add_embedding(directory: Path, vocab: int, *, table: np.ndarray | None = None, scale: float | None = None,
                  seed: int = 0, lr_e: int | None = None, overwrite: bool = False) -> GhostFile:
    """Add an embedding table to a model directory (random with ``seed`` unless ``table`` and
    ``scale`` are given), writing ``embedding.npy`` then ghost.json (the ghostRoot changes:
    register the result). InputError if the directory already has one (unless ``overwrite``),
    ModelError if the model is not one layer."""
    ghost = read_ghost(directory)
    if ghost.header.embedding is not None and not overwrite:
        raise InputError(f"{directory} already has an embedding (pass overwrite to replace it)")
    dim = ghost.header.layers[0].d_in
    if table is None:
        table, scale = random_embedding(vocab, dim, seed)
    elif scale is None or np.asarray(table).shape != (vocab, dim):
        raise InputError(f"a given table must be ({vocab}, {dim}) with its scale")
    committed = commit_embedding(np.asarray(table), float(scale), lr_e)  # type: ignore[arg-type]
    new = with_embedding(ghost, committed)
    save_npy(directory / EMBEDDING_FILE, committed.table)
    atomic_write(directory / GHOST_FILE, new.to_bytes())
    return new


def set_embedding_rate(directory: Path, lr_e: int) -> GhostFile:
    """Declare the embedding learning rate lrE (Q16) in the header (the ghostRoot changes).
    InputError if the model has no embedding or the rate is out of range."""
    ghost = read_ghost(directory)
    spec = ghost.header.embedding
    if spec is None:
        raise InputError(f"{directory} has no embedding: run `ghostproof model embed` first")
    if not isinstance(lr_e, int) or not 0 <= lr_e <= MAX_LR_E:
        raise InputError(f"lrE must be an integer in 0..2^32-1, got {lr_e!r}")
    new = GhostFile(replace(ghost.header, embedding=replace(spec, lr_e=lr_e)), ghost.roots)
    atomic_write(directory / GHOST_FILE, new.to_bytes())
    return new


def load_embedding(directory: Path, ghost: GhostFile) -> CommittedEmbedding | None:
    """The directory's embedding, memory-mapped, its tree rebuilt and checked against the
    header (ModelError if the file is missing, of the wrong shape, or gives another root);
    None when the header declares none."""
    spec = ghost.header.embedding
    if spec is None:
        return None
    try:
        table = np.load(directory / EMBEDDING_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory / EMBEDDING_FILE} is unreadable: {exc}") from exc
    if table.dtype != np.int8 or table.shape != (spec.vocab, spec.dim):
        raise ModelError(f"{directory / EMBEDDING_FILE} is not int8 ({spec.vocab}, {spec.dim})")
    tree = embedding_tree(table)
    if tree.root != spec.root:
        raise ModelError(f"{directory / EMBEDDING_FILE} does not give the header's embedding root")
    return CommittedEmbedding(table, tree, spec)
