"""Candidate retrieval for the prover: one retriever interface, HNSW and exact behind it.

Call shape (as hnswlib and faiss): the query is converted to a contiguous float32 (or the
device's dtype), its dimension is checked, and ``search`` returns ``(ids, scores)`` with
ids int64 and scores float64, always best-first (highest inner product first).

- :class:`HnswRetriever` — hnswlib, space ``'ip'``, over the committed int8 key columns
  cast to float32: approximate, fast, what the prover serves with (DESIGN §1 step 3).
- :class:`ExactRetriever` — exact top-n by integer score (ties → lower index); torch on the
  selected device when torch is importable, numpy otherwise. The reference and the fallback.

:func:`select_candidates` turns candidates into the selection S of DESIGN §1 (an exact integer
re-rank with :func:`protocol.layer.int_scores`, ties → lower index, as
:func:`protocol.layer.top_k`) with its threshold τ and how deep the candidates reached
(:class:`Selection`); :func:`select_top_k` returns its ids only.

Used by prover/prove.py (serving) and scripts/bench.py. torch is imported lazily only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ghostproof.protocol.constants import INT8_MAX
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.layer import int_scores

ProgressCallback = Callable[[int, int], None]

# float32 sums of int8·int8 products are exact while every partial sum stays below 2^24.
_FLOAT32_EXACT_MAX_DIM = (1 << 24) // (INT8_MAX * INT8_MAX)


@runtime_checkable
class Retriever(Protocol):
    """Finds the stored patterns with the highest inner product with an int8 query."""

    dim: int

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best candidates for the int8 query ``q`` (length ``dim``), best-first.

        Returns (ids int64, scores float64), both of length min(n, number stored).
        Raises InputError on a query of the wrong shape or values outside int8.
        """
        ...


