"""Verifiable sparse updates (DESIGN §10, docs/PROTOCOL.md §14): the rule, the proof, its check.

A training step on a Hopfield lookup layer for one example (x, target) changes only the k key
columns and value rows its forward pass selected. The rule ``"sgd-v1"`` (declared per layer in
the ghost header, :class:`protocol.ghost.UpdateRule`) is exact integer arithmetic with one
rounding per element (:func:`sgd_step`), so the prover and any verifier compute the same
bytes. An :class:`UpdateProof` carries the examples, each selection S_i and threshold τ_i, the
sorted union P of the touched positions, the old and new columns at P and one compact
multiproof per matrix: the same siblings give the old layer root from the old columns and the
new root from the new ones, so nothing else changed. :func:`verify_update` checks all of it
and replays the examples itself. The JSON form is ``"ghostproof/update/1"``
(:func:`update_to_json`, :func:`update_from_json`). Pure: numpy, stdlib and the protocol only.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .chunks import ChunkRef
from .constants import INT8_MAX, MATRIX_K, MATRIX_V, MAX_DIM, MAX_K, MAX_LAYERS
from .embedding import (
    MAX_TOKENS,
    EmbeddingSpec,
    check_tokens,
    token_counts,
    token_query,
    touched_embedding_chunks,
    verify_embedding_rows,
)
from .errors import FormatError, InputError, MultiproofError, RootMismatchError, UpdateProofError
from .ghost import UPDATE_RULE_SGD_V1, GhostFile, LayerSpec, UpdateRule
from .hashing import from_hex, leaf_hashes, to_hex
from .jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from .layer import OUTPUT_FRAC_BITS, combine, int_scores, quantise_query, softmax_numerators
from .merkle import process_multiproof, tree_depth
from .response import MAX_TAU_ABS, delta_decode, delta_encode
from .response_json import _floats, _hash_list, _int8_from_hex, _int_in, _uint

UPDATE_FORMAT_PREFIX = "ghostproof/update/"
UPDATE_FORMAT = f"{UPDATE_FORMAT_PREFIX}1"
#: At most this many examples in one update proof.
MAX_UPDATE_EXAMPLES = 4096
#: V step: ΔV_ji = round(lrV · e_j · r_i / (E · 2^V_SHIFT)); lrV is Q16, r_i is Q16.
V_SHIFT = 2 * OUTPUT_FRAC_BITS
#: K step: ΔK_ji = round(lrK · e_j · δ_j · q_i / (E · 2^K_SHIFT · K_DIVISOR)); lrK is Q16, δ_j Q32.
K_SHIFT = 3 * OUTPUT_FRAC_BITS
#: 127²: the query's and the key's int8 scales.
K_DIVISOR = INT8_MAX * INT8_MAX

# scaled_round's fast path: fixed-point bits of the fractional coefficient, and the largest
# integer part and multiplier it handles in int64 (anything else is computed exactly in Python).
_FRAC_BITS = 36
_MAX_FAST_INT = 1 << 30
_MAX_FAST_Z = 1 << 25
_DELTA_BLOCK = 1 << 14  # δ is summed in int64 blocks of this many products (< 2^62 each)


# ---------------------------------------------------------------- examples and targets


@dataclass(frozen=True, eq=False)
class Example:
    """One training example: the input x (float32, as a request's) and the target t (int8,
    d_out, in units of the layer's s_V).

    A token example (docs/PROTOCOL.md §14.6) has ``tokens`` (ids into the committed embedding,
    in the order given, repeats allowed) and an empty ``x``: its input is the sum of the
    tokens' current embedding rows. Build one with :meth:`from_tokens`."""

    x: np.ndarray
    target: np.ndarray
    tokens: tuple[int, ...] | None = None

    @classmethod
    def from_tokens(cls, tokens: Sequence[int], target: np.ndarray) -> Example:
        """A token example (``x`` empty)."""
        return cls(np.zeros(0, dtype=np.float32), np.asarray(target), tuple(int(t) for t in tokens))


def quantise_target(values: np.ndarray, s_v: float) -> np.ndarray:
    """The int8 target of a float target output: round_half_even(values / s_V), clipped to
    ±127 (float64; the prover's convenience, the proof carries the int8 target)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or not np.all(np.isfinite(v)) or not s_v > 0:
        raise InputError("a target must be a finite 1-D vector and s_V positive")
    return np.clip(np.rint(v / s_v), -INT8_MAX, INT8_MAX).astype(np.int8)


def one_hot_target(label: int, d_out: int) -> np.ndarray:
    """The int8 target of class ``label`` of a classifier: 127 at ``label``, 0 elsewhere."""
    if not isinstance(label, int | np.integer) or not 0 <= int(label) < d_out:
        raise InputError(f"label {label!r} is not a class of a {d_out}-output layer")
    t = np.zeros(d_out, dtype=np.int8)
    t[int(label)] = INT8_MAX
    return t


# ---------------------------------------------------------------- the rule (exact integers)


def _round_half_even_int(numerator: int, denominator: int) -> int:
    """round_half_even(numerator / denominator) for Python ints, denominator > 0."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def _exact_row(coef: int, z: np.ndarray, denom: int) -> np.ndarray:
    return np.array([_round_half_even_int(coef * int(v), denom) for v in z], dtype=object)


def scaled_round(coefs: Sequence[int], z: np.ndarray, denom: int) -> np.ndarray:
    """round_half_even(coefs[j] · z[j, i] / denom) for every element, exactly (Python ints
    in, int64 out, or an object array where a value exceeds int64).

    ``coefs`` are arbitrary integers, ``z`` an integer (m, d) array, ``denom`` > 0. Fast
    path: coefs[j]/denom = Q_j + F_j/2^36 + ε_j/2^36 (0 ≤ ε_j < 1); the fraction is then
    known to within |z|/2^36 < 2^-11, and every element whose interval holds a half is
    recomputed exactly (as are rows with |Q_j| ≥ 2^30 or |z| ≥ 2^25). One rounding each."""
    zz = np.asarray(z, dtype=np.int64)
    m = zz.shape[0]
    quotients = [divmod(int(c), denom) for c in coefs]
    big = [abs(q) >= _MAX_FAST_INT for q, _ in quotients]
    if zz.size and int(np.abs(zz).max()) >= _MAX_FAST_Z:
        big = [True] * m
    q_arr = np.array([0 if b else q for (q, _), b in zip(quotients, big, strict=True)], dtype=np.int64)
    f_arr = np.array([(r << _FRAC_BITS) // denom for _, r in quotients], dtype=np.int64)
    lo = f_arr[:, None] * zz
    hi = lo + zz
    a, b = np.minimum(lo, hi), np.maximum(lo, hi)
    half, one = np.int64(1 << (_FRAC_BITS - 1)), np.int64(1 << _FRAC_BITS)
    # Safe iff no half-point (t + 1/2)·2^36 lies in [a, b].
    safe = np.floor_divide(b - half, one) < -np.floor_divide(-(a - half), one)
    out = q_arr[:, None] * zz + np.floor_divide(a + half, one)
    for j, i in zip(*np.nonzero(~safe), strict=True):
        if not big[j]:  # a big row is recomputed whole below
            out[j, i] = _round_half_even_int(int(coefs[j]) * int(zz[j, i]), denom)
    if any(big):
        result = out.astype(object)
        for j in np.flatnonzero(big):
            result[j] = _exact_row(int(coefs[j]), zz[j], denom)
        return result
    return out


def _clip_sub(old: np.ndarray, step: np.ndarray) -> np.ndarray:
    """clip(old − step, ±127) as int8 (step int64 or an object array of Python ints)."""
    if step.dtype == object:
        bounded = np.array([max(-255, min(255, int(v))) for v in step.ravel()], dtype=np.int64)
        step = bounded.reshape(step.shape)
    return np.clip(old.astype(np.int64) - step, -INT8_MAX, INT8_MAX).astype(np.int8)


def _deltas(r: np.ndarray, values: np.ndarray, y: np.ndarray) -> list[int]:
    """δ_j = Σ_i r_i · (2^16·V_ji − y_i), exact (int64 products < 2^48, summed in blocks)."""
    diff = (values.astype(np.int64) << OUTPUT_FRAC_BITS) - y[None, :]
    prod = diff * r[None, :]
    d = prod.shape[1]
    if d <= _DELTA_BLOCK:
        return [int(v) for v in prod.sum(axis=1)]
    return [
        sum(int(prod[j, s : s + _DELTA_BLOCK].sum()) for s in range(0, d, _DELTA_BLOCK))
        for j in range(prod.shape[0])
    ]


@dataclass(frozen=True, eq=False)
class StepResult:
    """One example's step on its selected columns: the forward pass (scores, τ, output y in
    Q16) on the old columns, and the new key columns and value rows."""

    scores: np.ndarray  # int64 (k,)
    tau: int
    output: np.ndarray  # int64 (d_out,)
    new_keys: np.ndarray  # int8 (k, d_in)
    new_values: np.ndarray  # int8 (k, d_out)
    gradient: np.ndarray | None = None  # object (d_in,): G_i = Σ_j e_j·δ_j·K_ji, when asked for
    total: int = 0  # E = Σ_{j∈S} e_j


def query_gradient(e: np.ndarray, deltas: Sequence[int], keys: np.ndarray) -> np.ndarray:
    """G_i = Σ_{j∈S} e_j · δ_j · K_ji with the old keys, exact (an object array of Python ints):
    the gradient of the loss with respect to the query q, in the K step's units
    (docs/PROTOCOL.md §14.6)."""
    coefs = np.array([int(ej) * int(dj) for ej, dj in zip(e, deltas, strict=True)], dtype=object)
    return coefs @ np.asarray(keys, dtype=np.int64).astype(object)


def embedding_step(lr_e: int, gradient: np.ndarray, total: int, counts: Sequence[int],
                   rows: np.ndarray) -> np.ndarray:
    """The new rows of the distinct tokens of one example: E'_ti = clip(E_ti −
    round(lrE · m_t · G_i / (E · 2^48 · 127²)), ±127), m_t the token's multiplicity, one
    rounding (half to even) per element (docs/PROTOCOL.md §14.6)."""
    coefs = [lr_e * int(g) for g in gradient]
    z = np.broadcast_to(np.asarray(counts, dtype=np.int64), (len(coefs), len(counts)))
    step = scaled_round(coefs, z, (total << K_SHIFT) * K_DIVISOR)
    return _clip_sub(np.asarray(rows, dtype=np.int8), np.ascontiguousarray(step.T))


def sgd_step(
    rule: UpdateRule,
    logit_scale_q32: int,
    q: np.ndarray,
    key_columns: np.ndarray,
    value_rows: np.ndarray,
    target: np.ndarray,
    *,
    with_gradient: bool = False,
) -> StepResult:
    """The rule "sgd-v1" for one example on its selected columns (docs/PROTOCOL.md §14).

    With e = softmax_numerators(s), E = Σe, y = combine(e, V_S), r_i = y_i − 2^16·t_i:
    δ_j = Σ_i r_i (2^16 V_ji − y_i);
    V'_ji = clip(V_ji − round(lrV · e_j · r_i / (E · 2^32)), ±127);
    K'_ji = clip(K_ji − round(lrK · e_j · δ_j · q_i / (E · 2^48 · 127²)), ±127)
    (gradient descent on ½‖y − t‖², δ from the old V; every rounding half to even).
    ``with_gradient`` also returns the query gradient G (:func:`query_gradient`, old K) and
    leaves ``StepResult.total`` = E for the embedding step."""
    if rule.rule != UPDATE_RULE_SGD_V1:
        raise InputError(f"unknown update rule {rule.rule!r}")
    keys = np.asarray(key_columns, dtype=np.int8)
    values = np.asarray(value_rows, dtype=np.int8)
    scores = int_scores(q, keys).astype(np.int64)
    e = softmax_numerators(scores, logit_scale_q32)
    total = int(e.sum())
    y = combine(e, values)
    r = y - (np.asarray(target, dtype=np.int64) << OUTPUT_FRAC_BITS)
    deltas = _deltas(r, values, y)
    k = keys.shape[0]
    v_coefs = [rule.lr_v * int(ej) for ej in e]
    v_step = scaled_round(v_coefs, np.broadcast_to(r, (k, r.size)), total << V_SHIFT)
    q64 = np.broadcast_to(np.asarray(q, dtype=np.int64), (k, keys.shape[1]))
    k_coefs = [rule.lr_k * int(ej) * dj for ej, dj in zip(e, deltas, strict=True)]
    k_step = scaled_round(k_coefs, q64, (total << K_SHIFT) * K_DIVISOR)
    return StepResult(
        scores=scores,
        tau=int(scores.min()),
        output=y,
        new_keys=_clip_sub(keys, k_step),
        new_values=_clip_sub(values, v_step),
        gradient=query_gradient(e, deltas, keys) if with_gradient else None,
        total=total,
    )


# ---------------------------------------------------------------- replaying a batch


@dataclass(frozen=True, eq=False)
class Replay:
    """A batch replayed on the revealed columns: the new columns at P, and per example its
    threshold and output (before its own step)."""

    new_keys: np.ndarray  # int8 (|P|, d_in)
    new_values: np.ndarray  # int8 (|P|, d_out)
    taus: tuple[int, ...]
    outputs: tuple[np.ndarray, ...]
    new_embedding: np.ndarray | None = None  # int8 (|T|, dim): the touched embedding rows after


@dataclass(eq=False)
class EmbeddingRows:
    """Revealed embedding rows during a replay: ``ids`` (sorted, distinct) name the rows of
    ``rows`` (int8 (|T|, dim), updated in place by the replay); ``lr_e`` is the header's lrE
    (None: the rows are read but never trained)."""

    ids: np.ndarray  # int64 (|T|,)
    rows: np.ndarray  # int8 (|T|, dim)
    lr_e: int | None

    def rows_of(self, tokens: Sequence[int], i: int) -> tuple[np.ndarray, tuple[int, ...]]:
        """Row indices (into ``rows``) of the distinct tokens of example ``i``, and their
        multiplicities; UpdateProofError unless every token is revealed."""
        ids, counts = token_counts(tokens)
        sel = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(self.ids, sel)
        inside = np.minimum(at, max(self.ids.size - 1, 0))
        if self.ids.size == 0 or np.any(at >= self.ids.size) or not np.array_equal(self.ids[inside], sel):
            raise UpdateProofError(f"example {i}: a token's embedding row is not revealed")
        return at, counts


def _rows_of(positions: np.ndarray, selected: Sequence[int], i: int) -> np.ndarray:
    """Row indices in P of the selection S_i; UpdateProofError unless S_i ⊂ P."""
    sel = np.asarray(selected, dtype=np.int64)
    rows = np.searchsorted(positions, sel)
    inside = np.minimum(rows, positions.size - 1)
    if np.any(rows >= positions.size) or not np.array_equal(positions[inside], sel):
        raise UpdateProofError(f"example {i}: the selection is not inside the touched positions")
    return rows


def _example_query(example: Example, spec: LayerSpec, embedding: EmbeddingRows | None,
                   i: int) -> tuple[np.ndarray, tuple[np.ndarray, tuple[int, ...]] | None]:
    """Example i's query (float input: quantise(x); token input: quantise of the sum of its
    current embedding rows) and, for a token input, its rows in ``embedding`` and counts."""
    try:
        if example.tokens is None:
            return quantise_query(example.x, spec.d_in), None
        if embedding is None:
            raise UpdateProofError(f"example {i}: a token input, but no embedding rows are revealed")
        at, counts = embedding.rows_of(example.tokens, i)
        return token_query(range(len(at)), counts, embedding.rows[at]), (at, counts)
    except InputError as exc:
        raise UpdateProofError(f"example {i}: {exc}") from exc


def replay(
    spec: LayerSpec,
    positions: Sequence[int],
    old_keys: np.ndarray,
    old_values: np.ndarray,
    examples: Sequence[Example],
    selections: Sequence[Sequence[int]],
    embedding: EmbeddingRows | None = None,
) -> Replay:
    """Apply the layer's declared rule to ``examples`` in order, example i on the selection
    ``selections[i]`` of the columns as examples < i left them (docs/PROTOCOL.md §14 step 3).

    ``positions`` (sorted) name the rows of ``old_keys``/``old_values``; ``embedding`` holds
    the revealed embedding rows a token example reads and (with lrE) trains (§14.6; its
    rows are not modified — the result carries the new ones). Raises UpdateProofError if the
    layer declares no rule, a selection lies outside the positions, a token's row is not
    revealed, or an example is unusable (wrong length, not finite, zero input)."""
    if spec.update is None:
        raise UpdateProofError("the layer declares no update rule; it cannot be trained")
    pos = np.asarray(positions, dtype=np.int64)
    keys = np.array(old_keys, dtype=np.int8, copy=True)
    values = np.array(old_values, dtype=np.int8, copy=True)
    emb = None if embedding is None else EmbeddingRows(
        embedding.ids, np.array(embedding.rows, dtype=np.int8, copy=True), embedding.lr_e)
    taus: list[int] = []
    outputs: list[np.ndarray] = []
    for i, (example, selected) in enumerate(zip(examples, selections, strict=True)):
        rows = _rows_of(pos, selected, i)
        q, used = _example_query(example, spec, emb, i)
        if np.asarray(example.target).shape != (spec.d_out,):
            raise UpdateProofError(f"example {i}: the target must have {spec.d_out} values")
        train_e = used is not None and emb is not None and emb.lr_e is not None
        step = sgd_step(spec.update, spec.logit_scale, q, keys[rows], values[rows], example.target,
                        with_gradient=train_e)
        if train_e:
            at, counts = used
            emb.rows[at] = embedding_step(emb.lr_e, step.gradient, step.total, counts, emb.rows[at])
        keys[rows] = step.new_keys
        values[rows] = step.new_values
        taus.append(step.tau)
        outputs.append(step.output)
    return Replay(keys, values, tuple(taus), tuple(outputs), None if emb is None else emb.rows)


# ---------------------------------------------------------------- the proof


@dataclass(frozen=True, eq=False)
class UpdateProof:
    """A batch of training steps on one layer, provable with O(|P|·log N) hashes.

    ``positions`` is the sorted union P of the selections; ``old_*``/``new_*`` row r is column
    (row) positions[r] of K (V) before and after the batch; ``key_proof``/``value_proof`` are
    the compact multiproofs of P (the siblings are the same in the old and the new tree).

    With token examples (docs/PROTOCOL.md §14.6) ``embedding_rows`` is the sorted set T of
    the distinct tokens of all examples, ``old_embedding``/``new_embedding`` row r is
    embedding row T[r] before and after, ``embedding_proof`` the multiproof of T in E's
    tree; without, they are empty (and the JSON form is exactly the one before §14.6)."""

    layer: int
    old_ghost_root: bytes
    new_ghost_root: bytes
    examples: tuple[Example, ...]
    selections: tuple[tuple[int, ...], ...]
    taus: tuple[int, ...]
    positions: tuple[int, ...]
    old_keys: np.ndarray  # int8 (|P|, d_in)
    old_values: np.ndarray  # int8 (|P|, d_out)
    new_keys: np.ndarray
    new_values: np.ndarray
    key_proof: tuple[bytes, ...]
    value_proof: tuple[bytes, ...]
    embedding_rows: tuple[int, ...] = ()
    old_embedding: np.ndarray | None = None  # int8 (|T|, dim)
    new_embedding: np.ndarray | None = None
    embedding_proof: tuple[bytes, ...] = ()


@dataclass(frozen=True, eq=False)
class UpdateResult:
    """What :func:`verify_update` established: layer ``layer`` of the model anchored as
    ``old_ghost_root`` became the one anchored as ``new_ghost_root`` by exactly the declared
    steps on ``examples`` examples, touching only ``positions``; ``outputs`` are each
    example's exact output before its step, ``taus`` its threshold; ``changed_keys`` and
    ``changed_values`` count the columns (rows) whose bytes changed."""

    layer: int
    old_ghost_root: bytes
    new_ghost_root: bytes
    positions: tuple[int, ...]
    examples: int
    taus: tuple[int, ...]
    outputs: tuple[np.ndarray, ...]
    changed_keys: int
    changed_values: int
    embedding_rows: tuple[int, ...] = ()
    changed_embedding_rows: int = 0


def touched_chunks(chunks: Sequence[ChunkRef], layer: int, positions: Sequence[int]) -> list[int]:
    """Indices into the chunk table of the entries of ``layer`` (K and V) that cover at least
    one of the sorted ``positions``: the only chunks an update may re-address."""
    pos = np.asarray(positions, dtype=np.int64)
    out = []
    for index, chunk in enumerate(chunks):
        if chunk.layer != layer:
            continue
        lo = np.searchsorted(pos, chunk.first)
        if lo < pos.size and pos[lo] < chunk.first + chunk.count:
            out.append(index)
    return out


def _check_headers(old: GhostFile, new: GhostFile, layer: int, positions: Sequence[int]) -> None:
    """The new header is the old one but for the CIDs of chunks covering touched columns, and
    every other layer's roots are unchanged."""
    a, b = old.header, new.header
    if (a.format, a.name, a.hash, a.leaf_encoding) != (b.format, b.name, b.hash, b.leaf_encoding):
        raise UpdateProofError("the new header's format, name, hash or leaf encoding changed")
    if a.layers != b.layers:
        raise UpdateProofError("the new header's architecture or update rule changed")
    if a.order != b.order:
        raise UpdateProofError("the new header's column order changed")
    if len(a.chunks) != len(b.chunks):
        raise UpdateProofError("the new chunk table has a different number of entries")
    allowed = set(touched_chunks(a.chunks, layer, positions))
    for index, (ca, cb) in enumerate(zip(a.chunks, b.chunks, strict=True)):
        if (ca.layer, ca.matrix, ca.first, ca.count) != (cb.layer, cb.matrix, cb.first, cb.count):
            raise UpdateProofError(f"chunk table entry {index} covers other columns")
        if ca.cid != cb.cid and index not in allowed:
            raise UpdateProofError(f"chunk table entry {index} (layer {ca.layer} {ca.matrix} "
                                   f"columns {ca.first}..) changed its CID but holds no touched column")
    for other, (ra, rb) in enumerate(zip(old.roots, new.roots, strict=True)):
        if other != layer and ra != rb:
            raise UpdateProofError("the roots changed", layer=other)


def _check_shapes(proof: UpdateProof, spec: LayerSpec) -> np.ndarray:
    """Positions sorted, inside the layer, the union of the selections; arrays of the right
    shape; returns P as int64."""
    layer = proof.layer
    pos = np.asarray(proof.positions, dtype=np.int64)
    if pos.size == 0 or np.any(np.diff(pos) <= 0) or pos[0] < 0 or pos[-1] >= spec.n:
        raise UpdateProofError(f"positions must be strictly increasing and below n = {spec.n}", layer=layer)
    for name, arr, d in (("old K", proof.old_keys, spec.d_in), ("new K", proof.new_keys, spec.d_in),
                         ("old V", proof.old_values, spec.d_out), ("new V", proof.new_values, spec.d_out)):
        if np.asarray(arr).dtype != np.int8 or np.asarray(arr).shape != (pos.size, d):
            raise UpdateProofError(f"{name} columns must be int8 ({pos.size}, {d})", layer=layer)
    n_ex = len(proof.examples)
    if not 1 <= n_ex <= MAX_UPDATE_EXAMPLES or len(proof.selections) != n_ex or len(proof.taus) != n_ex:
        raise UpdateProofError("one selection and one threshold per example (1..4096 examples)", layer=layer)
    for i, sel in enumerate(proof.selections):
        if len(sel) != spec.k or any(b <= a for a, b in itertools.pairwise(sel)):
            raise UpdateProofError(f"example {i}: the selection must be {spec.k} increasing indices",
                                   layer=layer)
    union = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in proof.selections]))
    if not np.array_equal(union, pos):
        raise UpdateProofError("positions must be exactly the union of the selections", layer=layer)
    return pos


