"""The batch keccak (protocol/keccak_batch.py) against the reference pysha3 path, byte for byte."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest

import ghostproof.protocol
from ghostproof.protocol import hashing, merkle
from ghostproof.protocol.errors import MultiproofError
from ghostproof.protocol.hashing import keccak256, leaf_hash, leaf_hash_array, leaf_hashes, node_hash
from ghostproof.protocol.merkle import (
    build_tree,
    multiproof,
    process_multiproof,
    tree_depth,
    tree_from_leaf_array,
)

pytest.importorskip("numba")

RATE = 136


@pytest.fixture
def kb() -> Iterator[object]:
    """The batch module, loaded; the process's hashing mode is restored afterwards."""
    saved = (hashing._native, hashing._pure_hashes)
    assert hashing.use_native(True), "numba is installed but the batch keccak did not load"
    yield hashing.native()
    hashing._native, hashing._pure_hashes = saved


@pytest.fixture
def pure() -> Iterator[None]:
    """The pure-Python path for the duration of a test."""
    saved = (hashing._native, hashing._pure_hashes)
    hashing.use_native(False)
    yield
    hashing._native, hashing._pure_hashes = saved


def padded_words(rows: np.ndarray) -> np.ndarray:
    """Rows of bytes as keccak-padded little-endian words, as ``sponge_rows`` takes them."""
    n, length = rows.shape
    padded = (length // RATE + 1) * RATE
    buf = np.zeros((n, padded), dtype=np.uint8)
    buf[:, :length] = rows
    buf[:, length] = 0x01
    buf[:, -1] |= 0x80
    return buf.view(np.uint64)


def test_sponge_matches_pysha3_for_every_length_up_to_600(kb) -> None:
    rng = np.random.default_rng(0)
    for length in range(601):
        n = 1 + length % 11  # partial and full groups of 8
        rows = rng.integers(0, 256, (n, length), dtype=np.uint8)
        out = np.empty((n, 4), dtype=np.uint64)
        kb.sponge_rows(padded_words(rows), out)
        assert [out[i].tobytes() for i in range(n)] == [keccak256(r.tobytes()) for r in rows], length


def test_sponge_known_vectors(kb) -> None:
    out = np.empty((2, 4), dtype=np.uint64)
    kb.sponge_rows(padded_words(np.frombuffer(b"abc", np.uint8).reshape(1, 3)), out[:1])
    kb.sponge_rows(padded_words(np.zeros((1, 0), np.uint8)), out[1:])
    assert out[0].tobytes().hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert out[1].tobytes().hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@pytest.mark.parametrize("m", [1, 2, 7, 8, 9, 16, 17, 33])
def test_hash_pairs_matches_node_hash(kb, m: int) -> None:
    rng = np.random.default_rng(m)
    src = rng.integers(0, 256, (2 * m + 3, 32), dtype=np.uint8)
    dst = np.zeros((m + 1, 32), dtype=np.uint8)
    kb.hash_pairs(src.view(np.uint64), 3, m, dst.view(np.uint64), 1)
    for i in range(m):
        assert dst[1 + i].tobytes() == node_hash(src[3 + 2 * i].tobytes(), src[4 + 2 * i].tobytes())


@pytest.mark.parametrize("d", [0, 1, 7, 8, 127, 128, 129, 256, 300, 600])
def test_leaf_hashes_native_equal_reference(kb, d: int) -> None:
    rng = np.random.default_rng(d)
    cols = rng.integers(-128, 128, (21, d), dtype=np.int8)
    want = [leaf_hash(3, 1, 1000 + i, cols[i]) for i in range(21)]
    assert leaf_hashes(3, 1, cols, first=1000) == want
    assert leaf_hash_array(3, 1, cols, first=1000).tobytes() == b"".join(want)
    idx = rng.choice(1 << 20, 21, replace=False)
    want = [leaf_hash(3, 1, int(j), c) for j, c in zip(idx, cols, strict=True)]
    assert leaf_hashes(3, 1, cols, indices=idx) == want


def test_leaf_hashes_native_every_index_byte_and_layer(kb) -> None:
    cols = np.random.default_rng(1).integers(-128, 128, (50, 33), dtype=np.int8)
    assert leaf_hashes(0, 0, cols, first=7) == [leaf_hash(0, 0, 7 + i, cols[i]) for i in range(50)]
    idx = np.array([0, 1, 0xFF, 0x100, 0x1234, 0x12345678, 0x80000000, 0xFFFFFFFF] * 2, dtype=np.int64)
    want = [leaf_hash(0xFFFF, 1, int(j), c) for j, c in zip(idx, cols[:16], strict=True)]
    assert leaf_hashes(0xFFFF, 1, cols[:16], indices=idx) == want
    assert leaf_hashes(0, 0, cols[:0]) == []
    assert leaf_hash_array(0, 0, cols[:0]).shape == (0, 32)


@pytest.mark.parametrize("n", [*range(1, 20), 33, 1000])
def test_build_tree_native_equals_pure(kb, n: int) -> None:
    leaves = [keccak256(i.to_bytes(4, "big")) for i in range(n)]
    native_tree = build_tree(leaves)
    hashing.use_native(False)
    pure_tree = build_tree(leaves)
    assert native_tree.n_leaves == pure_tree.n_leaves
    assert all(np.array_equal(a, b) for a, b in zip(native_tree.levels, pure_tree.levels, strict=True))
    hashing.use_native(True)
    for parts in (2, 4, 64):
        split = tree_from_leaf_array(n, np.frombuffer(b"".join(leaves), np.uint8).reshape(-1, 32), parts)
        assert split.root == pure_tree.root
        assert np.array_equal(split.packed(), pure_tree.packed())


def test_multiproof_native_equals_pure(kb) -> None:
    rng = np.random.default_rng(5)
    n = 1000
    leaves = [keccak256(i.to_bytes(4, "big")) for i in range(n)]
    tree = build_tree(leaves)
    depth = tree_depth(n)
    for k in (1, 2, 5, 32, 200):
        pos = sorted(int(p) for p in rng.choice(n, k, replace=False))
        proof = multiproof(tree, pos)
        mine = [leaves[p] for p in pos]
        assert process_multiproof(depth, pos, mine, proof) == tree.root
        assert merkle._process_pure(depth, pos, mine, proof) == tree.root
        with pytest.raises(MultiproofError, match="truncated"):
            process_multiproof(depth, pos, mine, proof[:-1])
        with pytest.raises(MultiproofError, match="1 unused"):
            process_multiproof(depth, pos, mine, [*proof, bytes(32)])
        wrong = [bytes(32), *mine[1:]]
        assert process_multiproof(depth, pos, wrong, proof) == merkle._process_pure(depth, pos, wrong, proof)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 1000, 4096])
