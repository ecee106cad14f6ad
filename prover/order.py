"""A locality-preserving column order for the committed trees (DESIGN §8 "Column order").

The tree commits columns in whatever order the prover chooses. Putting similar patterns
next to each other makes the k columns a query selects sit in a few small subtrees, so
their compact multiproof shrinks (and IPFS fetches touch fewer chunks).

:func:`locality_order` does recursive principal-direction bisection: project the patterns
on their top principal components once, then split every node at the median of its own
principal direction (power iteration on a subsample) until nodes hold ≤ leaf_size
patterns. O(N log N); about a few seconds at N=10^6, d=256 on two cores.

Used by the model builder (prover/commit.py) and scripts/bench.py. numpy only.

:func:`cluster_order` (``"kmeans-bisection-v1"``, docs/ORDER.md) is for data with cluster
structure, where every bisection hyperplane cuts a share of the clusters: it groups the
patterns first (k-means, groups of ~256), lays the groups out in the bisection order of their
centroids and each group's patterns in :func:`locality_order` inside it, so a cluster stays
in one run of consecutive positions. 22–34 % fewer multiproof hashes than
:func:`locality_order` on the clustered benchmark data, 2–3 % more on unclustered data,
at a higher build cost. Not the builder's default.
"""

from __future__ import annotations

import numpy as np

from ghostproof.protocol.errors import InputError
from ghostproof.protocol.ghost import ColumnOrder

#: The name :func:`locality_order` is recorded under in the ghost header (``"order"``).
LOCALITY_ORDER_METHOD = "pca-bisection-v1"
DEFAULT_LEAF_SIZE = 64
DEFAULT_COMPONENTS = 64

_GLOBAL_SAMPLE = 32_768  # rows used to estimate the global principal components
_NODE_SAMPLE = 2_048  # rows used to estimate a node's principal direction
_POWER_ITERS = 12


