"""A committed embedding input layer (token id → row), docs/PROTOCOL.md §14.6.

An optional table E (vocab × dim int8, scale s_E) declared in the ghost header as
``"embedding": {"vocab", "dim", "scale", "root", "chunks"[, "lrE"]}``. Row t is committed as
the leaf ``keccak256(0x00 ‖ uint16 0 ‖ uint8 2 ‖ uint32 t ‖ int8[dim] row)`` (matrix tag 2,
unused by K and V) of a §3 tree over all ``vocab`` rows; its root sits in the header, so
headerHash — hence ghostRoot — binds it, and the layers tree, the ``roots`` array and the
ghostRoot formula are unchanged. A token input ``(t_1, …, t_m)`` is the integer vector
``x = Σ_i E[t_i]`` (the float input is s_E · x), and layer 0's query is
``q = quantise(x)`` (§2.1; scale-free, so s_E never enters the arithmetic).

This module: the header object (:class:`EmbeddingSpec`), leaves and trees
(:func:`embedding_leaf_hashes`, :func:`embedding_tree`), the chunking of E
(:func:`embedding_chunks`), token inputs (:func:`token_counts`, :func:`token_sum`,
:func:`token_query`) and an opening of rows against the root (:func:`verify_embedding_rows`).
Pure: numpy, stdlib and the protocol only.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .chunks import cid_for_bytes, parse_cid, plan_chunks
from .constants import MAX_CHUNK_BYTES, MAX_COLUMNS, MAX_DIM, TAG_LEAF
from .errors import FormatError, GhostFileError, InputError, MultiproofError
from .hashing import _keccak_raw, from_hex, to_hex
from .merkle import MerkleTree, build_tree, multiproof, process_multiproof, tree_depth

#: Matrix tag of an embedding row's leaf (0 = K, 1 = V).
MATRIX_E = 2
#: The leaf's layer field for embedding rows (E feeds layer 0).
EMBEDDING_LEAF_LAYER = 0
#: At most this many token ids in one input.
MAX_TOKENS = 1024
#: Largest embedding learning rate (Q16, like lrK and lrV).
MAX_LR_E = (1 << 32) - 1


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# ---------------------------------------------------------------- the header object


@dataclass(frozen=True)
class EmbeddingChunk:
    """Rows [first, first + count) of E as one IPFS raw block (its bytes: the rows' int8 data
    concatenated in row order), and the block's CID (§6)."""

    first: int
    count: int
    cid: str

    def to_json(self) -> dict[str, object]:
        """The entry's JSON object: ``{"first", "count", "cid"}``."""
        return {"first": self.first, "count": self.count, "cid": self.cid}

    @classmethod
    def from_json(cls, obj: object) -> EmbeddingChunk:
        """Parse one entry; GhostFileError on a missing, extra or mistyped field."""
        if not isinstance(obj, dict) or set(obj) != {"first", "count", "cid"}:
            raise GhostFileError("embedding chunk must have exactly first, count, cid")
        if not _is_uint(obj["first"]) or not _is_uint(obj["count"]) or not isinstance(obj["cid"], str):
            raise GhostFileError("embedding chunk first/count must be integers, cid a string")
        try:
            parse_cid(obj["cid"])
        except FormatError as exc:
            raise GhostFileError(f"embedding chunk cid: {exc}") from exc
        return cls(obj["first"], obj["count"], obj["cid"])


