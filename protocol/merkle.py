"""Binary keccak Merkle trees over columns, and compact multiproofs (DESIGN §2, §3).

A tree over N leaves has depth h = ceil(log2 N) and 2^h leaf slots; empty slots hold
bytes32(0) itself. Internal nodes are ``node_hash(left, right)``. A compact multiproof
for sorted positions P lists the sibling hashes that P's own leaves cannot produce,
level by level from the leaves up, left to right — never repeating a hash.

Used by the prover (build, prove), the verifier and the layers tree of the ghost file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .constants import HASH_BYTES, TAG_NODE, ZERO_HASH
from .errors import MultiproofError
from .hashing import _keccak_raw, native, node_hash


def tree_depth(n_leaves: int) -> int:
    """Depth h of a tree over ``n_leaves`` leaves: ceil(log2 n), and 0 for a single leaf."""
    if n_leaves < 1:
        raise ValueError("a tree needs at least one leaf")
    return (n_leaves - 1).bit_length()


def _hash_level(level: bytes) -> bytes:
    """Hash a packed level (concatenated 32-byte nodes, even count) into the packed level above."""
    h = _keccak_raw
    tag = bytes([TAG_NODE])
    step = 2 * HASH_BYTES
    return b"".join(
        h(tag + level[i : i + step]).digest()  # type: ignore[attr-defined]
        for i in range(0, len(level), step)
    )


@dataclass(frozen=True)
class MerkleTree:
    """Every level of a tree, leaves first, each packed as an (n, 32) uint8 array.

    ``n_leaves`` is the number of real leaves; level 0 is padded with zero hashes to 2^depth.
    ``flat``: the packed array the levels are views of (:meth:`from_packed`), or None; a
    multiproof then reads all its siblings with one fancy index.
    """

    n_leaves: int
    levels: tuple[np.ndarray, ...]
    flat: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def depth(self) -> int:
        """Number of levels above the leaves."""
        return len(self.levels) - 1

    @property
    def root(self) -> bytes:
        """The 32-byte root."""
        return self.levels[-1][0].tobytes()

    def node(self, level: int, index: int) -> bytes:
        """The hash at ``index`` within ``level`` (0 = leaves)."""
        return self.levels[level][index].tobytes()

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self.node(0, index)

    def packed(self) -> np.ndarray:
        """All levels concatenated into one (2^(h+1) - 1, 32) uint8 array, for saving."""
        return np.concatenate(self.levels, axis=0)

    @classmethod
    def from_packed(cls, n_leaves: int, packed: np.ndarray) -> MerkleTree:
        """Inverse of :meth:`packed`; checks only the shape, not the hashes."""
        depth = tree_depth(n_leaves)
        if packed.shape != ((1 << (depth + 1)) - 1, HASH_BYTES) or packed.dtype != np.uint8:
            raise ValueError("packed tree has the wrong shape for its leaf count")
        levels = []
        start = 0
        for lvl in range(depth + 1):
            size = 1 << (depth - lvl)
            levels.append(packed[start : start + size])
            start += size
        return cls(n_leaves, tuple(levels), packed)


def build_tree(leaves: Sequence[bytes]) -> MerkleTree:
    """Build the whole tree over ``leaves`` (32-byte hashes), padding with zero hashes.

    Raises ValueError for no leaves or a leaf that is not 32 bytes.
    """
    n = len(leaves)
    depth = tree_depth(n)
    level = b"".join(leaves) + ZERO_HASH * ((1 << depth) - n)
    if len(level) != (1 << depth) * HASH_BYTES:
        raise ValueError("every leaf must be 32 bytes")
    if native(1 << depth) is not None:
        return tree_from_leaf_array(n, np.frombuffer(level, dtype=np.uint8).reshape(-1, HASH_BYTES))
    levels = [np.frombuffer(level, dtype=np.uint8).reshape(-1, HASH_BYTES)]
    for _ in range(depth):
        level = _hash_level(level)
        levels.append(np.frombuffer(level, dtype=np.uint8).reshape(-1, HASH_BYTES))
    return MerkleTree(n, tuple(levels))


def packed_tree_buffer(depth: int) -> np.ndarray:
    """A zeroed ((2^(depth+1) − 1), 32) uint8 array: a packed tree's storage, leaves first."""
    return np.zeros(((1 << (depth + 1)) - 1, HASH_BYTES), dtype=np.uint8)


