"""Quantisation and the Hopfield lookup layer math of DESIGN §1, in numpy.

The one reference arithmetic: the prover computes with it, the verifier recomputes with
it, the torch module and the benchmarks are checked against it. Scores are exact
integers; softmax and outputs are float64.
"""

from __future__ import annotations

import numpy as np

from .constants import INT8_MAX, Q_SCALE
from .errors import InputError


def _rint_clip(values: np.ndarray) -> np.ndarray:
    """Round half to even and clip to ±127, as int8."""
    return np.clip(np.rint(values), -INT8_MAX, INT8_MAX).astype(np.int8)


def check_vector(x: np.ndarray, dim: int | None = None, what: str = "input") -> np.ndarray:
    """Return ``x`` as a 1-D float64 array; raise InputError if it is empty, of the wrong
    length, has NaN/inf, or is all zeros."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{what} must be a non-empty 1-D vector, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{what} must be real numbers")
    if dim is not None and arr.size != dim:
        raise InputError(f"{what} has length {arr.size}, the model expects {dim}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{what} contains NaN or infinity")
    if not np.any(out):
        raise InputError(f"{what} is the zero vector, which has no direction to quantise")
    return out


def quantise_query(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    """q = round_half_even(127 · x/‖x‖) clipped to ±127, as int8 (DESIGN §1 step 1)."""
    v = check_vector(x, dim)
    return _rint_clip(Q_SCALE * (v / np.linalg.norm(v)))


def quantise_keys(keys: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit-normalise each stored pattern (row of ``keys``, shape (N, d_in)), then quantise.

    Returns (K_int8 with one column per row, s_K) with s_K = max|K̂|/127, K ≈ s_K · K_int8.
    """
    k = np.asarray(keys, dtype=np.float64)
    norms = np.linalg.norm(k, axis=1, keepdims=True)
    if k.ndim != 2 or k.shape[0] == 0 or not np.all(np.isfinite(k)) or np.any(norms == 0):
        raise InputError("keys must be a finite (N, d) array with no zero pattern")
    unit = k / norms
    s_k = float(np.max(np.abs(unit))) / INT8_MAX
    return _rint_clip(unit / s_k), s_k


def quantise_values(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Quantise value rows (shape (N, d_out)) with s_V = max|V|/127; returns (V_int8, s_V)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] == 0 or not np.all(np.isfinite(v)) or not np.any(v):
        raise InputError("values must be a finite, non-zero (N, d) array")
    s_v = float(np.max(np.abs(v))) / INT8_MAX
    return _rint_clip(v / s_v), s_v


def int_scores(q: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Exact integer scores s_j = Σ_i q_i · K_ij for each column (row of ``columns``).

    Computed in int32, which is exact: |s_j| ≤ 127² · d_in < 2^31 for d_in ≤ 2^16."""
    return columns.astype(np.int32) @ q.astype(np.int32)


def top_k(scores: np.ndarray, k: int, ids: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` ids of highest score (ties → lower id), returned sorted by id.

    ``ids`` names the candidates behind ``scores`` (default 0..len-1).
    """
    ids = np.arange(len(scores)) if ids is None else np.asarray(ids)
    if k > len(scores):
        raise InputError(f"cannot select {k} of {len(scores)} candidates")
    order = np.lexsort((ids, -np.asarray(scores, dtype=np.int64)))[:k]
    return np.sort(ids[order])


def softmax_weights(scores: np.ndarray, beta: float, s_k: float) -> np.ndarray:
    """a = softmax(beta · s_K / 127 · s) in float64 (DESIGN §1 step 4)."""
    z = (beta * s_k / Q_SCALE) * np.asarray(scores, dtype=np.float64)
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def combine_values(weights: np.ndarray, value_rows: np.ndarray, s_v: float) -> np.ndarray:
    """y = Σ_j a_j · s_V · V_j in float64 (DESIGN §1 step 5)."""
    return s_v * (weights @ value_rows.astype(np.float64))


def layer_forward(
    q: np.ndarray,
    key_columns: np.ndarray,
    value_rows: np.ndarray,
    beta: float,
    s_k: float,
    s_v: float,
) -> np.ndarray:
    """Output y of one layer from the query and the selected columns/rows (sparse or dense)."""
    a = softmax_weights(int_scores(q, key_columns), beta, s_k)
    return combine_values(a, value_rows, s_v)


def quantisation_gap(claimed: np.ndarray, y: np.ndarray) -> int:
    """Largest |claimed_i − quantise(y)_i|: how far a claimed next-layer query is from y's."""
    own = quantise_query(y).astype(np.int16)
    return int(np.max(np.abs(claimed.astype(np.int16) - own)))