def _check_roots(proof: UpdateProof, spec: LayerSpec, old: GhostFile, new: GhostFile) -> None:
    """Each multiproof gives the old root from the old columns and the new root from the new."""
    depth = tree_depth(spec.n)
    for tag, name in ((MATRIX_K, "K"), (MATRIX_V, "V")):
        sibs = proof.key_proof if tag == MATRIX_K else proof.value_proof
        for when, ghost, cols in (("old", old, proof.old_keys if tag == MATRIX_K else proof.old_values),
                                  ("new", new, proof.new_keys if tag == MATRIX_K else proof.new_values)):
            leaves = leaf_hashes(proof.layer, tag, cols, indices=np.asarray(proof.positions, dtype=np.int64))
            try:
                root = process_multiproof(depth, proof.positions, leaves, sibs)
            except MultiproofError as exc:
                raise MultiproofError(f"{when} columns: {exc.reason}", layer=proof.layer,
                                      matrix=name) from exc
            if root != ghost.layer_root(proof.layer, name):
                raise MultiproofError(f"the {when} columns and the multiproof do not give the {when} root",
                                      layer=proof.layer, matrix=name)


def _check_embedding_header(old: EmbeddingSpec | None, new: EmbeddingSpec | None,
                            rows: Sequence[int]) -> None:
    """The embedding object is unchanged but for its root (only when rows are touched) and the
    CIDs of the chunks holding a touched row (docs/PROTOCOL.md §14.6 check 3)."""
    if old is None or new is None:
        if old is not new:
            raise UpdateProofError("the new header adds or removes the embedding")
        return
    if (old.vocab, old.dim, old.scale, old.lr_e) != (new.vocab, new.dim, new.scale, new.lr_e):
        raise UpdateProofError("the new header's embedding vocab, dim, scale or lrE changed")
    if not rows and old.root != new.root:
        raise UpdateProofError("the embedding root changed, but no embedding row is touched")
    if [(c.first, c.count) for c in old.chunks] != [(c.first, c.count) for c in new.chunks]:
        raise UpdateProofError("the new embedding chunk table covers other rows")
    allowed = set(touched_embedding_chunks(old.chunks, rows))
    for index, (ca, cb) in enumerate(zip(old.chunks, new.chunks, strict=True)):
        if ca.cid != cb.cid and index not in allowed:
            raise UpdateProofError(f"embedding chunk {index} (rows {ca.first}..) changed its CID "
                                   "but holds no touched row")


