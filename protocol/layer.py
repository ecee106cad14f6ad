"""Quantisation and the Hopfield lookup layer math of DESIGN §1: exact integers (format 2).

The one arithmetic of the protocol: the prover computes with it, the verifier recomputes
with it, and an EVM contract can compute the same bytes, because every step after the
input is integer arithmetic specified to the bit (docs/PROTOCOL.md §2):

1. ``q = quantise_query(x)`` — round half to even of 127·x/‖x‖, computed *exactly* on the
   real value (a float fast path, and exact integer arithmetic wherever the float result
   could be within rounding error of a half);
2. integer scores ``s_j = q · K_j`` (int32);
3. the selection S (top k, ties to the lower index) and its threshold τ = min_{j∈S} s_j;
4. ``softmax_numerators`` — e_j = 2^(-t_j) in Q24 from a 256-entry table, where
   t_j = logitScale · (max s − s_j) / 2^32 (the header's integer logitScale is
   beta · s_K/127 · log2(e) in Q32);
5. ``combine`` — y_i = round_half_even(2^16 · Σ e_j V_ji / Σ e_j) (int64, Q16 in units of s_V);
6. the next layer's query ``requantise(y)``, the same exact rounding as step 1.

The float64 path (:func:`reference_layer_forward`) is the dense reference of the
benchmarks and of the torch module; it is never used to prove or verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from math import isqrt

import numpy as np

from .constants import INT8_MAX, Q_SCALE
from .errors import InputError

#: Fractional bits of the header's logitScale (the per-score-unit exponent, base 2).
LOGIT_FRAC_BITS = 32
#: logitScale must be below this (so logitScale · (max score difference) fits int64).
MAX_LOGIT_SCALE = (1 << 32) - 1
#: Fractional bits of the softmax numerators e_j (e_max = 2^24).
EXP_FRAC_BITS = 24
#: The exponent t is truncated to 1/2^EXP_TABLE_BITS before the table lookup.
EXP_TABLE_BITS = 8
#: Fractional bits of a layer output y (y_i = 2^16 · Σ a_j V_ji, in units of s_V).
OUTPUT_FRAC_BITS = 16
#: |y_i| ≤ 127 · 2^16: every layer output fits an int32.
MAX_OUTPUT_ABS = INT8_MAX << OUTPUT_FRAC_BITS

# Within this distance of a half, the float fast path of the rounding is not trusted.
_HALF_GUARD = 1e-6


def _exp2_table() -> np.ndarray:
    """T[i] = round_half_even(2^(24 − i/256)) for i in 0..255, from 60-digit decimals.

    No entry but T[0] = 2^24 is near a half (2^(−i/256) is irrational for 0 < i < 256),
    so the rounding is exact; tests/protocol/test_layer.py rechecks it at 100 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        scale = Decimal(1 << EXP_FRAC_BITS)
        steps = 1 << EXP_TABLE_BITS
        table = [int((scale * (-ln2 * i / steps).exp()).to_integral_value()) for i in range(steps)]
    return np.array(table, dtype=np.int64)


#: The exp table of step 4 (docs/PROTOCOL.md lists it; tests/vectors/core.json carries it).
EXP2_TABLE = _exp2_table()


def _rint_clip(values: np.ndarray) -> np.ndarray:
    """Round half to even and clip to ±127, as int8 (weights, at build time only)."""
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


