"""keccak256 and the domain-separated hashes of DESIGN §2 (leaves, nodes, ghostRoot).

Used by the Merkle code, the ghost file, the prover and the verifier; the Solidity
contracts compute the same bytes (tests/vectors/ binds both).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

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


def leaf_hashes(
    layer: int,
    matrix: int,
    columns: np.ndarray,
    first: int = 0,
    indices: np.ndarray | None = None,
) -> list[bytes]:
    """Leaf hashes of every row of ``columns`` (shape (n, d), int8).

    Row i is column ``indices[i]`` if ``indices`` is given, else column ``first + i``.
    Equal to ``[leaf_hash(layer, matrix, j_i, columns[i]) for i in range(n)]``, faster:
    the preimages are laid out in one buffer and hashed in a tight loop.
    """
    cols = np.ascontiguousarray(columns, dtype=np.int8)
    if cols.ndim != 2:
        raise FormatError("columns must be a 2-D int8 array (one column per row)")
    n, d = cols.shape
    if n == 0:
        return []
    if indices is None:
        idx = np.arange(first, first + n, dtype=np.int64)
    else:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.shape != (n,) or (n and idx.min() < 0):
            raise FormatError("indices must give one non-negative column index per row")
    _check_layer_column(layer, matrix, int(idx.max()))
    width = 8 + d
    buf = np.empty((n, width), dtype=np.uint8)
    buf[:, 0] = TAG_LEAF
    buf[:, 1:3] = np.frombuffer(struct.pack(">H", layer), dtype=np.uint8)
    buf[:, 3] = matrix
    buf[:, 4:8] = idx.astype(">u4").view(np.uint8).reshape(n, 4)
    buf[:, 8:] = cols.view(np.uint8)
    raw = buf.tobytes()
    h = _keccak_raw
    return [h(raw[i : i + width]).digest() for i in range(0, n * width, width)]  # type: ignore[attr-defined]


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