def _token_ids(proof: UpdateProof) -> tuple[int, ...]:
    """The sorted distinct tokens of the proof's token examples."""
    return tuple(sorted({t for ex in proof.examples if ex.tokens is not None for t in ex.tokens}))


def _check_embedding(proof: UpdateProof, old: GhostFile, new: GhostFile) -> EmbeddingRows | None:
    """Embedding rows revealed iff some example has tokens, exactly their distinct ids, of the
    right shape, and the same multiproof gives the old and the new embedding root; returns
    the rows for the replay (None without token examples)."""
    ids = _token_ids(proof)
    if tuple(proof.embedding_rows) != ids:
        raise UpdateProofError("embedding rows must be exactly the distinct tokens of the examples")
    if not ids:
        if proof.old_embedding is not None or proof.new_embedding is not None or proof.embedding_proof:
            raise UpdateProofError("embedding rows are revealed, but no example has tokens")
        return None
    spec_old, spec_new = old.header.embedding, new.header.embedding
    if spec_old is None or spec_new is None:
        raise UpdateProofError("a token example, but the model has no embedding")
    for ex in proof.examples:
        if ex.tokens is not None:
            try:
                check_tokens(ex.tokens, spec_old.vocab)
            except InputError as exc:
                raise UpdateProofError(str(exc)) from exc
    for when, spec, rows in (("old", spec_old, proof.old_embedding), ("new", spec_new, proof.new_embedding)):
        try:
            verify_embedding_rows(spec_old, ids, rows, proof.embedding_proof, root=spec.root)
        except MultiproofError as exc:
            raise MultiproofError(f"{when} embedding rows: {exc.reason}", matrix="E") from exc
    return EmbeddingRows(np.asarray(ids, dtype=np.int64), np.asarray(proof.old_embedding), spec_old.lr_e)