def _principal_direction(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Leading eigenvector of the covariance of ``x`` (rows), by power iteration."""
    if x.shape[0] > _NODE_SAMPLE:
        x = x[rng.choice(x.shape[0], _NODE_SAMPLE, replace=False)]
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc
    v = rng.standard_normal(cov.shape[0]).astype(cov.dtype)
    for _ in range(_POWER_ITERS):
        w = cov @ v
        norm = float(np.linalg.norm(w))
        if norm == 0.0:  # all points equal: any direction will do
            break
        v = w / norm
    return v


def _reduce(x: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """Project rows of ``x`` on its top ``n_components`` principal components (float32)."""
    n, d = x.shape
    if d <= n_components:
        return np.ascontiguousarray(x, dtype=np.float32)
    sample = x if n <= _GLOBAL_SAMPLE else x[np.sort(rng.choice(n, _GLOBAL_SAMPLE, replace=False))]
    sample = sample.astype(np.float64)
    mean = sample.mean(axis=0)
    sc = sample - mean
    _, vecs = np.linalg.eigh(sc.T @ sc)
    basis = vecs[:, ::-1][:, :n_components].astype(np.float32)
    out = np.empty((n, n_components), dtype=np.float32)
    step = 1 << 16
    for start in range(0, n, step):
        out[start : start + step] = np.asarray(x[start : start + step], dtype=np.float32) @ basis
    return out


def _split_point(lo: int, hi: int) -> int:
    """How many of the segment's patterns go left, so that segments align with subtrees.

    The segment [lo, hi) starts on a subtree boundary; its left part fills the largest
    aligned subtree that the segment spans more than, so every leaf segment of the
    bisection lies inside one subtree of the Merkle tree (a median split, when
    hi - lo is a power of two).
    """
    size = hi - lo
    span = 1 << (size - 1).bit_length()  # smallest power of two ≥ size
    return min(span // 2, size - 1)


def locality_order(
    patterns: np.ndarray,
    leaf_size: int = DEFAULT_LEAF_SIZE,
    seed: int = 0,
    n_components: int = DEFAULT_COMPONENTS,
) -> np.ndarray:
    """A permutation ``perm`` (int64, length N): position i of the committed tree holds
    pattern ``perm[i]``, with nearby patterns at nearby positions.

    ``patterns`` is (N, d), float or int8 (committed key columns). Deterministic for a seed.
    Raises InputError for an empty or non-2-D input or leaf_size < 1.
    """
    x = np.asarray(patterns)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"patterns must be a non-empty (N, d) array, got shape {x.shape}")
    if not isinstance(leaf_size, int) or leaf_size < 1:
        raise InputError(f"leaf_size must be a positive integer, got {leaf_size!r}")
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    z = _reduce(x, n_components, rng)
    if not np.all(np.isfinite(z)):
        raise InputError("patterns contain NaN or infinity")
    perm = np.arange(n, dtype=np.int64)
    # Each stack item is a segment [lo, hi) of perm still to be split in place.
    stack = [(0, n)]
    while stack:
        lo, hi = stack.pop()
        size = hi - lo
        if size <= leaf_size:
            continue
        ids = perm[lo:hi]
        pts = z[ids]
        proj = pts @ _principal_direction(pts, rng)
        half = _split_point(lo, hi)
        part = np.argpartition(proj, half)
        perm[lo:hi] = ids[part]
        stack.append((lo + half, hi))
        stack.append((lo, lo + half))
    return perm


#: The name :func:`cluster_order` is recorded under in the ghost header (``"order"``). Its
#: fixed parameters are part of the name: groups of CLUSTER_GROUP_SIZE patterns,
#: _KMEANS_ITERS Lloyd iterations on _KMEANS_SAMPLE_PER_GROUP sampled rows per group.
CLUSTER_ORDER_METHOD = "kmeans-bisection-v1"
CLUSTER_GROUP_SIZE = 256
DEFAULT_CLUSTER_LEAF_SIZE = 32
_KMEANS_ITERS = 8
_KMEANS_SAMPLE_PER_GROUP = 32
_ASSIGN_BLOCK = 1 << 14


def _nearest_centroid(z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean; ties → lower index) of every row."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty(z.shape[0], dtype=np.int64)
    for start in range(0, z.shape[0], _ASSIGN_BLOCK):
        scores = z[start : start + _ASSIGN_BLOCK] @ centroids.T - half_norms
        out[start : start + _ASSIGN_BLOCK] = np.argmax(scores, axis=1)
    return out


def _kmeans(z: np.ndarray, n_groups: int, rng: np.random.Generator) -> np.ndarray:
    """Centroids (n_groups, dim) from Lloyd's iterations on a sample of the rows of ``z``,
    seeded with distinct sampled rows; a centroid that loses every row stays where it is."""
    n = z.shape[0]
    sample = z[np.sort(rng.choice(n, min(n, n_groups * _KMEANS_SAMPLE_PER_GROUP), replace=False))]
    centroids = sample[rng.choice(sample.shape[0], n_groups, replace=False)].astype(np.float32)
    for _ in range(_KMEANS_ITERS):
        assigned = _nearest_centroid(sample, centroids)
        order = np.argsort(assigned, kind="stable")
        groups, starts, counts = np.unique(assigned[order], return_index=True, return_counts=True)
        sums = np.add.reduceat(sample[order].astype(np.float64), starts, axis=0)
        centroids[groups] = (sums / counts[:, None]).astype(np.float32)
    return centroids


def cluster_order(
    patterns: np.ndarray,
    leaf_size: int = DEFAULT_CLUSTER_LEAF_SIZE,
    seed: int = 0,
    n_components: int = DEFAULT_COMPONENTS,
) -> np.ndarray:
    """A permutation ``perm`` (int64, length N) as :func:`locality_order` returns, built for
    clustered data: position i of the committed tree holds pattern ``perm[i]``.

    The patterns (projected on their top ``n_components`` principal components) are grouped
    by k-means into ⌈N / CLUSTER_GROUP_SIZE⌉ groups; the groups are laid out in the
    ``locality_order`` of their centroids (leaf size 1), each group's patterns consecutive and
    in their own ``locality_order`` (``leaf_size``). Deterministic for a seed (given the same
    floating-point library). Raises InputError as :func:`locality_order` does.
    """
    x = np.asarray(patterns)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"patterns must be a non-empty (N, d) array, got shape {x.shape}")
    if not isinstance(leaf_size, int) or leaf_size < 1:
        raise InputError(f"leaf_size must be a positive integer, got {leaf_size!r}")
    rng = np.random.default_rng(seed)
    z = _reduce(x, n_components, rng)
    if not np.all(np.isfinite(z)):
        raise InputError("patterns contain NaN or infinity")
    centroids = _kmeans(z, -(-x.shape[0] // CLUSTER_GROUP_SIZE), rng)
    group = _nearest_centroid(z, centroids)
    rank = inverse_permutation(locality_order(centroids, leaf_size=1, seed=seed))
    perm = np.argsort(rank[group], kind="stable")
    bounds = np.cumsum(np.bincount(rank[group], minlength=centroids.shape[0]))
    for lo, hi in zip(np.concatenate([[0], bounds[:-1]]), bounds, strict=True):
        if hi - lo > leaf_size:
            ids = perm[lo:hi]
            perm[lo:hi] = ids[locality_order(z[ids], leaf_size=leaf_size, seed=seed)]
    return perm


def cluster_order_spec(
    leaf_size: int = DEFAULT_CLUSTER_LEAF_SIZE, seed: int = 0, n_components: int = DEFAULT_COMPONENTS
) -> ColumnOrder:
    """What the ghost header records for ``cluster_order(patterns, leaf_size, seed,
    n_components)``."""
    return ColumnOrder(CLUSTER_ORDER_METHOD, seed, leaf_size, n_components)


def locality_order_spec(
    leaf_size: int = DEFAULT_LEAF_SIZE, seed: int = 0, n_components: int = DEFAULT_COMPONENTS
) -> ColumnOrder:
    """What the ghost header records for ``locality_order(patterns, leaf_size, seed,
    n_components)``: the same parameters give the same permutation of the same patterns."""
    return ColumnOrder(LOCALITY_ORDER_METHOD, seed, leaf_size, n_components)


def inverse_permutation(perm: np.ndarray) -> np.ndarray:
    """``pos`` with pos[perm[i]] = i: the tree position of each pattern."""
    p = np.asarray(perm, dtype=np.int64)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=np.int64)
    return inv
