"""keccak256 and the domain-separated hashes of DESIGN §2 (leaves, nodes, ghostRoot).

Used by the Merkle code, the ghost file, the prover and the verifier; the Solidity
contracts compute the same bytes (tests/vectors/ binds both).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from types import ModuleType

import numpy as np
from eth_hash.backends import pysha3 as _pysha3_backend
from eth_hash.main import Keccak256

from .constants import (
    HASH_BYTES,
    MATRIX_NAMES,
    TAG_GHOST_ROOT,
    TAG_LEAF,
    TAG_NODE,
)
from .errors import FormatError

_keccak = Keccak256(_pysha3_backend)
# The raw pysha3 constructor, for tight loops (same function, without eth-hash's wrapper).
_keccak_raw: Callable[[bytes], object] = _pysha3_backend._keccak_256


# The batch keccak (protocol/keccak_batch.py, numba): None = not tried yet, False = unusable.
_native: ModuleType | bool | None = None
_pure_hashes = 0  # hashed in pure Python while the batch keccak was not loaded yet
# Loading numba and the cached kernels costs ~0.3–0.6 s (a first compile on a machine ~4 s):
# more than a one-shot `ghostproof verify` hashes in all. So the batch keccak is loaded once
# the process has this many hashes to do in total (one tree of 2^15 leaves, or ~80 verified
# layers); until then the pure-Python path runs. GHOSTPROOF_KECCAK=native loads it at once,
# GHOSTPROOF_KECCAK=pure never.
NATIVE_AFTER_HASHES = 1 << 16
_RATE = 136
_EMPTY_KECCAK = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def native(batch: int | None = None) -> ModuleType | None:
    """The batch keccak module, or None where the pure-Python path is to be used.

    ``batch`` is the number of hashes the caller is about to compute: the module is loaded
    only once the process has asked for :data:`NATIVE_AFTER_HASHES` in all (or at once with
    ``batch=None``, or ``GHOSTPROOF_KECCAK=native``). None also when numba is missing, the
    kernels fail their check against pysha3, or ``GHOSTPROOF_KECCAK=pure`` /
    ``use_native(False)`` switched it off. Both paths compute the same bytes.
    """
    global _native, _pure_hashes
    if _native is None:
        mode = os.environ.get("GHOSTPROOF_KECCAK", "auto")
        if mode == "pure":
            _native = False
        elif batch is not None and mode != "native" and _pure_hashes + batch < NATIVE_AFTER_HASHES:
            _pure_hashes += batch
            return None
        else:
            _native = _load_native() or False
    return _native or None


def _load_native() -> ModuleType | None:
    try:
        from . import keccak_batch as kb

        out = np.empty((2, 4), dtype=np.uint64)
        block = np.zeros((1, 17), dtype=np.uint64)
        block.view(np.uint8)[0, [0, _RATE - 1]] = (1, 0x80)
        kb.sponge_rows(block, out[:1])
        pair = np.arange(8, dtype=np.uint64).reshape(2, 4)
        kb.hash_pairs(pair, 0, 1, out, 1)
        want_node = node_hash(pair[0].tobytes(), pair[1].tobytes())
        return kb if out[0].tobytes() == _EMPTY_KECCAK and out[1].tobytes() == want_node else None
    except Exception:  # numba missing, or it cannot compile or cache here: stay pure Python
        return None


def use_native(enabled: bool) -> bool:
    """Switch the batch keccak on (if usable) or off for this process; returns whether it is on.

    For benchmarks and tests: the pure-Python path computes the same bytes.
    """
    global _native
    _native = False
    if enabled:
        _native = _load_native() or False
    return bool(_native)


def keccak256(data: bytes) -> bytes:
    """Return the 32-byte keccak256 digest of ``data`` (Ethereum's keccak, not NIST SHA3)."""
    return _keccak(data)


def _check_layer_column(layer: int, matrix: int, column: int) -> None:
    if not 0 <= layer < 1 << 16:
        raise FormatError(f"layer {layer} does not fit a uint16")
    if matrix not in MATRIX_NAMES:
        raise FormatError(f"matrix tag {matrix} is not 0 (K) or 1 (V)")
    if not 0 <= column < 1 << 32:
        raise FormatError(f"column {column} does not fit a uint32")


def leaf_prefix(layer: int, matrix: int, column: int) -> bytes:
    """Return the 8 bytes that precede a column's int8 data in its leaf preimage."""
    _check_layer_column(layer, matrix, column)
    return struct.pack(">BHBI", TAG_LEAF, layer, matrix, column)


def leaf_hash(layer: int, matrix: int, column: int, values: bytes | np.ndarray) -> bytes:
    """Hash of column ``column`` of matrix ``matrix`` of layer ``layer`` (DESIGN §2).

    ``values`` is the column's int8 data (an int8 array or its raw bytes).
    """
    data = values.astype(np.int8, copy=False).tobytes() if isinstance(values, np.ndarray) else values
    return keccak256(leaf_prefix(layer, matrix, column) + bytes(data))


def _column_indices(layer: int, matrix: int, n: int, first: int, indices: np.ndarray | None) -> np.ndarray:
    """The (n,) int64 column index of each row, checked (FormatError) to fit a leaf's fields
    (no rows: nothing to check, as before)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if indices is None:
        idx = np.arange(first, first + n, dtype=np.int64)
    else:
        idx = np.ascontiguousarray(indices, dtype=np.int64)
        if idx.shape != (n,) or idx.min() < 0:
            raise FormatError("indices must give one non-negative column index per row")
    _check_layer_column(layer, matrix, int(idx.max()))
    return idx


def _batch_for(columns: np.ndarray) -> tuple[ModuleType | None, np.ndarray]:
    """The batch keccak module for hashing the rows of ``columns`` (None: the pure path), and
    ``columns`` as an array."""
    cols = np.asarray(columns)
    return (native(cols.shape[0]) if cols.ndim == 2 else None), cols


def _leaf_rows(
    layer: int, matrix: int, columns: np.ndarray, first: int, indices: np.ndarray | None, pad_to: int
) -> np.ndarray:
    """The leaf preimages of ``columns`` as rows of a zeroed (n, ≥ 8 + d) uint8 buffer, ``pad_to``
    bytes wide (for the native path: keccak's padding bytes are then written into it)."""
    cols = np.ascontiguousarray(columns, dtype=np.int8)
    if cols.ndim != 2:
        raise FormatError("columns must be a 2-D int8 array (one column per row)")
    n, d = cols.shape
    idx = _column_indices(layer, matrix, n, first, indices)
    buf = np.zeros((n, pad_to), dtype=np.uint8)
    buf[:, 0] = TAG_LEAF
    buf[:, 1:3] = np.frombuffer(struct.pack(">H", layer), dtype=np.uint8)
    buf[:, 3] = matrix
    buf[:, 4:8] = idx.astype(">u4").view(np.uint8).reshape(n, 4)
    buf[:, 8 : 8 + d] = cols.view(np.uint8)
    return buf


def leaf_hash_array(
    layer: int,
    matrix: int,
    columns: np.ndarray,
    first: int = 0,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Leaf hashes of every row of ``columns`` as an (n, 32) uint8 array (row i = leaf i).

    Same bytes and the same checks as :func:`leaf_hashes`; hashed in native batches when
    :func:`native` is available, one pysha3 call per leaf otherwise.
    """
    kb, cols = _batch_for(columns)
    if kb is None:
        raw = b"".join(_leaf_hashes_pure(layer, matrix, columns, first, indices))
        return np.frombuffer(raw, dtype=np.uint8).reshape(-1, HASH_BYTES)
    return _leaf_hashes_native(kb, layer, matrix, cols, first, indices)


def _leaf_hashes_native(
    kb: ModuleType, layer: int, matrix: int, cols: np.ndarray, first: int, indices: np.ndarray | None
) -> np.ndarray:
    """The batch-keccak path of :func:`leaf_hash_array` (``cols`` 2-D): the same checks as
    :func:`_leaf_rows`, then one kernel call that lays out and hashes the preimages."""
    cols = np.ascontiguousarray(cols, dtype=np.int8)
    n = cols.shape[0]
    idx = _column_indices(layer, matrix, n, first, indices)
    out = np.empty((n, 4), dtype=np.uint64)
    if n:
        head = int.from_bytes(struct.pack(">BHB", TAG_LEAF, layer, matrix), "little")
        if cols.shape[1] % 8 == 0:
            kb.sponge_leaves_aligned(head, cols.view(np.uint64), idx, out)
        else:
            kb.sponge_leaves(head, cols.view(np.uint8), idx, out)
    return out.view(np.uint8)


def leaf_hashes(
    layer: int,
    matrix: int,
    columns: np.ndarray,
    first: int = 0,
    indices: np.ndarray | None = None,
) -> list[bytes]:
    """Leaf hashes of every row of ``columns`` (shape (n, d), int8).

    Row i is column ``indices[i]`` if ``indices`` is given, else column ``first + i``.
    Equal to ``[leaf_hash(layer, matrix, j_i, columns[i]) for i in range(n)]``, faster: the
    preimages are laid out in one buffer and hashed in native batches (:func:`native`), or
    in a tight pysha3 loop. Raises FormatError for a non-2-D array, bad indices, or an index
    or layer out of range.
    """
    kb, cols = _batch_for(columns)
    if kb is None:
        return _leaf_hashes_pure(layer, matrix, columns, first, indices)
    raw = _leaf_hashes_native(kb, layer, matrix, cols, first, indices).tobytes()
    return [raw[i : i + HASH_BYTES] for i in range(0, len(raw), HASH_BYTES)]


def _leaf_hashes_pure(
    layer: int, matrix: int, columns: np.ndarray, first: int, indices: np.ndarray | None
) -> list[bytes]:
    """The reference: one pysha3 call per leaf."""
    cols = np.asarray(columns)
    width = 8 + (cols.shape[1] if cols.ndim == 2 else 0)
    buf = _leaf_rows(layer, matrix, cols, first, indices, width)
    raw = buf.tobytes()
    h = _keccak_raw
    return [h(raw[i : i + width]).digest() for i in range(0, len(raw), width)]  # type: ignore[attr-defined]


def node_hash(left: bytes, right: bytes) -> bytes:
    """Internal Merkle node: keccak256(0x01 ‖ left ‖ right)."""
    return keccak256(bytes([TAG_NODE]) + left + right)


def node_hashes(level: list[bytes]) -> list[bytes]:
    """Hash a level of even length pairwise into the level above."""
    h = _keccak_raw
    tag = bytes([TAG_NODE])
    return [
        h(tag + level[i] + level[i + 1]).digest()  # type: ignore[attr-defined]
        for i in range(0, len(level), 2)
    ]


def root_leaf_hash(layer: int, matrix: int, root: bytes) -> bytes:
    """Leaf of the layers tree for one layer root: keccak256(0x00 ‖ uint16 ℓ ‖ uint8 M ‖ root)."""
    _check_layer_column(layer, matrix, 0)
    _check_hash(root, "layer root")
    return keccak256(struct.pack(">BHB", TAG_LEAF, layer, matrix) + root)


def ghost_root(header_hash: bytes, layers_root: bytes) -> bytes:
    """ghostRoot = keccak256(0x03 ‖ headerHash ‖ layersRoot): the value anchored on-chain."""
    _check_hash(header_hash, "headerHash")
    _check_hash(layers_root, "layersRoot")
    return keccak256(bytes([TAG_GHOST_ROOT]) + header_hash + layers_root)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_BYTES:
        raise FormatError(f"{what} must be 32 bytes")


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def to_hex(data: bytes) -> str:
    """0x-prefixed lowercase hex of ``data``."""
    return "0x" + bytes(data).hex()


def from_hex(text: object, what: str, length: int | None = None) -> bytes:
    """Parse 0x-prefixed hex; raise FormatError naming ``what`` if it is not hex of ``length`` bytes."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise FormatError(f"{what} must be a 0x-prefixed hex string")
    if len(text) % 2 or not _HEX_DIGITS.issuperset(text[2:]):
        raise FormatError(f"{what} is not valid hex (an even number of hex digits, no spaces)")
    data = bytes.fromhex(text[2:])
    if length is not None and len(data) != length:
        raise FormatError(f"{what} must be {length} bytes, got {len(data)}")
    return data


def hex_list(items: Iterable[bytes]) -> list[str]:
    """Hex-encode each item."""
    return [to_hex(x) for x in items]