def _first_difference(claimed: np.ndarray, computed: np.ndarray) -> int | None:
    rows = np.flatnonzero(np.any(claimed != computed, axis=1))
    return int(rows[0]) if rows.size else None


def verify_update(proof: UpdateProof, old_ghost: GhostFile, new_ghost: GhostFile) -> UpdateResult:
    """Check that ``new_ghost`` is ``old_ghost`` after the proof's training steps, and nothing else.

    In order: both ghost files hash to the proof's roots (RootMismatchError); the model has one
    layer and it declares a rule; the headers are equal but for the CIDs of chunks covering
    touched columns, other layers' roots equal; positions, shapes and selections well formed
    (P = ∪ S_i); each matrix's multiproof gives the old root from the old columns and the new
    root from the new ones (MultiproofError); replaying the examples with the rule gives each
    τ_i and exactly the new columns (UpdateProofError, naming the first difference).
    What it does not check: that each S_i was the true top-k (secured as for answers, §13),
    and that the new chunk CIDs address the new bytes (an audit does)."""
    if old_ghost.ghost_root != proof.old_ghost_root:
        raise RootMismatchError(f"the old ghost file hashes to {to_hex(old_ghost.ghost_root)}, "
                                f"the proof names {to_hex(proof.old_ghost_root)}")
    if new_ghost.ghost_root != proof.new_ghost_root:
        raise RootMismatchError(f"the new ghost file hashes to {to_hex(new_ghost.ghost_root)}, "
                                f"the proof names {to_hex(proof.new_ghost_root)}")
    layers = old_ghost.header.layers
    if not 0 <= proof.layer < len(layers):
        raise UpdateProofError(f"layer {proof.layer} is outside a model of {len(layers)} layers")
    if len(layers) != 1:
        raise UpdateProofError(f"sgd-v1 trains one-layer models only; this one has {len(layers)}")
    spec = layers[proof.layer]
    if spec.update is None:
        raise UpdateProofError("the layer declares no update rule", layer=proof.layer)
    _check_headers(old_ghost, new_ghost, proof.layer, proof.positions)
    _check_embedding_header(old_ghost.header.embedding, new_ghost.header.embedding, proof.embedding_rows)
    _check_shapes(proof, spec)
    _check_roots(proof, spec, old_ghost, new_ghost)
    embedding = _check_embedding(proof, old_ghost, new_ghost)
    result = replay(spec, proof.positions, proof.old_keys, proof.old_values, proof.examples, proof.selections,
                    embedding)
    for i, (claimed, computed) in enumerate(zip(proof.taus, result.taus, strict=True)):
        if claimed != computed:
            raise UpdateProofError(f"example {i}: τ is {claimed}, the selection's lowest score is {computed}",
                                   layer=proof.layer)
    _compare_new(proof, result)
    return UpdateResult(
        layer=proof.layer,
        old_ghost_root=proof.old_ghost_root,
        new_ghost_root=proof.new_ghost_root,
        positions=tuple(proof.positions),
        examples=len(proof.examples),
        taus=result.taus,
        outputs=result.outputs,
        changed_keys=int(np.any(proof.old_keys != proof.new_keys, axis=1).sum()),
        changed_values=int(np.any(proof.old_values != proof.new_values, axis=1).sum()),
        embedding_rows=tuple(proof.embedding_rows),
        changed_embedding_rows=0 if embedding is None else
        int(np.any(proof.old_embedding != proof.new_embedding, axis=1).sum()),
    )


