"""Synthetic patterns, queries and values for the benchmarks and tests (DESIGN §8).

Three kinds of stored patterns:

- *structured* — low intrinsic dimension embedded in d-D (what real embeddings look like;
  the kind the issue-3 targets are measured on);
- *clustered* — a mixture of tight Gaussian clusters in the same kind of subspace: local
  structure as real embedding collections have it (near-duplicates, topics), the data the
  column order (prover/order.py, docs/ORDER.md) is measured on besides *structured*;
- *uniform* — uniform random unit vectors, the worst case for any approximate search.

Queries are noisy copies of stored patterns (associative recall, what a Hopfield memory
does). Every function is deterministic for its ``seed``. Used by scripts/bench.py and
tests/prover/; nothing here touches the protocol formats.
"""

from __future__ import annotations

import numpy as np

from ghostproof.protocol.errors import InputError


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Normalise each row to unit length (rows are never zero in practice; guarded anyway)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def structured_patterns(
    n: int, d: int, intrinsic_dim: int = 32, seed: int = 0, ambient_noise: float = 0.0
) -> np.ndarray:
    """``n`` unit patterns in ``d``-D with intrinsic dimension ``intrinsic_dim``, float32 (n, d).

    Latent Gaussian vectors in ``intrinsic_dim`` dimensions are mapped into d-D by a
    random orthonormal basis (plus optional isotropic ``ambient_noise`` per coordinate,
    relative to the latent scale), then unit-normalised.
    """
    _check_sizes(n=n, d=d, intrinsic_dim=intrinsic_dim)
    if intrinsic_dim > d:
        raise InputError(f"intrinsic_dim {intrinsic_dim} exceeds d {d}")
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, intrinsic_dim)))  # (d, r), orthonormal
    out = np.empty((n, d), dtype=np.float32)
    step = 1 << 16
    for start in range(0, n, step):
        m = min(step, n - start)
        z = rng.standard_normal((m, intrinsic_dim))
        x = z @ basis.T
        if ambient_noise:
            x += ambient_noise * rng.standard_normal((m, d))
        out[start : start + m] = _unit_rows(x)
    return out


#: Defaults of :func:`clustered_patterns` (docs/ORDER.md): clusters of ~256 patterns whose
#: members lie ~0.35 apart (spread 0.25 · √2) while cluster centres are ≥ ~0.9 apart.
CLUSTER_SIZE = 256
CLUSTER_SPREAD = 0.25


def clustered_patterns_labelled(
    n: int,
    d: int,
    cluster_size: int = CLUSTER_SIZE,
    spread: float = CLUSTER_SPREAD,
    intrinsic_dim: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clustered_patterns` and the cluster of each pattern: (float32 (n, d), int64 (n,)).

    ⌈n / cluster_size⌉ cluster centres are uniform on the unit sphere of a random
    ``intrinsic_dim``-D subspace of d-D; each pattern picks a cluster uniformly at random
    (so sizes vary around ``cluster_size``, and patterns of one cluster are scattered over
    the ids), adds an isotropic Gaussian offset of expected norm ≈ ``spread`` inside the
    subspace, and is unit-normalised. Deterministic for ``seed``. Raises InputError for
    non-positive sizes, intrinsic_dim > d, or a spread that is negative or not finite.
    """
    _check_sizes(n=n, d=d, cluster_size=cluster_size, intrinsic_dim=intrinsic_dim)
    if intrinsic_dim > d:
        raise InputError(f"intrinsic_dim {intrinsic_dim} exceeds d {d}")
    if spread < 0 or not np.isfinite(spread):
        raise InputError(f"spread must be a finite non-negative number, got {spread!r}")
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, intrinsic_dim)))  # (d, r), orthonormal
    n_clusters = -(-n // cluster_size)
    centres = _unit_rows(rng.standard_normal((n_clusters, intrinsic_dim)))
    labels = rng.integers(0, n_clusters, size=n, dtype=np.int64)
    sigma = spread / np.sqrt(intrinsic_dim)  # per coordinate: E‖offset‖² = spread²
    out = np.empty((n, d), dtype=np.float32)
    step = 1 << 16
    for start in range(0, n, step):
        m = min(step, n - start)
        z = centres[labels[start : start + m]] + sigma * rng.standard_normal((m, intrinsic_dim))
        out[start : start + m] = _unit_rows(z @ basis.T)
    return out, labels


def clustered_patterns(
    n: int,
    d: int,
    cluster_size: int = CLUSTER_SIZE,
    spread: float = CLUSTER_SPREAD,
    intrinsic_dim: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """``n`` unit patterns in ``d``-D drawn from a mixture of Gaussian clusters, float32 (n, d).

    The patterns of :func:`clustered_patterns_labelled` (same arguments, same output);
    :func:`noisy_queries` works on them as on the other kinds.
    """
    return clustered_patterns_labelled(n, d, cluster_size, spread, intrinsic_dim, seed)[0]


def uniform_patterns(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` uniform random unit vectors in ``d``-D, float32 (n, d)."""
    _check_sizes(n=n, d=d)
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    step = 1 << 16
    for start in range(0, n, step):
        m = min(step, n - start)
        out[start : start + m] = _unit_rows(rng.standard_normal((m, d)))
    return out


def noisy_queries(
    patterns: np.ndarray, m: int, noise: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` noisy copies of randomly chosen stored patterns: (queries float32 (m, d), source ids).

    Each query is pattern + noise · g with g a random direction of unit norm (so ``noise``
    is the perturbation's norm relative to a unit pattern), then unit-normalised. Source ids
    are int64 and drawn without replacement when m ≤ n.
    """
    pats = np.asarray(patterns, dtype=np.float64)
    if pats.ndim != 2 or pats.shape[0] == 0:
        raise InputError("patterns must be a non-empty (n, d) array")
    _check_sizes(m=m)
    if noise < 0 or not np.isfinite(noise):
        raise InputError(f"noise must be a finite non-negative number, got {noise!r}")
    rng = np.random.default_rng(seed)
    n, d = pats.shape
    src = rng.choice(n, size=m, replace=m > n).astype(np.int64)
    g = _unit_rows(rng.standard_normal((m, d)))
    q = _unit_rows(_unit_rows(pats[src]) + noise * g)
    return q.astype(np.float32), src


def random_values(n: int, d_out: int, seed: int = 0) -> np.ndarray:
    """``n`` random value rows of length ``d_out`` (standard normal), float32 (n, d_out)."""
    _check_sizes(n=n, d_out=d_out)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d_out), dtype=np.float32)
