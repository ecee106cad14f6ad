"""Batch keccak256 in native code: numba JIT, eight messages per Keccak-f[1600] call (SIMD).

The permutation is written as LLVM IR over ``<8 x i64>`` vectors (one vector per lane of the
state, one element per message), so LLVM emits AVX-512 (or two AVX2 halves, or SSE2) code
for whatever CPU runs it; the kernels around it hash leaves (laying out their preimages
themselves), Merkle levels and a whole compact multiproof without returning to Python. Every
kernel is compiled on first use and cached on disk (numba ``cache=True``); all of them
release the GIL.

Import this module only through ``protocol.hashing`` (``native()``): numba is optional and
the pure-Python keccak (pysha3 through eth-hash) is the reference and the fallback. Words
are little-endian uint64 (Keccak's lane order), so this module refuses big-endian hosts.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

if sys.byteorder != "little":  # pragma: no cover - no such host here
    raise ImportError("the batch keccak needs a little-endian host")

RATE_WORDS = 17  # keccak256: rate 136 bytes = 17 lanes
WIDTH = 8  # messages per permutation (one <8 x i64> vector per lane)

_RC = np.array(
    [
        0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
        0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
        0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
        0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
        0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
        0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
    ],
    dtype=np.uint64,
)  # fmt: skip
# Rotation offsets r[x][y] of lane x + 5y.
_ROT = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)

_I64 = ir.IntType(64)
_VEC = ir.VectorType(_I64, WIDTH)
_PAD_LAST = np.uint64(0x80 << 56)  # the final padding bit, top byte of lane 16


def _splat(value: int) -> ir.Constant:
    return ir.Constant(_VEC, [ir.Constant(_I64, value)] * WIDTH)


def _rotl(builder: ir.IRBuilder, x: ir.Value, n: int) -> ir.Value:
    if n == 0:
        return x
    return builder.or_(builder.shl(x, _splat(n)), builder.lshr(x, _splat(64 - n)))


def _emit_round(builder: ir.IRBuilder, a: list[ir.Value], rc_vec: ir.Value) -> list[ir.Value]:
    """One round (θ, ρ, π, χ, ι) on the 25 lane vectors ``a`` (ι: the splat ``rc_vec``)."""
    c = []
    for x in range(5):
        v = a[x]
        for y in range(1, 5):
            v = builder.xor(v, a[x + 5 * y])
        c.append(v)
    d = [builder.xor(c[(x - 1) % 5], _rotl(builder, c[(x + 1) % 5], 1)) for x in range(5)]
    b: list[ir.Value] = [a[0]] * 25
    for x in range(5):
        for y in range(5):
            b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(builder, builder.xor(a[x + 5 * y], d[x]), _ROT[x][y])
    ones = _splat(-1)
    out = []
    for y in range(5):
        for x in range(5):
            not_next = builder.xor(b[(x + 1) % 5 + 5 * y], ones)
            out.append(builder.xor(b[x + 5 * y], builder.and_(not_next, b[(x + 2) % 5 + 5 * y])))
    out[0] = builder.xor(out[0], rc_vec)
    return out


def _codegen_permute(context, builder, signature, args):  # type: ignore[no-untyped-def]
    state = context.make_array(signature.args[0])(context, builder, args[0])
    rcs = context.make_array(signature.args[1])(context, builder, args[1])
    base = builder.bitcast(state.data, _VEC.as_pointer())
    ptrs = [builder.gep(base, [ir.Constant(_I64, lane)]) for lane in range(25)]
    start = [builder.load(p, align=8) for p in ptrs]
    entry = builder.block
    loop = builder.append_basic_block("keccak_round")
    done = builder.append_basic_block("keccak_done")
    builder.branch(loop)
    builder.position_at_end(loop)
    rnd = builder.phi(_I64)
    rnd.add_incoming(ir.Constant(_I64, 0), entry)
    lanes = []
    for v in start:
        phi = builder.phi(_VEC)
        phi.add_incoming(v, entry)
        lanes.append(phi)
    rc = builder.load(builder.gep(rcs.data, [rnd]))
    rc_vec = builder.shuffle_vector(
        builder.insert_element(ir.Constant(_VEC, ir.Undefined), rc, ir.Constant(_I64, 0)),
        ir.Constant(_VEC, ir.Undefined),
        ir.Constant(ir.VectorType(ir.IntType(32), WIDTH), [0] * WIDTH),
    )
    new = _emit_round(builder, lanes, rc_vec)
    nxt = builder.add(rnd, ir.Constant(_I64, 1))
    rnd.add_incoming(nxt, builder.block)
    for phi, v in zip(lanes, new, strict=True):
        phi.add_incoming(v, builder.block)
    builder.cbranch(builder.icmp_unsigned("<", nxt, ir.Constant(_I64, 24)), loop, done)
    builder.position_at_end(done)
    for p, v in zip(ptrs, new, strict=True):
        builder.store(v, p, align=8)
    return context.get_dummy_value()


@intrinsic
def _keccak_f1600_x8(typingctx, state, rcs):  # type: ignore[no-untyped-def]
    """Keccak-f[1600] in place on the 8 states stored lane-major in ``state`` ((25, 8) uint64)."""
    return types.void(state, rcs), _codegen_permute


@njit(cache=True, nogil=True)
def sponge_rows(msgs: np.ndarray, out: np.ndarray) -> None:
    """keccak256 of every row of ``msgs`` ((n, 17·b) uint64, each row a message already
    padded to b blocks, little-endian words); digests into ``out`` ((n, 4) uint64)."""
    n, nw = msgs.shape
    a = np.empty((25, WIDTH), np.uint64)
    for g in range(0, n, WIDTH):
        m = min(WIDTH, n - g)
        a[:, :] = 0
        for blk in range(0, nw, RATE_WORDS):
            for lane in range(RATE_WORDS):
                for j in range(m):
                    a[lane, j] ^= msgs[g + j, blk + lane]
            _keccak_f1600_x8(a, _RC)
        for j in range(m):
            for lane in range(4):
                out[g + j, lane] = a[lane, j]


@njit(cache=True, nogil=True, inline="always")
def _node_lanes(a: np.ndarray, j: int, src: np.ndarray, r: int) -> None:
    """Column ``j`` of ``a`` := the padded block 0x01 ‖ src[r] ‖ src[r + 1] (lanes 0–8; 16 is set apart)."""
    s8 = np.uint64(8)
    s56 = np.uint64(56)
    w0, w1, w2, w3 = src[r, 0], src[r, 1], src[r, 2], src[r, 3]
    w4, w5, w6, w7 = src[r + 1, 0], src[r + 1, 1], src[r + 1, 2], src[r + 1, 3]
    a[0, j] = np.uint64(1) | (w0 << s8)
    a[1, j] = (w0 >> s56) | (w1 << s8)
    a[2, j] = (w1 >> s56) | (w2 << s8)
    a[3, j] = (w2 >> s56) | (w3 << s8)
    a[4, j] = (w3 >> s56) | (w4 << s8)
    a[5, j] = (w4 >> s56) | (w5 << s8)
    a[6, j] = (w5 >> s56) | (w6 << s8)
    a[7, j] = (w6 >> s56) | (w7 << s8)
    a[8, j] = (w7 >> s56) | np.uint64(0x0100)  # byte 65: the padding byte 0x01


@njit(cache=True, nogil=True)
def hash_pairs(src: np.ndarray, src_row: int, m: int, dst: np.ndarray, dst_row: int) -> None:
    """Merkle nodes: ``dst[dst_row + i] = keccak256(0x01 ‖ src[src_row + 2i] ‖ src[src_row + 2i + 1])``
    for i < m, over (rows, 4) uint64 arrays of 32-byte hashes (``src`` may be ``dst``)."""
    a = np.empty((25, WIDTH), np.uint64)
    for g in range(0, m, WIDTH):
        k = min(WIDTH, m - g)
        a[:, :] = 0
        for j in range(k):
            _node_lanes(a, j, src, src_row + 2 * (g + j))
        for j in range(WIDTH):
            a[16, j] = _PAD_LAST
        _keccak_f1600_x8(a, _RC)
        for j in range(k):
            for lane in range(4):
                dst[dst_row + g + j, lane] = a[lane, j]


@njit(cache=True, nogil=True)
def hash_levels(packed: np.ndarray, depth: int, lo: int, hi: int, part: int, parts: int) -> None:
    """Hash levels lo+1 … hi of a packed tree ((2^(depth+1) − 1, 4) uint64, leaves first) in place
    from level lo, for the ``part``-th of ``parts`` aligned subtrees only (``parts`` a power of
    two; every level up to hi must have at least 2·parts nodes). Threads may run disjoint parts."""
    start = 0
    for lvl in range(lo):
        start += 1 << (depth - lvl)
    for lvl in range(lo, hi):
        size = 1 << (depth - lvl)
        share = size // parts
        hash_pairs(packed, start + part * share, share // 2, packed, start + size + part * (share // 2))
        start += size


@njit(cache=True, nogil=True)
def multiproof_root(
    depth: int, positions: np.ndarray, leaves: np.ndarray, proof: np.ndarray, root: np.ndarray
) -> int:
    """Process a compact multiproof (protocol.merkle's order): ``positions`` (k,) int64 strictly
    increasing, ``leaves`` (k, 4) and ``proof`` (p, 4) uint64. Writes the root into ``root``
    ((1, 4) uint64) and returns how many proof hashes were used, or −1 if the proof is too short."""
    n = positions.shape[0]
    pos = positions.copy()
    cur = leaves.copy()
    pairs = np.empty((2 * n, 4), np.uint64)
    used = 0
    for _ in range(depth):
        m = 0
        i = 0
        while i < n:
            p = pos[i]
            if p % 2 == 0 and i + 1 < n and pos[i + 1] == p + 1:
                pairs[2 * m] = cur[i]
                pairs[2 * m + 1] = cur[i + 1]
                i += 2
            else:
                if used >= proof.shape[0]:
                    return -1
                pairs[2 * m + (p % 2)] = cur[i]
                pairs[2 * m + 1 - (p % 2)] = proof[used]
                used += 1
                i += 1
            pos[m] = p >> 1
            m += 1
        hash_pairs(pairs, 0, m, cur, 0)
        n = m
    root[0] = cur[0]
    return used


@njit(cache=True, nogil=True)
def sibling_rows(depth: int, positions: np.ndarray, rows: np.ndarray) -> int:
    """The rows, in a packed tree (``MerkleTree.flat``: leaves first, then each level), of the
    hashes a compact multiproof for ``positions`` ((k,) int64, strictly increasing, < 2^depth)
    lists, in proof order (protocol.merkle's :func:`sibling_schedule`); written to ``rows``
    ((≥ k·depth,) int64). Returns how many. No hashing: the prover's half of a multiproof."""
    n = positions.shape[0]
    pos = positions.copy()
    used = 0
    offset = 0
    width = 1 << depth
    for _ in range(depth):
        m = 0
        i = 0
        while i < n:
            p = pos[i]
            if p % 2 == 0 and i + 1 < n and pos[i + 1] == p + 1:
                i += 2
            else:
                rows[used] = offset + (p ^ 1)
                used += 1
                i += 1
            pos[m] = p >> 1
            m += 1
        n = m
        offset += width
        width >>= 1
    return used


@njit(cache=True, nogil=True, inline="always")
def _index_word(head: int, column: int) -> np.uint64:
    """The first 8 bytes of a leaf preimage as a word: ``head`` ‖ uint32 BE ``column``."""
    col = np.uint64(column)
    swapped = (
        ((col & np.uint64(0xFF)) << np.uint64(24))
        | ((col & np.uint64(0xFF00)) << np.uint64(8))
        | ((col >> np.uint64(8)) & np.uint64(0xFF00))
        | ((col >> np.uint64(24)) & np.uint64(0xFF))
    )
    return np.uint64(head) | (swapped << np.uint64(32))


@njit(cache=True, nogil=True)
def sponge_leaves(head: int, columns: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    """Leaf hashes (DESIGN §2): ``out[i] = keccak256(head ‖ uint32 BE indices[i] ‖ columns[i])``,
    ``head`` the leaf preimage's first 4 bytes as a little-endian integer, ``columns`` (n, d)
    uint8, ``indices`` (n,) int64 < 2^32, ``out`` (n, 4) uint64."""
    n, d = columns.shape
    length = 8 + d
    nwords = (length // (8 * RATE_WORDS) + 1) * RATE_WORDS
    a = np.empty((25, WIDTH), np.uint64)
    buf = np.zeros((WIDTH, nwords), np.uint64)
    buf8 = buf.view(np.uint8)
    for j in range(WIDTH):
        buf8[j, length] = 0x01
        buf8[j, 8 * nwords - 1] |= 0x80
    for g in range(0, n, WIDTH):
        m = min(WIDTH, n - g)
        for j in range(m):
            buf[j, 0] = _index_word(head, indices[g + j])
            buf8[j, 8:length] = columns[g + j]
        a[:, :] = 0
        for blk in range(0, nwords, RATE_WORDS):
            for lane in range(RATE_WORDS):
                for j in range(WIDTH):
                    a[lane, j] ^= buf[j, blk + lane]
            _keccak_f1600_x8(a, _RC)
        for j in range(m):
            for lane in range(4):
                out[g + j, lane] = a[lane, j]


@njit(cache=True, nogil=True, inline="always")
def _absorb_leaf_block(
    a: np.ndarray, head: int, columns: np.ndarray, indices: np.ndarray, g: int, m: int, blk: int, nwords: int
) -> None:
    """XOR block ``blk`` (its first word index) of the padded leaf preimages of rows g … g+m−1 into ``a``."""
    dw = columns.shape[1]
    for lane in range(RATE_WORDS):
        w = blk + lane
        if w == 0:
            for j in range(m):
                a[0, j] = _index_word(head, indices[g + j])
        elif w <= dw:
            for j in range(m):
                a[lane, j] ^= columns[g + j, w - 1]
        else:
            pad = np.uint64(1) if w == dw + 1 else np.uint64(0)
            if w == nwords - 1:
                pad |= _PAD_LAST
            for j in range(WIDTH):
                a[lane, j] ^= pad


@njit(cache=True, nogil=True)
def sponge_leaves_aligned(head: int, columns: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    """:func:`sponge_leaves` for d a multiple of 8, reading the columns as words ((n, d/8) uint64)
    straight into the state: no copy of the preimages."""
    n, dw = columns.shape
    nwords = ((8 + 8 * dw) // (8 * RATE_WORDS) + 1) * RATE_WORDS
    a = np.empty((25, WIDTH), np.uint64)
    for g in range(0, n, WIDTH):
        m = min(WIDTH, n - g)
        a[:, :] = 0
        for blk in range(0, nwords, RATE_WORDS):
            _absorb_leaf_block(a, head, columns, indices, g, m, blk, nwords)
            _keccak_f1600_x8(a, _RC)
        for j in range(m):
            for lane in range(4):
                out[g + j, lane] = a[lane, j]