def _compare_new(proof: UpdateProof, result: Replay) -> None:
    """The claimed new columns (and embedding rows) equal the replay's; UpdateProofError
    naming the first that does not."""
    pairs = (("K", proof.new_keys, result.new_keys), ("V", proof.new_values, result.new_values))
    for name, claimed, computed in pairs:
        row = _first_difference(claimed, computed)
        if row is not None:
            raise UpdateProofError(f"column {proof.positions[row]} is not what the rule gives",
                                   layer=proof.layer, matrix=name)
    if result.new_embedding is not None:
        row = _first_difference(np.asarray(proof.new_embedding), result.new_embedding)
        if row is not None:
            raise UpdateProofError(f"embedding row {proof.embedding_rows[row]} is not what the rule gives",
                                   matrix="E")


# ---------------------------------------------------------------- JSON ("ghostproof/update/1")


def _int8_hex(data: np.ndarray) -> str:
    return to_hex(np.ascontiguousarray(data, dtype=np.int8).tobytes())


def _example_json(ex: Example, selected: Sequence[int], tau: int) -> dict[str, object]:
    head: dict[str, object] = ({"input": [float(v) for v in ex.x]} if ex.tokens is None
                               else {"tokens": [int(t) for t in ex.tokens]})
    return {**head, "target": [int(v) for v in ex.target], "selected": delta_encode(selected),
            "tau": int(tau)}


