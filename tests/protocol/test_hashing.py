"""protocol/hashing.py: byte layouts of leaves, nodes, layer-root leaves and ghostRoot."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from Crypto.Hash import keccak as _crypto_keccak

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.hashing import (
    from_hex,
    ghost_root,
    keccak256,
    leaf_hash,
    leaf_hashes,
    leaf_prefix,
    node_hash,
    node_hashes,
    root_leaf_hash,
    to_hex,
)


def reference_keccak(data: bytes) -> bytes:
    """keccak256 from an independent implementation (pycryptodome)."""
    return _crypto_keccak.new(digest_bits=256, data=data).digest()


A = bytes(range(32))
B = bytes(range(32, 64))


def test_keccak256_of_empty_string():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_keccak256_matches_independent_implementation():
    data = bytes(range(256)) * 3
    assert keccak256(data) == reference_keccak(data)


def test_leaf_prefix_layout():
    assert leaf_prefix(0x0102, 1, 0x03040506) == bytes([0, 1, 2, 1, 3, 4, 5, 6])


def test_leaf_hash_preimage():
    column = np.array([1, -1, 127, -127, 0], dtype=np.int8)
    preimage = struct.pack(">BHBI", 0, 3, 1, 70000) + struct.pack(">5b", 1, -1, 127, -127, 0)
    assert leaf_hash(3, 1, 70000, column) == reference_keccak(preimage)


def test_leaf_hash_accepts_raw_bytes():
    column = np.array([5, -6, 7], dtype=np.int8)
    assert leaf_hash(0, 0, 2, column.tobytes()) == leaf_hash(0, 0, 2, column)


def test_leaf_hash_binds_layer():
    col = np.ones(4, dtype=np.int8)
    assert leaf_hash(0, 0, 0, col) != leaf_hash(1, 0, 0, col)


def test_leaf_hash_binds_matrix():
    col = np.ones(4, dtype=np.int8)
    assert leaf_hash(0, 0, 0, col) != leaf_hash(0, 1, 0, col)


def test_leaf_hash_binds_column_index():
    col = np.ones(4, dtype=np.int8)
    assert leaf_hash(0, 0, 0, col) != leaf_hash(0, 0, 1, col)


def test_node_hash_preimage():
    assert node_hash(A, B) == reference_keccak(b"\x01" + A + B)


def test_node_hash_is_ordered():
    assert node_hash(A, B) != node_hash(B, A)


def test_node_hashes_pairs_a_level():
    assert node_hashes([A, B, B, A]) == [node_hash(A, B), node_hash(B, A)]


def test_root_leaf_hash_preimage():
    assert root_leaf_hash(2, 1, A) == reference_keccak(struct.pack(">BHB", 0, 2, 1) + A)


def test_ghost_root_preimage():
    assert ghost_root(A, B) == reference_keccak(b"\x03" + A + B)


def test_leaf_hashes_equal_leaf_hash_contiguous():
    rng = np.random.default_rng(0)
    cols = rng.integers(-127, 128, size=(37, 9), dtype=np.int8)
    expected = [leaf_hash(4, 1, 100 + i, cols[i]) for i in range(37)]
    assert leaf_hashes(4, 1, cols, first=100) == expected


def test_leaf_hashes_equal_leaf_hash_with_indices():
    rng = np.random.default_rng(1)
    cols = rng.integers(-127, 128, size=(6, 5), dtype=np.int8)
    indices = np.array([3, 17, 18, 1000, 65536, 2**32 - 1])
    expected = [leaf_hash(1, 0, int(j), cols[i]) for i, j in enumerate(indices)]
    assert leaf_hashes(1, 0, cols, indices=indices) == expected


def test_leaf_hashes_of_no_columns_is_empty():
    assert leaf_hashes(0, 0, np.zeros((0, 4), dtype=np.int8)) == []


@pytest.mark.parametrize("layer", [-1, 1 << 16])
def test_invalid_leaf_layer_out_of_range(layer):
    with pytest.raises(FormatError):
        leaf_hash(layer, 0, 0, np.zeros(2, dtype=np.int8))


@pytest.mark.parametrize("column", [-1, 1 << 32])
def test_invalid_leaf_column_out_of_range(column):
    with pytest.raises(FormatError):
        leaf_hash(0, 0, column, np.zeros(2, dtype=np.int8))


@pytest.mark.parametrize("matrix", [-1, 2])
def test_invalid_leaf_matrix_tag(matrix):
    with pytest.raises(FormatError):
        leaf_hash(0, matrix, 0, np.zeros(2, dtype=np.int8))


def test_invalid_leaf_hashes_column_beyond_uint32():
    with pytest.raises(FormatError):
        leaf_hashes(0, 0, np.zeros((2, 3), dtype=np.int8), first=(1 << 32) - 1)


def test_invalid_leaf_hashes_negative_index():
    with pytest.raises(FormatError):
        leaf_hashes(0, 0, np.zeros((2, 3), dtype=np.int8), indices=np.array([-1, 0]))


def test_invalid_leaf_hashes_layer_out_of_range():
    with pytest.raises(FormatError):
        leaf_hashes(1 << 16, 0, np.zeros((1, 3), dtype=np.int8))


def test_invalid_leaf_hashes_one_dimensional():
    with pytest.raises(FormatError):
        leaf_hashes(0, 0, np.zeros(3, dtype=np.int8))


def test_invalid_root_leaf_short_root():
    with pytest.raises(FormatError):
        root_leaf_hash(0, 0, bytes(31))


def test_invalid_ghost_root_short_header_hash():
    with pytest.raises(FormatError):
        ghost_root(bytes(31), B)


def test_hex_round_trip():
    assert from_hex(to_hex(A), "x", 32) == A


@pytest.mark.parametrize("text", ["00", "0x0", "0xzz", "0x 0", 5, "0X00"])
def test_invalid_hex(text):
    with pytest.raises(FormatError):
        from_hex(text, "x")


def test_invalid_hex_length():
    with pytest.raises(FormatError):
        from_hex("0x" + "00" * 31, "x", 32)
