"""Selection challenges (DESIGN §6): find the best column a receipt skipped, and the evidence
GhostRegistry.challenge checks in one transaction.

A receipt fixes, per layer ℓ, the query q_ℓ, the selection S_ℓ and its threshold τ_ℓ (the
lowest exact score in S_ℓ). A column j ∉ S_ℓ whose exact score q_ℓ·K_j exceeds τ_ℓ by more
than the model's registered margin proves the selection wrong. The contract recomputes
that score from the column's bytes and checks the column is committed under the anchored
ghostRoot, so the evidence is: the receipt's hashes and signature, the disputed layer's
(q, τ, S) with every layer's selection hash, the layer's K root opened against ghostRoot,
and the column with its Merkle path.

Pure: numpy and the protocol's own hashing; the verifier builds the evidence, the chain
adapter sends it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .ghost import LayerRootOpening
from .hashing import to_hex
from .layer import int_scores
from .receipt import layer_selection_hash, output_hash
from .response import Response

#: Rows of K scored per block (bounds the float32 copy: 2^16 × d × 4 bytes).
SCORE_BLOCK = 1 << 16
#: Largest d for which float32 products sum exactly: 127·128·d < 2^24.
_FLOAT32_EXACT_D = (1 << 24) // (127 * 128)


def exact_scores(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact integer scores of every column for every query: an (N, B) int64 array.

    ``keys`` is the (N, d) int8 matrix of K columns, ``queries`` a (d,) or (B, d) int8 array.
    Computed in float32 blocks of :data:`SCORE_BLOCK` rows (exact while d ≤ 1032, each
    partial sum staying below 2^24), else in int32 (exact for d < 2^16).
    """
    q = np.asarray(queries, dtype=np.int8)
    q2 = q.reshape(1, -1) if q.ndim == 1 else q
    n, d = keys.shape
    if q2.shape[1] != d:
        raise InputError(f"queries have {q2.shape[1]} elements, the key columns {d}")
    out = np.empty((n, q2.shape[0]), dtype=np.int64)
    exact_in_float = d <= _FLOAT32_EXACT_D
    qt = q2.T.astype(np.float32 if exact_in_float else np.int32)
    for start in range(0, n, SCORE_BLOCK):
        block = keys[start : start + SCORE_BLOCK]
        if exact_in_float:
            out[start : start + len(block)] = np.rint(block.astype(np.float32) @ qt)
        else:
            out[start : start + len(block)] = block.astype(np.int32) @ qt
    return out


@dataclass(frozen=True)
class SkippedColumn:
    """The best column a layer's selection left out: its index, exact score, and how far
    that score exceeds the threshold τ (≤ 0 when the selection is the exact top-k)."""

    layer: int
    column: int
    score: int
    tau: int

    @property
    def excess(self) -> int:
        """score − τ: positive when the selection skipped a better column."""
        return self.score - self.tau

    def challengeable(self, margin: int) -> bool:
        """Whether a challenge with this column succeeds against ``margin`` (score > τ + margin)."""
        return self.score > self.tau + margin


def best_skipped(layer: int, scores: np.ndarray, selected: Sequence[int], tau: int) -> SkippedColumn:
    """The highest-scoring column not in ``selected`` (ties → lower index) given every
    column's exact ``scores`` (1-D); InputError when nothing is left out (k = N)."""
    masked = np.asarray(scores, dtype=np.int64).copy()
    if len(selected) >= len(masked):
        raise InputError(f"layer {layer} selects all {len(masked)} columns: nothing was skipped")
    masked[np.asarray(selected, dtype=np.int64)] = np.iinfo(np.int64).min
    column = int(np.argmax(masked))  # first maximum: the lower index on ties
    return SkippedColumn(layer, column, int(masked[column]), int(tau))