@dataclass(frozen=True)
class EmbeddingSpec:
    """The header's ``"embedding"`` object: E is ``vocab`` rows of ``dim`` int8 (``dim`` =
    layer 0's d_in), float reading ``scale · E`` (display only), committed as the tree whose
    root is ``root``; ``chunks`` cover rows 0..vocab−1 (or are empty); ``lr_e`` (header
    ``lrE``, optional) is the Q16 learning rate of the rows under sgd-v1 — absent, E is frozen."""

    vocab: int
    dim: int
    scale: float
    root: bytes
    chunks: tuple[EmbeddingChunk, ...] = ()
    lr_e: int | None = None

    def to_json(self) -> dict[str, object]:
        """The ``"embedding"`` object (``lrE`` only when declared)."""
        obj: dict[str, object] = {
            "vocab": self.vocab,
            "dim": self.dim,
            "scale": self.scale,
            "root": to_hex(self.root),
            "chunks": [c.to_json() for c in self.chunks],
        }
        if self.lr_e is not None:
            obj["lrE"] = self.lr_e
        return obj

    @classmethod
    def from_json(cls, obj: object, d_in: int) -> EmbeddingSpec:
        """Parse and validate the ``"embedding"`` object against layer 0's ``d_in``;
        GhostFileError on any deviation (§14.6 validation)."""
        keys = {"vocab", "dim", "scale", "root", "chunks"}
        if not isinstance(obj, dict) or set(obj) - {"lrE"} != keys:
            raise GhostFileError(f"embedding must have exactly {sorted(keys)} (and optionally 'lrE')")
        if not _is_uint(obj["vocab"]) or not 1 <= obj["vocab"] <= MAX_COLUMNS:
            raise GhostFileError("embedding vocab must be an integer in 1..2^32")
        if obj["dim"] != d_in or not _is_uint(obj["dim"]):
            raise GhostFileError(f"embedding dim must equal layer 0 dIn ({d_in})")
        scale = obj["scale"]
        if not isinstance(scale, int | float) or isinstance(scale, bool) or abs(scale) > 1e308 \
                or not math.isfinite(scale) or scale <= 0:
            raise GhostFileError("embedding scale must be a finite positive number")
        if "lrE" in obj and (not _is_uint(obj["lrE"]) or obj["lrE"] > MAX_LR_E):
            raise GhostFileError("embedding lrE must be an integer in 0..2^32-1")
        if not isinstance(obj["chunks"], list):
            raise GhostFileError("embedding chunks must be a list")
        try:
            root = from_hex(obj["root"], "embedding root", 32)
        except FormatError as exc:
            raise GhostFileError(str(exc)) from exc
        spec = cls(obj["vocab"], obj["dim"], float(scale), root,
                   tuple(EmbeddingChunk.from_json(c) for c in obj["chunks"]), obj.get("lrE"))
        spec.check_chunks()
        return spec

    def check_chunks(self) -> None:
        """An empty table, or entries covering rows 0..vocab−1 in order, without gap or overlap,
        each at most 1 MiB (GhostFileError otherwise)."""
        cursor = 0
        for c in self.chunks:
            if c.first != cursor or c.count < 1 or c.count * self.dim > MAX_CHUNK_BYTES:
                raise GhostFileError(f"embedding chunk at row {c.first}: gap, overlap or size out of range")
            cursor += c.count
        if self.chunks and cursor != self.vocab:
            raise GhostFileError(f"embedding chunks cover {cursor} of {self.vocab} rows")

    @property
    def depth(self) -> int:
        """Depth of E's tree: ceil(log2 vocab)."""
        return tree_depth(self.vocab)


# ---------------------------------------------------------------- leaves, tree, chunks


def embedding_leaf_hashes(rows: np.ndarray, ids: Sequence[int] | np.ndarray) -> list[bytes]:
    """Leaf hashes of embedding rows: ``keccak256(0x00 ‖ uint16 0 ‖ uint8 2 ‖ uint32 ids[i] ‖
    rows[i])`` for each row of the (n, dim) int8 array ``rows``. FormatError for a non-2-D
    array, a count mismatch or an id outside uint32."""
    arr = np.ascontiguousarray(rows, dtype=np.int8)
    idx = np.asarray(ids, dtype=np.int64).reshape(-1)
    if arr.ndim != 2 or idx.shape[0] != arr.shape[0]:
        raise FormatError("embedding rows must be a 2-D int8 array with one id per row")
    if idx.size and (idx.min() < 0 or idx.max() >= MAX_COLUMNS):
        raise FormatError("embedding row ids must fit a uint32")
    n, d = arr.shape
    buf = np.zeros((n, 8 + d), dtype=np.uint8)
    buf[:, :4] = np.frombuffer(struct.pack(">BHB", TAG_LEAF, EMBEDDING_LEAF_LAYER, MATRIX_E), dtype=np.uint8)
    buf[:, 4:8] = idx.astype(">u4").view(np.uint8).reshape(n, 4)
    buf[:, 8:] = arr.view(np.uint8)
    raw, width, h = buf.tobytes(), 8 + d, _keccak_raw
    return [h(raw[i : i + width]).digest() for i in range(0, len(raw), width)]  # type: ignore[attr-defined]


def embedding_tree(table: np.ndarray, block: int = 1 << 16) -> MerkleTree:
    """The §3 tree over every row of the (vocab, dim) int8 table (leaves as above)."""
    leaves: list[bytes] = []
    for first in range(0, table.shape[0], block):
        part = np.asarray(table[first : first + block])
        leaves.extend(embedding_leaf_hashes(part, np.arange(first, first + part.shape[0])))
    return build_tree(leaves)