def update_to_json(proof: UpdateProof) -> dict[str, object]:
    """The JSON object of an update proof (hex for bytes, numbers for inputs and targets,
    selections and positions delta-encoded; the embedding keys of §14.6 only when some
    example has tokens)."""
    obj = _update_core_json(proof)
    if proof.embedding_rows:
        obj["embeddingRows"] = delta_encode(proof.embedding_rows)
        obj["oldEmbedding"] = _int8_hex(np.asarray(proof.old_embedding))
        obj["newEmbedding"] = _int8_hex(np.asarray(proof.new_embedding))
        obj["embeddingProof"] = [to_hex(h) for h in proof.embedding_proof]
    return obj


def _update_core_json(proof: UpdateProof) -> dict[str, object]:
    return {
        "format": UPDATE_FORMAT,
        "layer": proof.layer,
        "dIn": int(proof.old_keys.shape[1]),
        "dOut": int(proof.old_values.shape[1]),
        "oldGhostRoot": to_hex(proof.old_ghost_root),
        "newGhostRoot": to_hex(proof.new_ghost_root),
        "examples": [
            _example_json(ex, sel, tau)
            for ex, sel, tau in zip(proof.examples, proof.selections, proof.taus, strict=True)
        ],
        "positions": delta_encode(proof.positions),
        "oldKeys": _int8_hex(proof.old_keys),
        "oldValues": _int8_hex(proof.old_values),
        "newKeys": _int8_hex(proof.new_keys),
        "newValues": _int8_hex(proof.new_values),
        "keyProof": [to_hex(h) for h in proof.key_proof],
        "valueProof": [to_hex(h) for h in proof.value_proof],
    }


