"""Candidate retrieval in a reduced dimension: HNSW over a projection of the key columns.

On data of low intrinsic dimension (real embeddings, the structured kind of DESIGN §8) the
int8 key columns K_j (length d) keep almost all their energy in a few directions. An
uncentered PCA of the columns (the top r right singular vectors of K, as a d × r float32
matrix P with orthonormal columns) maps each column to P^T K_j and a query q to P^T q; their
inner product is <q, K_j> up to the part of both outside the span of P. hnswlib then
searches r-dimensional vectors: each distance costs r/d of the full one, and the index is
smaller and builds faster.

Only the candidate set can change: :func:`prover.index.select_candidates` re-ranks whatever
ids a retriever returns with exact integer scores in the full dimension, so S is exact
within the candidates and is the exact top-k whenever they contain it (recall, not
correctness, is what the projection trades). On full-rank data r ≈ d and nothing is gained.

:class:`ProjectedHnswRetriever` implements the :class:`prover.index.Retriever` protocol like
:class:`prover.index.HnswRetriever`; :meth:`ProjectedHnswRetriever.save` writes hnswlib's
file at ``path`` and the projection beside it at ``path + ".proj.npy"``
(:func:`projection_path`). The model directory opts in with ``index.dims`` in model.json
(prover/modeldir.py; ``ghostproof model build|index --dims auto|R``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ghostproof.protocol.errors import InputError, ModelError

from .index import (
    HnswRetriever,
    ProgressCallback,
    check_key_columns,
    check_queries,
    check_query,
)

#: The energy (fraction of Σ_j ‖K_j‖²) an ``auto`` projection keeps at least.
DEFAULT_ENERGY = 0.995
PROJECTION_SUFFIX = ".proj.npy"
_GRAM_BATCH = 1 << 15


def projection_path(path: str | Path) -> Path:
    """Where the projection of the index saved at ``path`` lives: ``path`` + ".proj.npy"."""
    return Path(str(path) + PROJECTION_SUFFIX)


def parse_dims(text: str | int | None) -> int | str | None:
    """A ``--dims`` value: "auto" (keep ≥ DEFAULT_ENERGY of the energy), a positive integer
    r, or "none"/"off"/None (no projection, plain HNSW); raise InputError otherwise."""
    if text is None:
        return None
    value = str(text).strip().lower()
    if value in ("none", "off"):
        return None
    if value == "auto":
        return "auto"
    try:
        dims = int(value)
    except ValueError:
        raise InputError(f"--dims must be auto, none or a positive integer, got {text!r}") from None
    if dims < 1:
        raise InputError(f"--dims must be a positive integer, got {dims}")
    return dims


def key_gram(keys_int8: np.ndarray) -> np.ndarray:
    """Σ_j K_j K_j^T of the int8 key columns (rows of ``keys_int8``), float64 (d, d).

    Summed in float32 batches of 2^15 columns (rounding far below what a PCA can tell
    apart), accumulated in float64."""
    keys = check_key_columns(keys_int8)
    dim = keys.shape[1]
    gram = np.zeros((dim, dim), dtype=np.float64)
    for start in range(0, keys.shape[0], _GRAM_BATCH):
        block = np.asarray(keys[start : start + _GRAM_BATCH], dtype=np.float32)
        gram += block.T @ block
    return gram


def fit_projection(
    keys_int8: np.ndarray, dims: int | None = None, energy: float | None = None
) -> tuple[np.ndarray, float]:
    """The uncentered PCA of the key columns: (P float32 (d, r), energy kept).

    P's columns are the r leading eigenvectors of :func:`key_gram` (orthonormal, by
    decreasing eigenvalue, each signed so its largest entry is positive); the energy kept
    is Σ of their eigenvalues / trace = Σ_j ‖P^T K_j‖² / Σ_j ‖K_j‖². Give ``dims`` (r,
    1 ≤ r ≤ d) or ``energy`` (the smallest r keeping at least that fraction, 0 < energy ≤ 1);
    neither means energy = DEFAULT_ENERGY. Raises ModelError for both, or a value out of range.
    """
    gram = key_gram(keys_int8)
    dim = gram.shape[0]
    eigvals, eigvecs = np.linalg.eigh(gram)
    eigvals = np.clip(eigvals[::-1], 0.0, None)
    eigvecs = eigvecs[:, ::-1]
    total = float(eigvals.sum())
    cumulative = np.cumsum(eigvals) / total if total > 0 else np.ones(dim)
    rank = _rank(dim, cumulative, dims, energy)
    basis = eigvecs[:, :rank]
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(rank)])
    basis = basis * np.where(signs == 0, 1.0, signs)
    return np.ascontiguousarray(basis, dtype=np.float32), float(min(cumulative[rank - 1], 1.0))


def _rank(dim: int, cumulative: np.ndarray, dims: int | None, energy: float | None) -> int:
    """r from ``dims`` or ``energy`` (see :func:`fit_projection`)."""
    if dims is not None and energy is not None:
        raise ModelError("give the projection's dims or its energy, not both")
    if dims is not None:
        if not isinstance(dims, int | np.integer) or not 1 <= dims <= dim:
            raise ModelError(f"projection dims must be an integer in 1..{dim}, got {dims!r}")
        return int(dims)
    target = DEFAULT_ENERGY if energy is None else float(energy)
    if not 0.0 < target <= 1.0:
        raise ModelError(f"projection energy must be in (0, 1], got {energy!r}")
    # the smallest r whose cumulative energy reaches the target (rounding: never beyond d)
    return min(dim, int(np.searchsorted(cumulative, target - 1e-12)) + 1)


def kept_energy(keys_int8: np.ndarray, projection: np.ndarray) -> float:
    """Σ_j ‖P^T K_j‖² / Σ_j ‖K_j‖² of the key columns under ``projection`` P (d, r), measured
    directly (for P with orthonormal columns)."""
    gram = key_gram(keys_int8)
    total = float(np.trace(gram))
    proj = np.asarray(projection, dtype=np.float64)
    return float(np.einsum("ir,ij,jr->", proj, gram, proj)) / total if total > 0 else 1.0


class ProjectedHnswRetriever:
    """hnswlib index (space 'ip') over P^T K_j, searched with P^T q; ids = committed columns.

    ``dim`` is the model's dimension d (queries are int8 of length d); ``rank`` is r.
    Scores are the projected inner products <P^T q, P^T K_j> (float64), approximations of
    the integer scores that the exact re-rank replaces. ``ef`` is the search breadth as
    for :class:`prover.index.HnswRetriever` (hnswlib uses max(ef, n) per query); build
    threads trade reproducibility for time the same way.
    """

    def __init__(self, hnsw: HnswRetriever, projection: np.ndarray, energy: float | None = None) -> None:
        """Wrap an r-dimensional ``hnsw`` index and its projection P (d, r); ``energy`` is
        the fraction :func:`fit_projection` reported (None when unknown, e.g. loaded)."""
        proj = np.ascontiguousarray(projection, dtype=np.float32)
        if proj.ndim != 2 or proj.shape[1] != hnsw.dim:
            raise ModelError(
                f"projection of shape {proj.shape} does not match an index of dimension {hnsw.dim}"
            )
        self._hnsw = hnsw
        self.projection = proj
        self.n = hnsw.n
        self.dim = int(proj.shape[0])
        self.rank = int(proj.shape[1])
        self.energy = energy

    @classmethod
    def build(
        cls,
        keys_int8: np.ndarray,
        dims: int | None = None,
        energy: float | None = None,
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        num_threads: int | None = None,
        on_progress: ProgressCallback | None = None,
        batch_size: int = 50_000,
        ef: int = 128,
    ) -> ProjectedHnswRetriever:
        """Fit the projection (:func:`fit_projection` with ``dims`` or ``energy``) to the
        rows of ``keys_int8`` (N, d) and index their projections; item id j = committed
        column j. The other arguments are :meth:`prover.index.HnswRetriever.build_from`'s.
        Raises ModelError for bad key columns or parameters."""
        keys = check_key_columns(keys_int8)
        proj, kept = fit_projection(keys, dims=dims, energy=energy)

        def rows(start: int, stop: int) -> np.ndarray:
            return np.asarray(keys[start:stop], dtype=np.float32) @ proj

        hnsw = HnswRetriever.build_from(
            keys.shape[0], proj.shape[1], rows, M=M, ef_construction=ef_construction, seed=seed,
            num_threads=num_threads, on_progress=on_progress, batch_size=batch_size, ef=ef,
        )
        return cls(hnsw, proj, kept)

    @classmethod
    def load(cls, path: str | Path, n: int, dim: int) -> ProjectedHnswRetriever:
        """Load what :meth:`save` wrote at ``path``; raise ModelError if the projection file
        is missing, unreadable or not a finite float32 (``dim``, r) matrix with 1 ≤ r ≤ dim,
        or the index does not hold exactly ``n`` items of dimension r."""
        proj_file = projection_path(path)
        if not proj_file.is_file():
            raise ModelError(f"projection file {proj_file} of the HNSW index {path} does not exist")
        try:
            proj = np.load(proj_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read projection {proj_file}: {exc}") from exc
        if (proj.dtype != np.float32 or proj.ndim != 2 or proj.shape[0] != dim
                or not 1 <= proj.shape[1] <= dim or not np.all(np.isfinite(proj))):
            raise ModelError(
                f"projection {proj_file} must be a finite float32 ({dim}, r) matrix with "
                f"1 ≤ r ≤ {dim}, got {proj.dtype} {proj.shape}"
            )
        return cls(HnswRetriever.load(path, n, proj.shape[1]), proj)

    def save(self, path: str | Path) -> None:
        """Write hnswlib's index to ``path`` and the projection to :func:`projection_path`."""
        self._hnsw.save(path)
        with projection_path(path).open("wb") as fh:
            np.save(fh, self.projection, allow_pickle=False)

    @property
    def ef(self) -> int:
        """Search breadth used per query (at least n)."""
        return self._hnsw.ef

    @ef.setter
    def ef(self, value: int) -> None:
        self._hnsw.ef = value

    def project(self, qs: np.ndarray) -> np.ndarray:
        """P^T q of each int8 query row of ``qs`` (m, d): float32 (m, r)."""
        return np.asarray(qs, dtype=np.float32) @ self.projection

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The min(n, N) approximate best candidates for ``q`` (int8, length d), best-first:
        (ids int64, projected scores float64). Raises InputError for a bad query or n."""
        query = check_query(q, self.dim)
        ids, scores = self._hnsw.knn(self.project(query.reshape(1, self.dim)), n, num_threads=1)
        return ids[0], scores[0]

    def search_batch(self, qs: np.ndarray, n: int, num_threads: int | None = None) -> np.ndarray:
        """Candidate ids (int64, (m, min(n, N)), best-first) of each int8 query row of ``qs``
        (m, d); row i is what :meth:`search` returns for ``qs[i]``. Spread over
        ``num_threads`` (default: every core); for benchmarks and calibration."""
        return self._hnsw.knn(self.project(check_queries(qs, self.dim)), n, num_threads)[0]