def tree_from_packed_leaves(n_leaves: int, packed: np.ndarray, parts: int = 1) -> MerkleTree:
    """Hash the levels above the leaves already in ``packed`` (a :func:`packed_tree_buffer` whose
    first 2^depth rows are the padded leaf level) in place; returns the tree over its views.

    With the batch keccak, ``parts`` (a power of two) aligned subtrees are hashed in that
    many threads (the kernels release the GIL); without it, one thread in pure Python.
    """
    depth = tree_depth(n_leaves)
    kb = native(1 << depth)
    if kb is None:
        return build_tree([row.tobytes() for row in packed[: 1 << depth]][:n_leaves])
    words = packed.view(np.uint64)
    split = min(max(parts, 1).bit_length() - 1, depth)
    if split:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1 << split) as pool:
            jobs = [
                pool.submit(kb.hash_levels, words, depth, 0, depth - split, p, 1 << split)
                for p in range(1 << split)
            ]
            for job in jobs:
                job.result()
    kb.hash_levels(words, depth, depth - split if split else 0, depth, 0, 1)
    return MerkleTree.from_packed(n_leaves, packed)


def tree_from_leaf_array(n_leaves: int, leaves: np.ndarray, parts: int = 1) -> MerkleTree:
    """The tree over the first ``n_leaves`` rows of ``leaves`` ((≥ n, 32) uint8 leaf hashes),
    padded with zero hashes; identical to ``build_tree`` of the same leaves."""
    depth = tree_depth(n_leaves)
    packed = packed_tree_buffer(depth)
    packed[:n_leaves] = leaves[:n_leaves]
    return tree_from_packed_leaves(n_leaves, packed, parts)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over ``leaves``."""
    return build_tree(leaves).root


def _check_positions(positions: Sequence[int], depth: int) -> None:
    if len(positions) == 0:
        raise MultiproofError("a multiproof needs at least one position")
    prev = -1
    for p in positions:
        if not isinstance(p, int | np.integer) or p <= prev:
            raise MultiproofError("positions must be strictly increasing integers")
        prev = int(p)
    if prev >= 1 << depth:
        raise MultiproofError(f"position {prev} is outside a tree of depth {depth}")


def sibling_schedule(positions: Sequence[int], depth: int) -> list[list[int]]:
    """Per level (leaves first), the indices of the nodes a compact multiproof for the sorted,
    distinct ``positions`` lists, in proof order: the same for every tree of that depth.

    Raises MultiproofError for positions that are not strictly increasing inside the tree."""
    _check_positions(positions, depth)
    known = [int(p) for p in positions]
    schedule: list[list[int]] = []
    for _ in range(depth):
        needed: list[int] = []
        parents: list[int] = []
        i, n = 0, len(known)
        while i < n:
            p = known[i]
            if not p & 1 and i + 1 < n and known[i + 1] == p + 1:
                i += 2  # both children known: their parent is derived, no sibling needed
            else:
                needed.append(p ^ 1)
                i += 1
            parents.append(p >> 1)
        schedule.append(needed)
        known = parents
    return schedule


def _gather(tree: MerkleTree, schedule: Sequence[Sequence[int]]) -> list[bytes]:
    """The hashes ``schedule`` names in ``tree``, in proof order: one fancy index into the
    packed tree when there is one (a memory-mapped tree is read once), else one per level."""
    if tree.flat is not None:
        top = 1 << (tree.depth + 1)
        rows = [top - (top >> level) + j for level, needed in enumerate(schedule) for j in needed]
        blob = np.asarray(tree.flat[rows]).tobytes()
    else:
        blob = b"".join(
            np.asarray(tree.levels[level][needed]).tobytes()
            for level, needed in enumerate(schedule) if needed
        )
    return _unpack(blob)


def multiproofs(trees: Sequence[MerkleTree], positions: Sequence[int]) -> list[list[bytes]]:
    """The compact multiproof for the same sorted, distinct leaf ``positions`` in each of
    ``trees`` (all of one depth, e.g. a layer's K and V): the positions are walked once
    (natively when the batch kernels are loaded and every tree is packed).

    Raises MultiproofError for bad positions, ValueError for trees of different depths."""
    if len({tree.depth for tree in trees}) > 1:
        raise ValueError("the trees of one multiproof schedule must have the same depth")
    if not trees:
        return []
    depth = trees[0].depth
    kb = native(len(positions) * depth)
    if kb is None or any(tree.flat is None for tree in trees):
        schedule = sibling_schedule(positions, depth)
        return [_gather(tree, schedule) for tree in trees]
    _check_positions(positions, depth)
    rows = np.empty(max(len(positions) * depth, 1), dtype=np.int64)
    used = kb.sibling_rows(depth, np.asarray(positions, dtype=np.int64), rows)
    return [_unpack(np.asarray(tree.flat[rows[:used]]).tobytes()) for tree in trees]


def _unpack(blob: bytes) -> list[bytes]:
    """Packed 32-byte hashes as a list of bytes."""
    return list(struct.unpack("32s" * (len(blob) // HASH_BYTES), blob))


def multiproof(tree: MerkleTree, positions: Sequence[int]) -> list[bytes]:
    """The compact multiproof for the sorted, distinct leaf ``positions`` of ``tree``."""
    return multiproofs([tree], positions)[0]


def multiproof_size(positions: Sequence[int], depth: int) -> int:
    """How many hashes the compact multiproof for ``positions`` holds (no tree needed)."""
    return sum(len(needed) for needed in sibling_schedule(positions, depth))


def process_multiproof(
    depth: int, positions: Sequence[int], leaves: Sequence[bytes], proof: Sequence[bytes]
) -> bytes:
    """The root that ``leaves`` at ``positions`` and ``proof`` produce.

    Raises MultiproofError if the positions are not strictly increasing and inside the tree,
    if the counts differ, or if the proof is too short or too long (every hash must be used).
    """
    _check_positions(positions, depth)
    if len(leaves) != len(positions):
        raise MultiproofError(f"{len(leaves)} leaves for {len(positions)} positions")
    if (set(map(len, leaves)) | set(map(len, proof))) - {HASH_BYTES}:
        raise MultiproofError("every leaf and proof hash must be 32 bytes")
    kb = native(len(leaves) + len(proof))
    if kb is None:
        return _process_pure(depth, positions, leaves, proof)
    pos = np.fromiter(positions, dtype=np.int64, count=len(positions))
    leaf_words = np.frombuffer(b"".join(leaves), dtype=np.uint64).reshape(-1, 4)
    proof_words = np.frombuffer(b"".join(proof), dtype=np.uint64).reshape(-1, 4)
    root = np.empty((1, 4), dtype=np.uint64)
    used = kb.multiproof_root(depth, pos, leaf_words, proof_words, root)
    if used < 0:
        raise MultiproofError("multiproof is truncated")
    if used != len(proof):
        raise MultiproofError(f"multiproof has {len(proof) - used} unused hashes")
    return root.tobytes()


def _process_pure(
    depth: int, positions: Sequence[int], leaves: Sequence[bytes], proof: Sequence[bytes]
) -> bytes:
    """The reference of :func:`process_multiproof` (inputs already checked), in Python."""
    nodes = [(int(p), bytes(h)) for p, h in zip(positions, leaves, strict=True)]
    used = 0
    for _ in range(depth):
        parents: list[tuple[int, bytes]] = []
        i = 0
        while i < len(nodes):
            p, h = nodes[i]
            if p % 2 == 0 and i + 1 < len(nodes) and nodes[i + 1][0] == p + 1:
                parent = node_hash(h, nodes[i + 1][1])
                i += 2
            else:
                if used >= len(proof):
                    raise MultiproofError("multiproof is truncated")
                sibling = proof[used]
                used += 1
                parent = node_hash(h, sibling) if p % 2 == 0 else node_hash(sibling, h)
                i += 1
            parents.append((p >> 1, parent))
        nodes = parents
    if used != len(proof):
        raise MultiproofError(f"multiproof has {len(proof) - used} unused hashes")
    return nodes[0][1]


def verify_multiproof(
    root: bytes,
    depth: int,
    positions: Sequence[int],
    leaves: Sequence[bytes],
    proof: Sequence[bytes],
) -> bool:
    """True iff ``proof`` shows ``leaves`` at ``positions`` under ``root``; False on any failure."""
    try:
        return process_multiproof(depth, positions, leaves, proof) == root
    except MultiproofError:
        return False