def check_query(q: np.ndarray, dim: int) -> np.ndarray:
    """Return ``q`` as a 1-D int8 array of length ``dim``; raise InputError otherwise.

    Accepts any integer array whose values fit int8 (a quantised query, DESIGN §1 step 1).
    """
    arr = np.asarray(q)
    if arr.ndim != 1 or arr.size != dim:
        raise InputError(f"query must be a 1-D vector of length {dim}, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"query must be a quantised int8 vector, got dtype {arr.dtype}")
    if arr.size and (arr.min() < -128 or arr.max() > 127):
        raise InputError("query values must fit int8")
    return arr.astype(np.int8, copy=False)


def check_queries(qs: np.ndarray, dim: int) -> np.ndarray:
    """Return ``qs`` as an (m, ``dim``) int8 array of quantised queries; raise InputError otherwise."""
    arr = np.asarray(qs)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InputError(f"queries must be an (m, {dim}) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) or (arr.size and (arr.min() < -128 or arr.max() > 127)):
        raise InputError("queries must be quantised int8 vectors")
    return arr.astype(np.int8, copy=False)


def check_key_columns(keys: np.ndarray) -> np.ndarray:
    """Return committed key columns as a C-contiguous (N, d) int8 array; raise ModelError."""
    arr = np.asarray(keys)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ModelError(f"key columns must be a non-empty (N, d) array, got shape {arr.shape}")
    if arr.dtype != np.int8:
        raise ModelError(f"key columns must be int8, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def _stored_dim(path: Path) -> int | None:
    """The vector dimension an hnswlib index file holds (float32 vectors: its header's
    label_offset − offsetData, the 5th and 6th size_t fields, / 4); None if unreadable."""
    try:
        with path.open("rb") as fh:
            header = fh.read(48)
    except OSError:
        return None
    if len(header) < 48:
        return None
    label_offset, offset_data = np.frombuffer(header, dtype="<u8")[4:6]
    size = int(label_offset) - int(offset_data)
    return size // 4 if size > 0 and size % 4 == 0 else None


def _check_n(n: int) -> int:
    if not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"the number of candidates must be a positive integer, got {n!r}")
    return int(n)


class HnswRetriever:
    """hnswlib index (space 'ip') over int8 key columns cast to float32.

    Scores are hnswlib's float32 inner products (exact integers while d ≤ 1040). ``ef`` is
    the search breadth (hnswlib uses max(ef, n) per query).

    Build threads, the trade-off: with several threads (the default, every core) hnswlib
    inserts concurrently, so the graph depends on thread timing and is not bit-for-bit
    reproducible (its recall is statistically the same); ``num_threads=1`` with a fixed
    ``seed`` gives the same index file every time, at about twice the time on two cores.
    Neither affects what is committed or verified: the index only proposes candidates, which
    the prover re-ranks exactly. Issue 14 (scripts/bench.py) builds with M = 20,
    ef_construction = 48 on every core: ~3× faster than (16, 200) at N = 10^5 for about
    the same recall at a given search breadth.
    """

    def __init__(self, index: Any, n: int, dim: int) -> None:
        """Wrap a loaded or built ``hnswlib.Index`` holding ``n`` items of dimension ``dim``."""
        self._index = index
        self.n = int(n)
        self.dim = int(dim)
        self._ef = int(index.ef)

    @classmethod
    def build(
        cls,
        keys_int8: np.ndarray,
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        num_threads: int | None = None,
        on_progress: ProgressCallback | None = None,
        batch_size: int = 50_000,
        ef: int = 128,
    ) -> HnswRetriever:
        """Build an index over the rows of ``keys_int8`` (N, d); item id j = committed column j.

        Items are added in batches of ``batch_size`` (converted to float32 one batch at a
        time); ``on_progress(done, total)`` is called after each. ``num_threads`` defaults
        to the number of cores.
        """
        keys = check_key_columns(keys_int8)
        n, dim = keys.shape
        return cls.build_from(
            n, dim, lambda start, stop: keys[start:stop], M=M, ef_construction=ef_construction,
            seed=seed, num_threads=num_threads, on_progress=on_progress, batch_size=batch_size,
            ef=ef,
        )

    @classmethod
    def build_from(
        cls,
        n: int,
        dim: int,
        rows: Callable[[int, int], np.ndarray],
        *,
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        num_threads: int | None = None,
        on_progress: ProgressCallback | None = None,
        batch_size: int = 50_000,
        ef: int = 128,
    ) -> HnswRetriever:
        """Build an index over ``n`` vectors of dimension ``dim``; item id j = vector j.

        ``rows(start, stop)`` returns vectors start..stop-1 as a (stop − start, dim) array
        (converted to float32), asked for in batches of ``batch_size``;
        ``on_progress(done, total)`` is called after each. :meth:`build` passes the int8 key
        columns, prover/projection.py their projection. Raises ModelError for M < 2,
        ef_construction or batch_size < 1, or rows of the wrong shape.
        """
        import hnswlib

        if M < 2 or ef_construction < 1 or batch_size < 1:
            raise ModelError("M must be ≥ 2, ef_construction and batch_size ≥ 1")
        threads = num_threads if num_threads and num_threads > 0 else (os.cpu_count() or 1)
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, M=M, ef_construction=ef_construction, random_seed=seed)
        index.set_num_threads(threads)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            data = np.ascontiguousarray(rows(start, stop), dtype=np.float32)
            if data.shape != (stop - start, dim):
                raise ModelError(f"rows {start}..{stop} have shape {data.shape}, not {(stop - start, dim)}")
            index.add_items(data, np.arange(start, stop, dtype=np.int64), num_threads=threads)
            if on_progress is not None:
                on_progress(stop, n)
        index.set_ef(ef)
        return cls(index, n, dim)

    @classmethod
    def load(cls, path: str | Path, n: int, dim: int) -> HnswRetriever:
        """Load an index saved by :meth:`save`; raise ModelError if it is missing or does not
        hold exactly ``n`` items of dimension ``dim``."""
        import hnswlib

        p = Path(path)
        if not p.is_file():
            raise ModelError(f"HNSW index file {p} does not exist")
        stored = _stored_dim(p)  # hnswlib itself loads a file of another dimension silently
        if stored != dim:
            raise ModelError(f"HNSW index {p} holds vectors of dimension {stored}, expected {dim}")
        index = hnswlib.Index(space="ip", dim=int(dim))
        try:
            index.load_index(str(p), max_elements=int(n))
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load HNSW index {p}: {exc}") from exc
        if index.get_current_count() != n or index.dim != dim:
            raise ModelError(
                f"HNSW index {p} holds {index.get_current_count()} items of dimension "
                f"{index.dim}, the model has {n} of dimension {dim}"
            )
        index.set_num_threads(os.cpu_count() or 1)
        return cls(index, n, dim)

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` (hnswlib's own format)."""
        self._index.save_index(str(path))

    @property
    def ef(self) -> int:
        """Search breadth used per query (at least n)."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        if not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"ef must be a positive integer, got {value!r}")
        self._index.set_ef(int(value))
        self._ef = int(value)

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The min(n, N) approximate best candidates for ``q``, best-first (see Retriever)."""
        query = check_query(q, self.dim)
        ids, scores = self.knn(query.reshape(1, self.dim), n, num_threads=1)
        return ids[0], scores[0]

    def search_batch(self, qs: np.ndarray, n: int, num_threads: int | None = None) -> np.ndarray:
        """Candidate ids (int64, shape (m, min(n, N)), best-first) for each int8 query row of
        ``qs`` (m, dim): row i is what :meth:`search` returns for ``qs[i]`` (hnswlib's search
        of one query does not depend on the others), spread over ``num_threads`` (default:
        every core). For benchmarks and calibration, not the serving path."""
        return self.knn(check_queries(qs, self.dim), n, num_threads)[0]

    def knn(
        self, data: np.ndarray, n: int, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """hnswlib's search of the rows of ``data`` ((m, dim), any real dtype; converted to
        float32), already checked by the caller: (ids int64, scores float64), each of shape
        (m, min(n, N)), best-first, over ``num_threads`` (default: every core). Raises
        InputError for a bad ``n``, ModelError when hnswlib cannot find that many."""
        n = min(_check_n(n), self.n)
        threads = num_threads if num_threads and num_threads > 0 else (os.cpu_count() or 1)
        arr = np.ascontiguousarray(data, dtype=np.float32)
        try:
            labels, distances = self._index.knn_query(arr, k=n, num_threads=threads)
        except RuntimeError as exc:  # hnswlib could not find n results
            raise ModelError(f"HNSW search failed: {exc}") from exc
        # 'ip' distance is 1 - <q, k>
        return labels.astype(np.int64), 1.0 - distances.astype(np.float64)


def _torch_or_none() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


class ExactRetriever:
    """Exact top-n by integer score over all N columns (ties → lower index), best-first.

    With torch importable, scores are one matrix-vector product on ``device`` (default:
    :func:`prover.hopfield.pick_device`); without it, numpy. Arithmetic is float32 when
    that is exact (d ≤ 1040 and no TF32 on CUDA), float64 otherwise.
    """

    def __init__(
        self, keys_int8: np.ndarray, device: str | None = None, use_torch: bool | None = None
    ) -> None:
        """Hold ``keys_int8`` (N, d) for exact search; ``use_torch=None`` means "if importable"."""
        keys = check_key_columns(keys_int8)
        self.n, self.dim = keys.shape
        torch = _torch_or_none() if use_torch in (None, True) else None
        if use_torch and torch is None:
            raise ModelError("torch was requested for ExactRetriever but is not installed")
        self._torch = torch
        if torch is not None:
            from ghostproof.prover.hopfield import pick_device

            self.device = pick_device(device)
            tf32 = self.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
            exact32 = self.dim <= _FLOAT32_EXACT_MAX_DIM and not tf32
            self._dtype = torch.float32 if exact32 else torch.float64
            with warnings.catch_warnings():  # a read-only memmap: the tensor is copied below
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                self._keys = torch.from_numpy(keys).to(self.device).to(self._dtype)
        else:
            self.device = None
            exact32 = self.dim <= _FLOAT32_EXACT_MAX_DIM
            self._np_dtype = np.float32 if exact32 else np.float64
            self._keys_np = keys.astype(self._np_dtype)

    @property
    def backend(self) -> str:
        """'torch:<device>' or 'numpy'."""
        return f"torch:{self.device}" if self._torch is not None else "numpy"

    def all_scores(self, q: np.ndarray) -> np.ndarray:
        """Exact integer scores of ``q`` against every column, int64 (N,)."""
        query = check_query(q, self.dim)
        if self._torch is not None:
            torch = self._torch
            qt = torch.from_numpy(query.astype(np.float32)).to(self.device, self._dtype)
            s = torch.mv(self._keys, qt)
            return np.rint(s.cpu().numpy()).astype(np.int64)
        return np.rint(self._keys_np @ query.astype(self._np_dtype)).astype(np.int64)

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact min(n, N) best columns for ``q``, best-first, ties → lower index."""
        n = min(_check_n(n), self.n)
        scores = self.all_scores(q)
        if n < self.n:
            part = np.argpartition(-scores, n - 1)[:n]
            threshold = scores[part].min()
            above = np.flatnonzero(scores > threshold)
            ties = np.flatnonzero(scores == threshold)[: n - len(above)]
            cand = np.concatenate([above, ties])
        else:
            cand = np.arange(self.n)
        order = np.lexsort((cand, -scores[cand]))
        ids = cand[order].astype(np.int64)
        return ids, scores[ids].astype(np.float64)


@dataclass(frozen=True, eq=False)
class Selection:
    """The selection S of one layer and what its exact re-rank saw (DESIGN §1 step 3, §6).

    ``ids``: the k selected column ids sorted by index (int64); ``tau``: the lowest exact
    score in S (the receipt's τ); ``floor``: the lowest exact score among the re-ranked
    candidates (≤ tau); ``n_candidates``: how many were re-ranked; ``exhaustive``: they were
    all N columns (then S is the exact top-k)."""

    ids: np.ndarray
    tau: int
    floor: int
    n_candidates: int
    exhaustive: bool

    @property
    def depth(self) -> int:
        """How far below τ the re-ranked candidates reach: tau − floor (≥ 0)."""
        return self.tau - self.floor


def select_candidates(
    retriever: Retriever,
    q: np.ndarray,
    key_columns_int8: np.ndarray,
    k: int,
    n_candidates: int,
) -> Selection:
    """The selection S of DESIGN §1: the k best columns among the retriever's candidates.

    Asks ``retriever`` for max(n_candidates, k) candidates, re-ranks them exactly with
    integer scores against ``key_columns_int8`` (ties → lower index). S is the exact top-k
    whenever the candidates contain it.

    Raises InputError for a query of the wrong shape, ModelError when k > N, k < 1, the key
    columns do not match the retriever's dimension, or the retriever returns bad ids.
    """
    keys = check_key_columns(key_columns_int8)
    n_cols, dim = keys.shape
    if dim != retriever.dim:
        raise ModelError(f"key columns have dimension {dim}, the retriever {retriever.dim}")
    if not isinstance(k, int | np.integer) or k < 1:
        raise ModelError(f"k must be a positive integer, got {k!r}")
    if k > n_cols:
        raise ModelError(f"cannot select k={k} of N={n_cols} columns")
    query = check_query(q, dim)
    ids, _ = retriever.search(query, max(int(n_candidates), int(k)))
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size < k or ids.min() < 0 or ids.max() >= n_cols or np.unique(ids).size != ids.size:
        raise ModelError(f"retriever returned {ids.size} candidate ids, invalid or too few")
    scores = int_scores(query, keys[ids]).astype(np.int64)
    order = np.lexsort((ids, -scores))[: int(k)]
    return Selection(
        ids=np.sort(ids[order]),
        tau=int(scores[order[-1]]),
        floor=int(scores.min()),
        n_candidates=int(ids.size),
        exhaustive=ids.size == n_cols,
    )


def select_top_k(
    retriever: Retriever,
    q: np.ndarray,
    key_columns_int8: np.ndarray,
    k: int,
    n_candidates: int,
) -> np.ndarray:
    """The ids (int64, sorted by index) of :func:`select_candidates`'s selection S."""
    return select_candidates(retriever, q, key_columns_int8, k, n_candidates).ids