def _index_list(obj: object, what: str, limit: int) -> tuple[int, ...]:
    if not isinstance(obj, list) or not 1 <= len(obj) <= limit:
        raise FormatError(f"{what} must list 1..{limit} indices")
    out = delta_decode(obj, what)
    if out[-1] >= 1 << 32:
        raise FormatError(f"{what} holds an index beyond uint32")
    return out


def _tokens_from_json(obj: object, what: str) -> tuple[int, ...]:
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_TOKENS:
        raise FormatError(f"{what} must list 1..{MAX_TOKENS} token ids")
    return tuple(_uint(t, what, 32) for t in obj)


def _example_from_json(obj: object, i: int, d_out: int) -> tuple[Example, tuple[int, ...], int]:
    keys = {"target", "selected", "tau"}
    if not isinstance(obj, dict) or len(set(obj) & {"input", "tokens"}) != 1 \
            or set(obj) - {"input", "tokens"} != keys:
        raise FormatError(f"examples[{i}] must have exactly {sorted(keys)} and one of 'input', 'tokens'")
    target = obj["target"]
    if not isinstance(target, list) or len(target) != d_out:
        raise FormatError(f"examples[{i}].target must list {d_out} integers")
    t8 = np.array([_int_in(v, f"examples[{i}].target", INT8_MAX) for v in target], dtype=np.int8)
    if "tokens" in obj:
        example = Example.from_tokens(_tokens_from_json(obj["tokens"], f"examples[{i}].tokens"), t8)
    else:
        example = Example(x=_floats(obj["input"], f"examples[{i}].input", np.float32), target=t8)
    selected = _index_list(obj["selected"], f"examples[{i}].selected", MAX_K)
    return example, selected, _int_in(obj["tau"], f"examples[{i}].tau", MAX_TAU_ABS)


