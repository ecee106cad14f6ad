"""Committing a quantised model: Merkle trees per matrix, the chunk table, the ghost file.

Used by the model builder (``ghostproof model build``) and by tests and benchmarks that
need a committed model in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes, plan_chunks
from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.errors import ModelError
from ghostproof.protocol.ghost import ColumnOrder, GhostFile, GhostHeader, LayerSpec
from ghostproof.protocol.hashing import leaf_hashes
from ghostproof.protocol.layer import quantise_keys, quantise_values
from ghostproof.protocol.merkle import MerkleTree, build_tree

#: Called as on_progress(description, done, total) while committing.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True, eq=False)
class CommittedLayer:
    """One layer in committed int8 form: row j of ``keys``/``values`` is committed column j."""

    keys: np.ndarray  # int8 (N, d_in)
    values: np.ndarray  # int8 (N, d_out)
    spec: LayerSpec

    def matrix(self, name: str) -> np.ndarray:
        """``keys`` for "K", ``values`` for "V"."""
        return self.keys if name == "K" else self.values


@dataclass(frozen=True, eq=False)
class CommittedModel:
    """A whole model: layers, their trees, and the ghost file that commits to them."""

    layers: tuple[CommittedLayer, ...]
    trees: tuple[tuple[MerkleTree, MerkleTree], ...]
    ghost: GhostFile

    @property
    def ghost_root(self) -> bytes:
        """The 32-byte value anchored on-chain."""
        return self.ghost.ghost_root


def quantise_layer(keys: np.ndarray, values: np.ndarray, beta: float, k: int) -> CommittedLayer:
    """Quantise float patterns (N, d_in) and values (N, d_out) into a committed layer."""
    if keys.shape[0] != values.shape[0]:
        raise ModelError(f"{keys.shape[0]} keys but {values.shape[0]} values")
    k_int, s_k = quantise_keys(keys)
    v_int, s_v = quantise_values(values)
    n, d_in = k_int.shape
    spec = LayerSpec(d_in=d_in, d_out=v_int.shape[1], n=n, k=k, beta=float(beta), s_k=s_k, s_v=s_v)
    spec.check(0)
    return CommittedLayer(k_int, v_int, spec)


def matrix_tree(
    layer: int,
    tag: int,
    matrix: np.ndarray,
    on_progress: ProgressFn | None = None,
    block: int = 1 << 16,
) -> MerkleTree:
    """The Merkle tree over every column (row) of one int8 matrix (both cores when large)."""
    from .treebuild import PARALLEL_MIN_COLUMNS, build_matrix_tree

    n = matrix.shape[0]
    label = f"hashing layer {layer} {'K' if tag == MATRIX_K else 'V'}"
    if n >= PARALLEL_MIN_COLUMNS:
        if on_progress:
            on_progress(label, 0, n)
        tree = build_matrix_tree(layer, tag, np.asarray(matrix))
        if on_progress:
            on_progress(label, n, n)
        return tree
    leaves: list[bytes] = []
    for first in range(0, n, block):
        leaves.extend(leaf_hashes(layer, tag, np.asarray(matrix[first : first + block]), first))
        if on_progress:
            on_progress(label, min(first + block, n), n)
    return build_tree(leaves)


def chunk_table(layers: list[CommittedLayer]) -> list[ChunkRef]:
    """The chunk table (DESIGN §4) of every matrix, in layer then K/V order."""
    table = []
    for i, layer in enumerate(layers):
        for name in ("K", "V"):
            mat = np.ascontiguousarray(layer.matrix(name))
            for first, count in plan_chunks(mat.shape[0], mat.shape[1]):
                cid = cid_for_bytes(mat[first : first + count].tobytes())
                table.append(ChunkRef(i, name, first, count, cid))
    return table


def commit_model(
    name: str,
    layers: list[CommittedLayer],
    trees: list[tuple[MerkleTree, MerkleTree]] | None = None,
    on_progress: ProgressFn | None = None,
    order: ColumnOrder | None = None,
) -> CommittedModel:
    """Build (or reuse) the trees, the chunk table and the ghost file of ``layers``.

    ``order``, when given, is recorded in the header (how the columns were ordered,
    prover/order.py); without it the ghost file is exactly what it was before that field."""
    for i in range(1, len(layers)):
        if layers[i].spec.d_in != layers[i - 1].spec.d_out:
            raise ModelError(f"layer {i} dIn differs from layer {i - 1} dOut")
    if trees is None:
        trees = [
            (
                matrix_tree(i, MATRIX_K, layer.keys, on_progress),
                matrix_tree(i, MATRIX_V, layer.values, on_progress),
            )
            for i, layer in enumerate(layers)
        ]
    header = GhostHeader(
        name=name,
        layers=tuple(layer.spec for layer in layers),
        chunks=tuple(chunk_table(layers)),
        order=order,
    )
    ghost = GhostFile(header, tuple((k.root, v.root) for k, v in trees))
    return CommittedModel(tuple(layers), tuple(trees), ghost)
