"""Small synthetic model directories for the IPFS tests and scripts/bench_ipfs.py.

Writes random int8 matrices and a ghost file whose chunk table and roots match them, in the
model-directory layout of ``ghostproof.adapters.storage.transfer``. Not a real model (the prover builds
those); it exercises chunking, CIDs, publish, fetch and audit at any size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes, plan_chunks
from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.ghost import GhostFile, GhostHeader, LayerSpec
from ghostproof.protocol.hashing import leaf_hashes
from ghostproof.protocol.merkle import build_tree

from .layout import GHOST_FILE, matrix_file


def write_synthetic_model(
    model_dir: str | os.PathLike[str],
    *,
    n: int,
    dims: Sequence[int] = (16, 4),
    k: int = 4,
    seed: int = 0,
    name: str = "synthetic",
) -> GhostFile:
    """Write a model of ``len(dims) - 1`` layers of ``n`` columns (layer ℓ: d_in = dims[ℓ],
    d_out = dims[ℓ+1]) into ``model_dir`` and return its ghost file."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    layers: list[LayerSpec] = []
    chunks: list[ChunkRef] = []
    roots: list[tuple[bytes, bytes]] = []
    for layer in range(len(dims) - 1):
        d_in, d_out = dims[layer], dims[layer + 1]
        layers.append(LayerSpec(d_in, d_out, n, min(k, n), 8.0, 0.01, 0.02))
        pair: list[bytes] = []
        for matrix, d in (("K", d_in), ("V", d_out)):
            array = rng.integers(-127, 128, size=(n, d), dtype=np.int8)
            np.save(out / matrix_file(layer, matrix), array, allow_pickle=False)
            for first, count in plan_chunks(n, d):
                data = array[first : first + count].tobytes()
                chunks.append(ChunkRef(layer, matrix, first, count, cid_for_bytes(data)))
            pair.append(build_tree(leaf_hashes(layer, MATRIX_TAGS[matrix], array)).root)
        roots.append((pair[0], pair[1]))
    header = GhostHeader(name=name, layers=tuple(layers), chunks=tuple(chunks))
    ghost = GhostFile(header, tuple(roots))
    (out / GHOST_FILE).write_bytes(ghost.to_bytes())
    return ghost
