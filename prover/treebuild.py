"""Parallel commit of one matrix: leaf hashes and Merkle tree over both cores.

``build_matrix_tree(layer, tag, columns)`` returns exactly
``protocol.merkle.build_tree(protocol.hashing.leaf_hashes(layer, tag, columns))``, but splits
the 2^h leaf slots into aligned subtrees, one per worker, and hashes only the top levels at
the end. With the batch keccak (``protocol.hashing.native()``) the workers are threads (the
native kernels release the GIL) writing into one packed tree; without it, processes (fork),
whose subtrees the parent joins. Small matrices, or platforms without ``fork``, take the
single-process path. Used by the model builder and scripts/bench.py.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from ghostproof.protocol.constants import HASH_BYTES, ZERO_HASH
from ghostproof.protocol.errors import ModelError
from ghostproof.protocol.hashing import leaf_hash_array, leaf_hashes, native
from ghostproof.protocol.merkle import (
    MerkleTree,
    build_tree,
    packed_tree_buffer,
    tree_depth,
    tree_from_packed_leaves,
)

# Below this many columns the process start-up costs more than it saves.
PARALLEL_MIN_COLUMNS = 1 << 15
# With the batch keccak, threads pay off from far fewer columns.
NATIVE_PARALLEL_MIN_COLUMNS = 1 << 12

# Set in the parent just before forking; the children read it without a copy or pickle.
_JOB: tuple[int, int, np.ndarray] | None = None


def _subtree_levels(lo: int, size: int) -> list[bytes]:
    """Levels (leaves first, packed bytes) of the subtree over leaf slots [lo, lo+size)."""
    if _JOB is None:  # pragma: no cover - only reached when misused
        raise RuntimeError("no tree-building job in this process")
    layer, tag, columns = _JOB
    hi = min(lo + size, columns.shape[0])
    leaves = leaf_hashes(layer, tag, columns[lo:hi], first=lo) if hi > lo else []
    leaves += [ZERO_HASH] * (size - len(leaves))
    tree = build_tree(leaves)
    return [lvl.tobytes() for lvl in tree.levels]


def build_matrix_tree(layer: int, tag: int, columns: np.ndarray, workers: int | None = None) -> MerkleTree:
    """The Merkle tree over the leaves of every row of ``columns`` ((N, d) int8) of matrix
    ``tag`` of layer ``layer``; identical to the single-process build.

    ``workers`` defaults to the number of cores and is rounded down to a power of two.
    Raises ModelError if ``columns`` is not a non-empty 2-D int8 array.
    """
    cols = np.asarray(columns)
    if cols.ndim != 2 or cols.shape[0] == 0 or cols.dtype != np.int8:
        raise ModelError(f"columns must be a non-empty (N, d) int8 array, got {cols.shape} {cols.dtype}")
    n = cols.shape[0]
    depth = tree_depth(n)
    w = workers if workers is not None else (os.cpu_count() or 1)
    split = min(max(w, 1).bit_length() - 1, depth)  # log2 of the number of subtrees
    if native(2 * n) is not None:
        return _build_native(layer, tag, cols, split if n >= NATIVE_PARALLEL_MIN_COLUMNS else 0)
    if split == 0 or n < PARALLEL_MIN_COLUMNS or "fork" not in mp.get_all_start_methods():
        return build_tree(leaf_hashes(layer, tag, cols))
    parts = 1 << split
    size = 1 << (depth - split)
    global _JOB
    _JOB = (layer, tag, np.ascontiguousarray(cols))
    try:
        with ProcessPoolExecutor(max_workers=parts, mp_context=mp.get_context("fork")) as pool:
            subtrees = list(pool.map(_subtree_levels, range(0, parts * size, size), [size] * parts))
    finally:
        _JOB = None
    levels = [
        np.frombuffer(b"".join(sub[lvl] for sub in subtrees), dtype=np.uint8).reshape(-1, HASH_BYTES)
        for lvl in range(depth - split + 1)
    ]
    top = build_tree([row.tobytes() for row in levels[-1]])
    levels.extend(top.levels[1:])
    return MerkleTree(n, tuple(levels))


def _build_native(layer: int, tag: int, cols: np.ndarray, split: int) -> MerkleTree:
    """The batch-keccak build: 2^split threads hash the leaves of their aligned subtrees into
    one packed tree, then the levels of their subtrees; the top levels follow in this thread."""
    n = cols.shape[0]
    depth = tree_depth(n)
    packed = packed_tree_buffer(depth)
    parts = 1 << split
    size = 1 << (depth - split)  # leaf slots per subtree

    def hash_leaves(lo: int) -> None:
        hi = min(lo + size, n)
        if hi > lo:
            packed[lo:hi] = leaf_hash_array(layer, tag, cols[lo:hi], first=lo)

    if parts == 1:
        hash_leaves(0)
    else:
        with ThreadPoolExecutor(max_workers=parts) as pool:
            list(pool.map(hash_leaves, range(0, parts * size, size)))
    return tree_from_packed_leaves(n, packed, parts)