_UPDATE_KEYS = {
    "format", "layer", "dIn", "dOut", "oldGhostRoot", "newGhostRoot", "examples", "positions",
    "oldKeys", "oldValues", "newKeys", "newValues", "keyProof", "valueProof",
}
#: The optional keys of §14.6, present all together or not at all.
_EMBEDDING_KEYS = {"embeddingRows", "oldEmbedding", "newEmbedding", "embeddingProof"}


def _embedding_from_json(obj: dict, d_in: int, n_examples: int) -> dict[str, object]:
    """The UpdateProof fields of the optional embedding keys (empty dict when absent)."""
    present = set(obj) & _EMBEDDING_KEYS
    if not present:
        return {}
    if present != _EMBEDDING_KEYS:
        raise FormatError(f"update proof must have all of {sorted(_EMBEDDING_KEYS)} or none")
    rows = _index_list(obj["embeddingRows"], "embeddingRows", MAX_TOKENS * n_examples)
    m = len(rows)
    return {
        "embedding_rows": rows,
        "old_embedding": _int8_from_hex(obj["oldEmbedding"], "oldEmbedding", (m, d_in)),
        "new_embedding": _int8_from_hex(obj["newEmbedding"], "newEmbedding", (m, d_in)),
        "embedding_proof": _hash_list(obj["embeddingProof"], "embeddingProof", 32 * m),
    }


def update_from_json(obj: object) -> UpdateProof:
    """Parse an update proof's JSON object; FormatError naming the first malformed field
    (structure and bounds only; :func:`verify_update` decides whether it proves anything)."""
    if not isinstance(obj, dict) or set(obj) - _EMBEDDING_KEYS != _UPDATE_KEYS:
        raise FormatError(f"update proof must have exactly {sorted(_UPDATE_KEYS)} "
                          f"(and optionally {sorted(_EMBEDDING_KEYS)})")
    if obj["format"] != UPDATE_FORMAT:
        raise FormatError(f"update proof format {obj['format']!r} is not {UPDATE_FORMAT!r}")
    layer = _uint(obj["layer"], "layer", 16)
    d_in, d_out = _uint(obj["dIn"], "dIn", 32), _uint(obj["dOut"], "dOut", 32)
    if layer >= MAX_LAYERS or not 1 <= d_in <= MAX_DIM or not 1 <= d_out <= MAX_DIM:
        raise FormatError("layer or dimensions out of range")
    examples = obj["examples"]
    if not isinstance(examples, list) or not 1 <= len(examples) <= MAX_UPDATE_EXAMPLES:
        raise FormatError(f"examples must list 1..{MAX_UPDATE_EXAMPLES} examples")
    parsed = [_example_from_json(x, i, d_out) for i, x in enumerate(examples)]
    positions = _index_list(obj["positions"], "positions", MAX_K * len(parsed))
    m = len(positions)
    return UpdateProof(
        layer=layer,
        old_ghost_root=from_hex(obj["oldGhostRoot"], "oldGhostRoot", 32),
        new_ghost_root=from_hex(obj["newGhostRoot"], "newGhostRoot", 32),
        examples=tuple(p[0] for p in parsed),
        selections=tuple(p[1] for p in parsed),
        taus=tuple(p[2] for p in parsed),
        positions=positions,
        old_keys=_int8_from_hex(obj["oldKeys"], "oldKeys", (m, d_in)),
        old_values=_int8_from_hex(obj["oldValues"], "oldValues", (m, d_out)),
        new_keys=_int8_from_hex(obj["newKeys"], "newKeys", (m, d_in)),
        new_values=_int8_from_hex(obj["newValues"], "newValues", (m, d_out)),
        key_proof=_hash_list(obj["keyProof"], "keyProof", 32 * m),
        value_proof=_hash_list(obj["valueProof"], "valueProof", 32 * m),
        **_embedding_from_json(obj, d_in, len(parsed)),  # type: ignore[arg-type]
    )


def dumps_update(proof: UpdateProof, *, compact: bool = False) -> str:
    """The update proof as JSON text (indented, or ``compact`` without whitespace)."""
    if compact:
        return json.dumps(update_to_json(proof), separators=(",", ":"))
    return json.dumps(update_to_json(proof), indent=1)


def loads_update(text: str | bytes) -> UpdateProof:
    """Parse JSON text into an UpdateProof; FormatError on malformed JSON or fields."""
    return update_from_json(load_json(text, what="update proof", max_bytes=MAX_RESPONSE_JSON_BYTES))