def best_skipped_batch(
    layer: int, keys: np.ndarray, queries: np.ndarray, selections: Sequence[Sequence[int]],
    taus: Sequence[int],
) -> list[SkippedColumn]:
    """:func:`best_skipped` for many queries of one layer at once, without holding every score:
    ``keys`` (N, d) int8 are scored against ``queries`` (B, d) int8 in blocks of
    :data:`SCORE_BLOCK` rows, keeping per query the best column outside its selection (ties →
    lower index). InputError when a selection covers all N columns."""
    q = np.asarray(queries, dtype=np.int8).reshape(len(selections), -1)
    n = keys.shape[0]
    sels = [np.asarray(sel, dtype=np.int64) for sel in selections]
    if any(len(sel) >= n for sel in sels):
        raise InputError(f"layer {layer}: a selection covers all {n} columns, nothing was skipped")
    best = np.full(len(sels), np.iinfo(np.int64).min)
    best_col = np.zeros(len(sels), dtype=np.int64)
    cols = np.arange(len(sels))
    for start in range(0, n, SCORE_BLOCK):
        stop = min(n, start + SCORE_BLOCK)
        block = exact_scores(keys[start:stop], q)
        for b, sel in enumerate(sels):
            block[sel[(sel >= start) & (sel < stop)] - start, b] = np.iinfo(np.int64).min
        at = np.argmax(block, axis=0)  # first maximum: the lower index on ties
        value = block[at, cols]
        better = value > best  # strict: an earlier block keeps its lower index on ties
        best[better], best_col[better] = value[better], at[better] + start
    found = zip(best_col, best, taus, strict=True)
    return [SkippedColumn(layer, int(c), int(v), int(t)) for c, v, t in found]


def check_column_score(q: np.ndarray, column: np.ndarray, claimed: int) -> None:
    """InputError unless ``column``'s exact score for ``q`` is ``claimed`` (a self-check
    before anything is sent)."""
    got = int(int_scores(q, column.reshape(1, -1))[0])
    if got != claimed:
        raise InputError(f"column score {got} differs from the {claimed} found")


@dataclass(frozen=True)
class ChallengeEvidence:
    """Everything GhostRegistry.challenge takes, for one skipped column of one receipt."""

    response: Response
    layer: int
    column: int
    values: np.ndarray  # int8 (d_in,), the column's bytes
    column_proof: tuple[bytes, ...]  # siblings from the leaf up
    opening: LayerRootOpening  # the layer's K root against ghostRoot
    version: int = 0  # the model version whose ghostRoot the receipt names

    def layer_hashes(self) -> list[bytes]:
        """Every layer's selection hash, in layer order (the receipt's selectionHash preimage)."""
        return [
            layer_selection_hash(i, lp.q, lp.tau, lp.selected)
            for i, lp in enumerate(self.response.layers)
        ]

    def contract_args(self) -> tuple[tuple[object, ...], tuple[object, ...], tuple[object, ...]]:
        """(SignedReceipt, SelectionClaim, ColumnEvidence) as web3 tuples, in ABI order; the
        selection packed as the selection hash packs it (4 big-endian bytes per index)."""
        r = self.response
        lp = r.layers[self.layer]
        receipt = (r.request.model_id, self.version, r.ghost_root, r.request.hash, output_hash(r.output),
                   r.signature)
        claim = (
            self.layer, lp.q.astype(np.int8).tobytes(), int(lp.tau),
            np.asarray(lp.selected, dtype=">u4").tobytes(), self.layer_hashes(),
        )
        evidence = (
            self.opening.root, self.opening.header_hash, self.opening.n_layers, list(self.opening.proof),
            self.column, self.values.astype(np.int8).tobytes(), list(self.column_proof),
        )
        return receipt, claim, evidence

    def to_json(self) -> dict[str, object]:
        """The evidence as JSON (what ``challenge --dry-run`` prints)."""
        receipt, claim, evidence = self.contract_args()
        return {
            "receipt": dict(zip(("modelId", "version", "ghostRoot", "requestHash", "outputHash", "signature"),
                                _hexed(receipt), strict=True)),
            "claim": dict(zip(("layer", "q", "tau", "selected", "layerHashes"), _hexed(claim), strict=True)),
            "evidence": dict(zip(("keyRoot", "headerHash", "nLayers", "rootProof", "column", "values",
                                  "columnProof"), _hexed(evidence), strict=True)),
        }


def _hexed(values: Sequence[object]) -> Iterator[object]:
    for v in values:
        if isinstance(v, bytes):
            yield to_hex(v)
        elif isinstance(v, list):
            yield [to_hex(x) if isinstance(x, bytes) else x for x in v]
        else:
            yield v