def test_sibling_rows_native_equal_the_python_schedule(kb, n: int) -> None:
    """The prover's native multiproof (one packed tree, rows from the kernel) gives the same
    hashes as the Python schedule over separate levels, for every set size up to all leaves."""
    rng = np.random.default_rng(n)
    leaves = [keccak256(i.to_bytes(4, "big")) for i in range(n)]
    flat = merkle.MerkleTree.from_packed(n, build_tree(leaves).packed())
    levels = merkle.MerkleTree(n, tuple(np.array(level) for level in flat.levels))
    other = merkle.MerkleTree.from_packed(n, build_tree(leaves[::-1]).packed())
    for k in sorted({1, min(n, 2), min(n, 5), min(n, 32), n}):
        pos = sorted(int(p) for p in rng.choice(n, k, replace=False))
        schedule = merkle.sibling_schedule(pos, flat.depth)
        want = [merkle._gather(levels, schedule), merkle._gather(other, schedule)]
        assert merkle.multiproofs([flat, other], pos) == want
        assert process_multiproof(flat.depth, pos, [leaves[p] for p in pos], want[0]) == flat.root
    with pytest.raises(MultiproofError, match="strictly increasing"):
        merkle.multiproofs([flat], [1, 0] if n > 1 else [0, 0])


def test_pure_mode_is_the_reference(pure) -> None:
    assert hashing.native() is None
    cols = np.arange(64, dtype=np.int8).reshape(2, 32)
    assert leaf_hashes(0, 0, cols) == [leaf_hash(0, 0, i, cols[i]) for i in range(2)]


def test_small_batches_stay_pure_until_the_threshold(monkeypatch) -> None:
    monkeypatch.setattr(hashing, "_native", None)
    monkeypatch.setattr(hashing, "_pure_hashes", 0)
    monkeypatch.delenv("GHOSTPROOF_KECCAK", raising=False)
    assert hashing.native(100) is None
    assert hashing._pure_hashes == 100
    assert hashing.native(hashing.NATIVE_AFTER_HASHES) is not None


def test_env_pure_switches_it_off(monkeypatch) -> None:
    monkeypatch.setattr(hashing, "_native", None)
    monkeypatch.setenv("GHOSTPROOF_KECCAK", "pure")
    assert hashing.native() is None


def test_missing_numba_falls_back_to_pure(monkeypatch) -> None:
    monkeypatch.setattr(hashing, "_native", None)
    monkeypatch.delitem(sys.modules, "ghostproof.protocol.keccak_batch", raising=False)
    monkeypatch.delattr(ghostproof.protocol, "keccak_batch", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    assert hashing.native() is None
    leaves = [keccak256(bytes([i])) for i in range(5)]
    assert build_tree(leaves).root == node_hash(
        node_hash(node_hash(leaves[0], leaves[1]), node_hash(leaves[2], leaves[3])),
        node_hash(node_hash(leaves[4], bytes(32)), node_hash(bytes(32), bytes(32))),
    )


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_threaded_matrix_tree_equals_single_pure_build(kb, monkeypatch, workers: int) -> None:
    from ghostproof.prover import treebuild

    monkeypatch.setattr(treebuild, "NATIVE_PARALLEL_MIN_COLUMNS", 16)
    cols = np.random.default_rng(workers).integers(-128, 128, (3001, 40), dtype=np.int8)
    tree = treebuild.build_matrix_tree(2, 1, cols, workers=workers)
    hashing.use_native(False)
    want = build_tree(leaf_hashes(2, 1, cols))
    assert tree.n_leaves == want.n_leaves
    assert np.array_equal(tree.packed(), want.packed())
