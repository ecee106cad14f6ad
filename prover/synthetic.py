"""Synthetic patterns, queries and values for the benchmarks and tests (DESIGN §8).

Two kinds of stored patterns:

- *structured* — low intrinsic dimension embedded in d-D (what real embeddings look like;
  the kind the issue-3 targets are measured on);
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
