"""Issue 14: the column order's multiproof ratio and chunks touched, on structured and clustered data.

    python scripts/bench_order.py [--sizes 100000,1000000] [--kinds structured,clustered]
                                  [--queries 200] [--out bench-out/bench_order.md]

One layer, d = 256, k = 32. For each N and kind (prover/synthetic.py: *structured*, i.i.d.
Gaussian on the sphere of a 32-D subspace; *clustered*, tight clusters of ~256 patterns in
such a subspace), the patterns are quantised as the prover commits them
(``quantise_keys``), ``--queries`` noisy copies of stored patterns (noise 0.3, as
scripts/bench.py) are quantised (``quantise_query``) and their exact integer top-32 is
computed by a blocked matmul over all N columns (ties → lower tree position, per order).

Each order puts pattern i at a tree position; per order the script reports the mean
compact-multiproof size of one matrix's 32 selected columns (``multiproof_size``) against
32 separate proofs (32 · depth), the ratio beside the issue-14 target (≤ 0.25×), the same
against the random order of the same process, and the IPFS chunks (``columns_per_chunk``
consecutive columns, 4096 at d = 256) the selection touches in one matrix (K and V have
the same chunking at d_in = d_out). Orders: *random* (a seeded permutation: what a builder
without an order gets), *locality* (prover/order.py ``locality_order``,
"pca-bisection-v1", the builder's default, timed), *cluster* (``cluster_order``,
"kmeans-bisection-v1": k-means groups laid out in bisection order, timed), and on the
clustered kind *by cluster* — patterns sorted by their true cluster label, a reference a
builder cannot have (it needs the generator's labels), not a candidate. Each order is
computed ``--repeat`` times (it must come out the same); the least wall-clock and CPU
seconds are reported, as the machine may be shared.

Progress goes to stderr; the markdown table to stdout and ``--out``. Memory: ~3 GB at
N = 10^6 (float32 patterns, int8 keys, the orders' 64-D projection and temporaries).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ghostproof.protocol.chunks import columns_per_chunk
from ghostproof.protocol.constants import INT8_MAX
from ghostproof.protocol.layer import quantise_query
from ghostproof.protocol.merkle import multiproof_size, tree_depth
from ghostproof.prover.order import (
    CLUSTER_ORDER_METHOD,
    LOCALITY_ORDER_METHOD,
    cluster_order,
    inverse_permutation,
    locality_order,
)
from ghostproof.prover.synthetic import clustered_patterns_labelled, noisy_queries, structured_patterns

D, K, NOISE, TARGET = 256, 32, 0.3, 0.25
PATTERN_SEED, QUERY_SEED, SHUFFLE_SEED = 1, 3, 4  # as scripts/bench.py
BLOCK = 1 << 16  # rows per block in quantisation and the exact top-k


@dataclass
class Candidates:
    """Per query: every pattern id whose score is ≥ the query's 32nd best score (ties
    included, so any tie-break order can pick its top 32), and those scores."""

    ids: list[np.ndarray]
    scores: list[np.ndarray]


@dataclass
class Result:
    """One (N, kind, order) line of the table."""

    n: int
    kind: str
    order: str
    depth: int
    multiproof: float  # mean hashes per matrix per query
    chunks: float  # mean chunks touched per matrix per query
    chunks_total: int
    ratio_random: float  # this order's multiproof over the random order's
    order_s: float | None  # the order's wall-clock seconds (None: not computed by a builder)
    order_cpu_s: float | None  # its process CPU seconds (all threads)

    @property
    def separate(self) -> int:
        """Hashes of k separate proofs."""
        return K * self.depth

    @property
    def ratio(self) -> float:
        """Multiproof over k separate proofs."""
        return self.multiproof / self.separate


def log(msg: str) -> None:
    """Print ``msg`` on stderr with the time of day, at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_patterns(n: int, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The float32 (n, D) patterns of ``kind`` and, for the clustered kind, their labels."""
    if kind == "structured":
        return structured_patterns(n, D, seed=PATTERN_SEED), None
    if kind == "clustered":
        return clustered_patterns_labelled(n, D, seed=PATTERN_SEED)
    raise SystemExit(f"unknown kind {kind!r} (structured, clustered)")


def quantise_keys_blocked(patterns: np.ndarray) -> np.ndarray:
    """``quantise_keys(patterns)[0]`` computed BLOCK rows at a time (the same row-wise float64
    arithmetic, so the same int8 columns) without its ~6 GB of float64 temporaries at 10^6."""
    n = patterns.shape[0]
    peak = 0.0
    for start in range(0, n, BLOCK):
        k = patterns[start : start + BLOCK].astype(np.float64)
        peak = max(peak, float(np.max(np.abs(k / np.linalg.norm(k, axis=1, keepdims=True)))))
    s_k = peak / INT8_MAX
    keys = np.empty(patterns.shape, dtype=np.int8)
    for start in range(0, n, BLOCK):
        k = patterns[start : start + BLOCK].astype(np.float64)
        unit = k / np.linalg.norm(k, axis=1, keepdims=True)
        keys[start : start + BLOCK] = np.clip(np.rint(unit / s_k), -INT8_MAX, INT8_MAX).astype(np.int8)
    return keys


def exact_candidates(keys: np.ndarray, qs: np.ndarray) -> Candidates:
    """The exact integer top-K candidates (ties at the K-th score kept) of every query in
    ``qs`` (int8 (m, D)) over all columns of ``keys``, by a blocked float32 matmul (exact:
    |score| ≤ 127² · 256 < 2^24)."""
    m = qs.shape[0]
    qt = qs.astype(np.float32).T
    ids: list[np.ndarray] = [np.empty(0, np.int64)] * m
    scores: list[np.ndarray] = [np.empty(0, np.int64)] * m
    for start in range(0, keys.shape[0], BLOCK):
        block = keys[start : start + BLOCK].astype(np.float32) @ qt  # (b, m)
        kth = min(K, block.shape[0])
        floor = np.partition(block, block.shape[0] - kth, axis=0)[block.shape[0] - kth]
        rows, cols = np.nonzero(block >= floor)
        for j in range(m):
            hit = rows[cols == j]
            ids[j], scores[j] = _keep_top(
                np.concatenate([ids[j], hit + start]),
                np.concatenate([scores[j], block[hit, j].astype(np.int64)]),
            )
    return Candidates(ids, scores)


def _keep_top(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries whose score is ≥ the K-th best (all of them if there are ≤ K)."""
    if ids.size <= K:
        return ids, scores
    floor = np.partition(scores, scores.size - K)[scores.size - K]
    keep = scores >= floor
    return ids[keep], scores[keep]


def selections(cands: Candidates, position: np.ndarray) -> list[np.ndarray]:
    """Each query's top K as sorted tree positions, when pattern i sits at ``position[i]``
    (score desc, ties → lower position, as ``top_k`` over the committed columns)."""
    out = []
    for ids, scores in zip(cands.ids, cands.scores, strict=True):
        pos = position[ids]
        out.append(np.sort(pos[np.lexsort((pos, -scores))[:K]]))
    return out


def measure(n: int, sels: list[np.ndarray]) -> tuple[float, float]:
    """Mean multiproof hashes and mean chunks touched per matrix, over the selections."""
    depth = tree_depth(n)
    per = columns_per_chunk(D)
    hashes = [multiproof_size(s.tolist(), depth) for s in sels]
    chunks = [np.unique(s // per).size for s in sels]
    return float(np.mean(hashes)), float(np.mean(chunks))


def timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[np.ndarray, float, float]:
    """``fn()``, and the least wall-clock and process-CPU seconds of ``repeat`` runs (the
    machine is shared: the minimum is the least disturbed run). Every run must agree."""
    out, wall, cpu = None, float("inf"), float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        got = fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
        if out is not None and not np.array_equal(out, got):
            raise SystemExit("the order is not deterministic across runs")
        out = got
    assert out is not None
    return out, wall, cpu


Timing = tuple[float, float] | None  # (wall s, CPU s) of an order's computation


def orders(
    patterns: np.ndarray, labels: np.ndarray | None, label: str, repeat: int
) -> list[tuple[str, np.ndarray, Timing]]:
    """(name, position of each pattern, timing) of every order measured: random first."""
    n = patterns.shape[0]
    out: list[tuple[str, np.ndarray, Timing]] = [
        ("random", np.random.default_rng(SHUFFLE_SEED).permutation(n), None)
    ]
    for name, method, fn in (
        (f"locality ({LOCALITY_ORDER_METHOD})", LOCALITY_ORDER_METHOD, locality_order),
        (f"cluster ({CLUSTER_ORDER_METHOD})", CLUSTER_ORDER_METHOD, cluster_order),
    ):
        log(f"{label}: {method} order (best of {repeat})")
        perm, wall, cpu = timed(lambda fn=fn: fn(patterns), repeat)
        out.append((name, inverse_permutation(perm), (wall, cpu)))
    if labels is not None:
        out.append(("by cluster (reference)", inverse_permutation(np.argsort(labels, kind="stable")), None))
    return out


def bench_case(n: int, kind: str, n_queries: int, repeat: int) -> list[Result]:
    """Every order's line for N = ``n`` patterns of ``kind``."""
    label = f"N={n:,} {kind}"
    log(f"{label}: generating patterns and {n_queries} queries")
    patterns, labels = make_patterns(n, kind)
    xs, _ = noisy_queries(patterns, n_queries, NOISE, seed=QUERY_SEED)
    qs = np.stack([quantise_query(x) for x in xs])
    measured = orders(patterns, labels, label, repeat)
    log(f"{label}: quantising keys")
    keys = quantise_keys_blocked(patterns)
    del patterns
    log(f"{label}: exact top-{K} of {n_queries} queries")
    cands = exact_candidates(keys, qs)
    del keys
    depth, total = tree_depth(n), -(-n // columns_per_chunk(D))
    results: list[Result] = []
    for name, position, timing in measured:
        log(f"{label}: multiproofs, {name} order")
        mp, chunks = measure(n, selections(cands, position))
        base = results[0].multiproof if results else mp
        wall, cpu = timing if timing else (None, None)
        results.append(Result(n, kind, name, depth, mp, chunks, total, mp / base, wall, cpu))
    return results


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("order", lambda r: r.order),
    ("multiproof hashes / matrix", lambda r: f"{r.multiproof:.1f}"),
    ("32 separate proofs", lambda r: f"{r.separate}"),
    ("ratio (target ≤ 0.25×)", lambda r: f"**{r.ratio:.3f}×** {'met' if r.ratio <= TARGET else 'missed'}"),
    ("vs random order", lambda r: f"{r.ratio_random:.3f}×"),
    ("chunks / query / matrix", lambda r: f"{r.chunks:.1f} of {r.chunks_total}"),
    ("order s (CPU s)", lambda r: "–" if r.order_s is None else f"{r.order_s:.2f} ({r.order_cpu_s:.2f})"),
]


def markdown(results: list[Result], args: argparse.Namespace) -> str:
    """The results as a markdown table, with how they were produced."""
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---:" if c == "N" or "hashes" in c or "proofs" in c else "---" for c, _ in COLUMNS)
    rule += "|"
    lines = [
        f"# Column order: multiproof vs {K} separate proofs (issue 14)",
        "",
        f"`scripts/bench_order.py --sizes {args.sizes} --kinds {args.kinds} --queries {args.queries} "
        f"--repeat {args.repeat}`, d = {D}, k = {K}, noise {NOISE}, exact top-{K}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average at the end "
        f"{os.getloadavg()[0]:.2f}. Order times: the least of {args.repeat} runs.",
        "",
        head,
        rule,
    ]
    lines += ["| " + " | ".join(fmt(r) for _, fmt in COLUMNS) + " |" for r in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments, run every (N, kind), print and write the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N values")
    parser.add_argument("--kinds", default="structured,clustered", help="structured, clustered")
    parser.add_argument("--queries", type=int, default=200, help="noisy queries per size and kind")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each order, the least time kept")
    parser.add_argument("--out", type=Path, default=Path("bench-out/bench_order.md"))
    args = parser.parse_args()
    results: list[Result] = []
    for n in (int(s) for s in args.sizes.split(",")):
        for kind in args.kinds.split(","):
            results += bench_case(n, kind.strip(), args.queries, args.repeat)
    text = markdown(results, args)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
