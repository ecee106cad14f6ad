"""protocol/merkle.py: trees, padding, compact multiproofs (property tests) and packing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ghostproof.protocol.constants import ZERO_HASH
from ghostproof.protocol.errors import MultiproofError
from ghostproof.protocol.hashing import keccak256, node_hash
from ghostproof.protocol.merkle import (
    MerkleTree,
    build_tree,
    merkle_root,
    multiproof,
    multiproof_size,
    multiproofs,
    process_multiproof,
    tree_depth,
    verify_multiproof,
)

SETTINGS = settings(max_examples=100, deadline=None)


def leaves_for(n: int, salt: int = 0) -> list[bytes]:
    """``n`` distinct pseudo-random leaf hashes."""
    return [keccak256(salt.to_bytes(4, "big") + i.to_bytes(4, "big")) for i in range(n)]


@st.composite
def tree_and_positions(draw):
    """(leaves, tree, sorted distinct positions < N)."""
    n = draw(st.integers(1, 300))
    positions = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=min(n, 40))))
    leaves = leaves_for(n, draw(st.integers(0, 3)))
    return leaves, build_tree(leaves), positions


def reference_multiproof(tree: MerkleTree, positions: list[int]) -> list[bytes]:
    """Independent reading of DESIGN §3: per level, the siblings not derivable, left to right."""
    proof = []
    known = set(positions)
    for level in range(tree.depth):
        proof += [tree.node(level, p ^ 1) for p in sorted(known) if p ^ 1 not in known]
        known = {p >> 1 for p in known}
    return proof


def _root_or_error(depth, positions, leaves, proof):
    try:
        return process_multiproof(depth, positions, leaves, proof)
    except MultiproofError:
        return None


# ---------------------------------------------------------------- trees


def test_tree_depth():
    assert [tree_depth(n) for n in (1, 2, 3, 4, 5, 8, 9, 300)] == [0, 1, 2, 2, 3, 3, 4, 9]


def test_invalid_tree_without_leaves():
    with pytest.raises(ValueError):
        tree_depth(0)


def test_single_leaf_tree_root_is_the_leaf():
    leaf = leaves_for(1)[0]
    assert merkle_root([leaf]) == leaf


def test_three_leaf_tree_pads_with_zero_hash_by_hand():
    l0, l1, l2 = leaves_for(3)
    expected = node_hash(node_hash(l0, l1), node_hash(l2, bytes(32)))
    assert merkle_root([l0, l1, l2]) == expected


def test_padding_leaf_is_zero_hash_not_hashed():
    tree = build_tree(leaves_for(3))
    assert tree.leaf(3) == ZERO_HASH


def test_five_leaf_tree_pads_whole_subtree_with_zero_leaves():
    ls = leaves_for(5)
    z = ZERO_HASH
    left = node_hash(node_hash(ls[0], ls[1]), node_hash(ls[2], ls[3]))
    right = node_hash(node_hash(ls[4], z), node_hash(z, z))
    assert merkle_root(ls) == node_hash(left, right)


def test_invalid_leaf_of_wrong_size():
    with pytest.raises(ValueError):
        build_tree([bytes(31), bytes(32)])


@SETTINGS
@given(n=st.integers(1, 300))
def test_packed_round_trip(n):
    tree = build_tree(leaves_for(n))
    again = MerkleTree.from_packed(n, tree.packed())
    assert again.root == tree.root
    assert all(np.array_equal(a, b) for a, b in zip(again.levels, tree.levels, strict=True))


def test_packed_has_every_node():
    tree = build_tree(leaves_for(5))
    assert tree.packed().shape == (15, 32)


def test_invalid_from_packed_wrong_leaf_count():
    tree = build_tree(leaves_for(5))
    with pytest.raises(ValueError):
        MerkleTree.from_packed(9, tree.packed())


# ---------------------------------------------------------------- multiproofs: valid


@SETTINGS
@given(tree_and_positions())
def test_multiproof_reproduces_root(case):
    leaves, tree, positions = case
    proof = multiproof(tree, positions)
    assert process_multiproof(tree.depth, positions, [leaves[p] for p in positions], proof) == tree.root


@SETTINGS
@given(tree_and_positions())
def test_multiproof_matches_reference_order(case):
    _, tree, positions = case
    assert multiproof(tree, positions) == reference_multiproof(tree, positions)


@SETTINGS
@given(tree_and_positions())
def test_multiproof_from_packed_tree_matches_reference(case):
    """A tree over one packed array (as the prover loads it) is read with one fancy index; one
    of separate levels, one level at a time: the same proof."""
    _, tree, positions = case
    packed = MerkleTree.from_packed(tree.n_leaves, tree.packed())
    levels = MerkleTree(tree.n_leaves, tuple(np.array(level) for level in tree.levels))
    assert packed.flat is not None and levels.flat is None
    want = reference_multiproof(tree, positions)
    assert multiproof(packed, positions) == multiproof(levels, positions) == want


def test_multiproof_from_memory_mapped_tree(tmp_path):
    tree = build_tree(leaves_for(1000))
    np.save(tmp_path / "t.npy", tree.packed())
    mapped = MerkleTree.from_packed(1000, np.load(tmp_path / "t.npy", mmap_mode="r"))
    positions = [0, 1, 7, 500, 999]
    assert multiproof(mapped, positions) == reference_multiproof(tree, positions)


@SETTINGS
@given(tree_and_positions())
def test_multiproofs_of_two_trees_match_each_alone(case):
    leaves, tree, positions = case
    other = MerkleTree.from_packed(len(leaves), build_tree(leaves_for(len(leaves), 9)).packed())
    alone = [multiproof(tree, positions), multiproof(other, positions)]
    assert multiproofs([tree, other], positions) == alone


def test_invalid_multiproofs_trees_of_different_depths():
    with pytest.raises(ValueError, match="same depth"):
        multiproofs([build_tree(leaves_for(8)), build_tree(leaves_for(9))], [0])


@SETTINGS
@given(tree_and_positions())
def test_multiproof_length_equals_multiproof_size(case):
    _, tree, positions = case
    assert len(multiproof(tree, positions)) == multiproof_size(positions, tree.depth)


@SETTINGS
@given(tree_and_positions())
def test_multiproof_never_repeats_a_hash(case):
    _, tree, positions = case
    proof = multiproof(tree, positions)
    assert len(set(proof)) == len(proof)


@SETTINGS
@given(tree_and_positions())
def test_multiproof_is_at_most_k_times_depth(case):
    _, tree, positions = case
    assert len(multiproof(tree, positions)) <= len(positions) * tree.depth


def test_multiproof_of_single_position_is_one_hash_per_level():
    tree = build_tree(leaves_for(300))
    assert len(multiproof(tree, [123])) == tree.depth


def test_multiproof_of_aligned_block_is_one_hash_per_level_above_it():
    tree = build_tree(leaves_for(256))
    assert multiproof_size(list(range(32, 64)), tree.depth) == tree.depth - 5


def test_multiproof_of_every_leaf_is_empty():
    tree = build_tree(leaves_for(8))
    assert multiproof(tree, list(range(8))) == []


def test_verify_multiproof_true_for_valid():
    leaves = leaves_for(10)
    tree = build_tree(leaves)
    assert verify_multiproof(tree.root, tree.depth, [2, 7], [leaves[2], leaves[7]], multiproof(tree, [2, 7]))


def test_verify_multiproof_false_for_wrong_root():
    leaves = leaves_for(10)
    tree = build_tree(leaves)
    proof = multiproof(tree, [2, 7])
    assert not verify_multiproof(bytes(32), tree.depth, [2, 7], [leaves[2], leaves[7]], proof)


# ---------------------------------------------------------------- multiproofs: tampered


@SETTINGS
@given(tree_and_positions(), st.data())
def test_invalid_multiproof_flipped_hash(case, data):
    leaves, tree, positions = case
    proof = multiproof(tree, positions)
    assume(proof)
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    flipped = bytearray(proof[i])
    flipped[bit // 8] ^= 1 << (bit % 8)
    proof[i] = bytes(flipped)
    assert _root_or_error(tree.depth, positions, [leaves[p] for p in positions], proof) != tree.root


@SETTINGS
@given(tree_and_positions(), st.data())
def test_invalid_multiproof_truncated(case, data):
    leaves, tree, positions = case
    proof = multiproof(tree, positions)
    assume(proof)
    cut = data.draw(st.integers(0, len(proof) - 1))
    with pytest.raises(MultiproofError):
        process_multiproof(tree.depth, positions, [leaves[p] for p in positions], proof[:cut])


@SETTINGS
@given(tree_and_positions(), st.data())
def test_invalid_multiproof_extra_hash(case, data):
    leaves, tree, positions = case
    proof = multiproof(tree, positions)
    at = data.draw(st.integers(0, len(proof)))
    proof.insert(at, keccak256(b"extra"))
    assert _root_or_error(tree.depth, positions, [leaves[p] for p in positions], proof) != tree.root


@SETTINGS
@given(tree_and_positions(), st.data())
def test_invalid_multiproof_moved_position(case, data):
    leaves, tree, positions = case
    free = sorted(set(range(1 << tree.depth)) - set(positions))
    assume(free)
    i = data.draw(st.integers(0, len(positions) - 1))
    new = data.draw(st.sampled_from(free))
    kept = [(p, leaves[p]) for p in positions[:i] + positions[i + 1 :]]
    pairs = sorted([*kept, (new, leaves[positions[i]])])
    proof = multiproof(tree, positions)
    moved = [p for p, _ in pairs]
    assert _root_or_error(tree.depth, moved, [h for _, h in pairs], proof) != tree.root


@SETTINGS
@given(tree_and_positions(), st.data())
def test_invalid_multiproof_changed_leaf(case, data):
    leaves, tree, positions = case
    proven = [leaves[p] for p in positions]
    i = data.draw(st.integers(0, len(proven) - 1))
    proven[i] = keccak256(proven[i])
    proof = multiproof(tree, positions)
    assert _root_or_error(tree.depth, positions, proven, proof) != tree.root


def test_invalid_multiproof_unsorted_positions():
    leaves = leaves_for(8)
    with pytest.raises(MultiproofError):
        process_multiproof(3, [3, 1], [leaves[3], leaves[1]], [])


def test_invalid_multiproof_duplicate_positions():
    leaves = leaves_for(8)
    with pytest.raises(MultiproofError):
        process_multiproof(3, [1, 1], [leaves[1], leaves[1]], [])


def test_invalid_multiproof_position_outside_tree():
    leaves = leaves_for(8)
    with pytest.raises(MultiproofError):
        process_multiproof(3, [8], [leaves[0]], [])


def test_invalid_multiproof_negative_position():
    leaves = leaves_for(8)
    with pytest.raises(MultiproofError):
        process_multiproof(3, [-1], [leaves[0]], [])


def test_invalid_multiproof_no_positions():
    with pytest.raises(MultiproofError):
        process_multiproof(3, [], [], [])


def test_invalid_multiproof_leaf_count_differs():
    leaves = leaves_for(8)
    with pytest.raises(MultiproofError):
        process_multiproof(3, [0, 1], [leaves[0]], [])


def test_invalid_multiproof_short_proof_hash():
    tree = build_tree(leaves_for(8))
    proof = multiproof(tree, [0])
    proof[0] = proof[0][:31]
    with pytest.raises(MultiproofError):
        process_multiproof(3, [0], [tree.leaf(0)], proof)


def test_invalid_multiproof_request_unsorted():
    tree = build_tree(leaves_for(8))
    with pytest.raises(MultiproofError):
        multiproof(tree, [5, 2])


def test_invalid_multiproof_size_out_of_range():
    with pytest.raises(MultiproofError):
        multiproof_size([4], 2)