def _exact_round(numerators: list[int], i: int) -> int:
    """round_half_even(127·|v_i| / ‖v‖) for integers v, exactly (docs/PROTOCOL.md §2.1).

    With a = 127·|v_i| and S = Σ v², r = floor(2a/√S) = isqrt(4a² // S); the result is r/2
    for even r, (r+1)/2 for odd r, except on an exact tie (r²·S = 4a²), which goes to even.
    """
    a = INT8_MAX * abs(numerators[i])
    total = sum(v * v for v in numerators)
    four_a2 = 4 * a * a
    r = isqrt(four_a2 // total)
    if r % 2 == 0:
        return r // 2
    if r * r * total == four_a2:  # t = r/2 exactly: half to even
        return (r - 1) // 2 if (r - 1) // 2 % 2 == 0 else (r + 1) // 2
    return (r + 1) // 2


def _as_integers(values: np.ndarray) -> list[int]:
    """The values (float64 or integer) scaled by one power of two to exact Python integers."""
    if np.issubdtype(values.dtype, np.integer):
        return [int(v) for v in values]
    ratios = [Fraction(float(v)) for v in values]
    denominator = max(r.denominator for r in ratios)  # a power of two: the others divide it
    return [int(r * denominator) for r in ratios]


def _quantise_direction(values: np.ndarray) -> np.ndarray:
    """round_half_even(127 · v/‖v‖) per element, exactly, as int8 (v not all zero).

    The float64 result is used wherever it is more than 1e-6 from a half (its error is
    below 1e-8 for any length ≤ 2^16); the other elements are recomputed exactly."""
    v = values.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        scale = float(np.max(np.abs(v)))
        unit = v / scale  # exact: a power of two would be exact, any scale keeps ratios
        t = Q_SCALE * np.abs(unit) / np.sqrt(np.sum(unit * unit))
    mags = np.floor(t + 0.5).astype(np.int64)
    doubtful = np.flatnonzero(np.abs(t - np.floor(t) - 0.5) < _HALF_GUARD)
    if doubtful.size:
        ints = _as_integers(values)
        for i in doubtful:
            mags[i] = _exact_round(ints, int(i))
    return (np.sign(values).astype(np.int64) * np.minimum(mags, INT8_MAX)).astype(np.int8)


def quantise_query(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    """q = round_half_even(127 · x/‖x‖) of the exact real values of ``x``, as int8.

    DESIGN §1 step 1. Raises InputError for an input that is not a usable vector
    (:func:`check_vector`)."""
    return _quantise_direction(check_vector(x, dim))  # float32 → float64 is exact


def requantise(y: np.ndarray) -> np.ndarray:
    """The next layer's query from an integer layer output ``y``: the same exact rounding as
    :func:`quantise_query`; the zero vector maps to the zero query."""
    arr = np.asarray(y, dtype=np.int64)
    if not np.any(arr):
        return np.zeros(arr.shape, dtype=np.int8)
    return _quantise_direction(arr)


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


def logit_scale(beta: float, s_k: float) -> int:
    """The header's integer logitScale: round_half_even(beta · s_K/127 · log2(e) · 2^32).

    Computed once by the model builder (float64); the committed integer is what the
    protocol uses. Raises InputError when it does not fit below 2^32 (beta far too large)."""
    value = round(beta * s_k / Q_SCALE * float(np.log2(np.e)) * (1 << LOGIT_FRAC_BITS))
    if not 0 <= value <= MAX_LOGIT_SCALE:
        raise InputError(f"beta {beta} with s_K {s_k} gives logitScale {value}, outside 0..2^32-1")
    return value


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


def softmax_numerators(scores: np.ndarray, logit_scale_q32: int) -> np.ndarray:
    """e_j = 2^(−t_j) in Q24 (int64) for the selected scores (DESIGN §1 step 4, exact).

    t_j = logitScale · (max s − s_j) / 2^32, truncated to 1/256: with u = (logitScale ·
    Δ_j) >> 24, e_j = T[u mod 256] >> (u div 256), and 0 once the shift exceeds 24. The
    best score always gets e = 2^24."""
    s = np.asarray(scores, dtype=np.int64)
    delta = s.max() - s  # < 2^31, so delta · logitScale < 2^63
    u = (delta * np.int64(logit_scale_q32)) >> (LOGIT_FRAC_BITS - EXP_TABLE_BITS)
    shift = u >> EXP_TABLE_BITS
    table = EXP2_TABLE[u & ((1 << EXP_TABLE_BITS) - 1)]
    return np.where(shift > EXP_FRAC_BITS, 0, table >> np.minimum(shift, EXP_FRAC_BITS))


def divide_round_half_even(numerators: np.ndarray, denominator: int) -> np.ndarray:
    """round_half_even(n / d) for int64 numerators and a positive integer denominator."""
    d = np.int64(denominator)
    quotient, remainder = np.divmod(numerators, d)  # floor division: 0 ≤ remainder < d
    twice = 2 * remainder
    up = (twice > d) | ((twice == d) & (quotient % 2 == 1))
    return quotient + up.astype(np.int64)


def combine(weights: np.ndarray, value_rows: np.ndarray) -> np.ndarray:
    """y_i = round_half_even(2^16 · Σ_j e_j V_ji / Σ_j e_j), int64 (DESIGN §1 step 5, exact).

    Bounds: e_j ≤ 2^24, |V| ≤ 127 and k ≤ 1024 keep every intermediate below 2^58."""
    e = np.asarray(weights, dtype=np.int64)
    total = int(e.sum())
    acc = e @ np.asarray(value_rows, dtype=np.int64)
    return divide_round_half_even(acc << OUTPUT_FRAC_BITS, total)


@dataclass(frozen=True, eq=False)
class LayerResult:
    """One layer computed exactly: the selected columns' scores, τ and the output y (Q16)."""

    scores: np.ndarray  # int32, one per selected column
    tau: int  # the lowest score in the selection
    output: np.ndarray  # int64 (d_out,), |y_i| ≤ 127·2^16


def layer_forward(
    q: np.ndarray, key_columns: np.ndarray, value_rows: np.ndarray, logit_scale_q32: int
) -> LayerResult:
    """One layer over the selected key columns and value rows (sparse, or all N for dense)."""
    scores = int_scores(q, key_columns)
    y = combine(softmax_numerators(scores, logit_scale_q32), value_rows)
    return LayerResult(scores=scores, tau=int(scores.min()), output=y)


def output_values(y: np.ndarray, s_v: float) -> np.ndarray:
    """The float reading s_V · y / 2^16 of an exact layer output (for display only)."""
    return s_v * np.asarray(y, dtype=np.float64) / (1 << OUTPUT_FRAC_BITS)


def top1(y: np.ndarray) -> int:
    """Index of the largest output element (ties → lower index): the class of a classifier."""
    return int(np.argmax(y))


# ---------------------------------------------------------------- float64 reference

def softmax_weights(scores: np.ndarray, beta: float, s_k: float) -> np.ndarray:
    """a = softmax(beta · s_K / 127 · s) in float64 (the dense reference, not the protocol)."""
    z = (beta * s_k / Q_SCALE) * np.asarray(scores, dtype=np.float64)
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def reference_layer_forward(
    q: np.ndarray,
    key_columns: np.ndarray,
    value_rows: np.ndarray,
    beta: float,
    s_k: float,
    s_v: float,
) -> np.ndarray:
    """Float64 output y = Σ_j a_j · s_V · V_j: the dense reference of the benchmarks and of
    the torch module (format 1's arithmetic). Never used to prove or verify."""
    a = softmax_weights(int_scores(q, key_columns), beta, s_k)
    return s_v * (a @ value_rows.astype(np.float64))