def embedding_chunks(table: np.ndarray) -> tuple[EmbeddingChunk, ...]:
    """The producer's chunking of E: runs of floor(1 MiB / dim) rows from row 0 (as §6)."""
    mat = np.ascontiguousarray(table, dtype=np.int8)
    return tuple(EmbeddingChunk(first, count, cid_for_bytes(mat[first : first + count].tobytes()))
                 for first, count in plan_chunks(mat.shape[0], mat.shape[1]))


def touched_embedding_chunks(chunks: Sequence[EmbeddingChunk], rows: Sequence[int]) -> list[int]:
    """Indices of the chunks holding at least one of the sorted ``rows``."""
    pos = np.asarray(rows, dtype=np.int64)
    out = []
    for i, c in enumerate(chunks):
        lo = np.searchsorted(pos, c.first)
        if lo < pos.size and pos[lo] < c.first + c.count:
            out.append(i)
    return out


# ---------------------------------------------------------------- token inputs


def check_tokens(tokens: Sequence[int], vocab: int) -> tuple[int, ...]:
    """The token ids as a tuple: 1..MAX_TOKENS integers in 0..vocab−1 (InputError otherwise)."""
    if not isinstance(tokens, Sequence | np.ndarray) or not 1 <= len(tokens) <= MAX_TOKENS:
        raise InputError(f"a token input lists 1..{MAX_TOKENS} token ids")
    out = []
    for t in tokens:
        if not isinstance(t, int | np.integer) or isinstance(t, bool) or not 0 <= int(t) < vocab:
            raise InputError(f"token {t!r} is not an id of a {vocab}-token vocabulary")
        out.append(int(t))
    return tuple(out)


def token_counts(tokens: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The distinct ids of ``tokens`` in ascending order and how often each occurs."""
    counts = sorted(Counter(int(t) for t in tokens).items())
    return tuple(t for t, _ in counts), tuple(c for _, c in counts)


def token_sum(ids: Sequence[int], counts: Sequence[int], rows: np.ndarray) -> np.ndarray:
    """x = Σ_t count_t · E[t] (int64, exact) from the distinct ids' rows (row i = ids[i])."""
    arr = np.asarray(rows, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[0] != len(ids) or len(counts) != len(ids):
        raise InputError("one embedding row per distinct token")
    return (np.asarray(counts, dtype=np.int64)[:, None] * arr).sum(axis=0)


def token_query(ids: Sequence[int], counts: Sequence[int], rows: np.ndarray) -> np.ndarray:
    """Layer 0's query of a token input: ``quantise(Σ count_t · E[t])`` (§2.1, the exact
    integer path); InputError when the sum is the zero vector (as a zero float input)."""
    from .layer import requantise

    x = token_sum(ids, counts, rows)
    if not np.any(x):
        raise InputError("the token input's embedding sum is the zero vector")
    return requantise(x)


def open_embedding_rows(tree: MerkleTree, ids: Sequence[int]) -> list[bytes]:
    """The compact multiproof (§4) of the sorted distinct ``ids`` in E's tree."""
    return multiproof(tree, list(ids))


def verify_embedding_rows(spec: EmbeddingSpec, ids: Sequence[int], rows: np.ndarray,
                          proof: Sequence[bytes], root: bytes | None = None) -> None:
    """Check that ``rows`` are rows ``ids`` (strictly increasing, < vocab) of the table whose
    root is ``root`` (default: the spec's); MultiproofError otherwise."""
    pos = [int(t) for t in ids]
    if not pos or any(b <= a for a, b in itertools.pairwise(pos)) or pos[0] < 0 or pos[-1] >= spec.vocab:
        raise MultiproofError(f"embedding rows must be strictly increasing ids below vocab = {spec.vocab}")
    arr = np.asarray(rows)
    if arr.dtype != np.int8 or arr.shape != (len(pos), spec.dim):
        raise MultiproofError(f"embedding rows must be int8 ({len(pos)}, {spec.dim})")
    got = process_multiproof(spec.depth, pos, embedding_leaf_hashes(arr, pos), list(proof))
    if got != (spec.root if root is None else root):
        raise MultiproofError("the embedding rows and the multiproof do not give the embedding root")


def check_dim(dim: int) -> None:
    """InputError unless 1 ≤ dim ≤ 65536."""
    if not 1 <= dim <= MAX_DIM:
        raise InputError(f"embedding dim must be in 1..{MAX_DIM}")
