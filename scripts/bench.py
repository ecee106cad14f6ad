"""Benchmarks of issue 3: sparse vs dense forward, multiproof size, commit and verify time.

    python scripts/bench.py --sizes 10000,100000[,1000000] [--out docs/BENCH.md]

One layer, d = 256, k = 32, N in ``--sizes``, two kinds of data (DESIGN §8): structured
(intrinsic dimension 32, the target) and uniform (the worst case), queried with noisy
copies of stored patterns. Everything is timed with plain timers in one process, and
every figure is reported as a ratio against its baseline measured in the same process:

(a) sparse forward (quantise + HNSW candidates + exact integer re-rank + softmax over k,
    what prove() computes) vs dense forward (torch float32 matmul + softmax over all N);
    recall@k against the exact top-k, top-1 agreement with the dense path;
(b) proof size: compact multiproof vs k separate proofs, locality order vs random order;
(c) commit: leaf hashes + Merkle tree of K and V, single process and both cores;
(d) verification of a proven one-layer response with verifier.verify();
issue 14: the multiproof ratio and the IPFS chunks a query touches (locality order vs
random order), the HNSW build time, sparse vs dense batched and at the node's safety
breadth (n = ef = 2048), and the dense path on CUDA when torch sees a GPU; each printed
beside its target (:func:`issue14_targets`). The sparse figures are measured twice, with the
plain index and with the projected one (prover/projection.py: HNSW over an uncentered PCA
of the key columns keeping ≥ 99.5 % of their energy), both against the same dense baseline.

Prints rich tables and writes markdown to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ghostproof.protocol.chunks import columns_per_chunk
from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.hashing import leaf_hashes
from ghostproof.protocol.layer import (
    int_scores,
    layer_forward,
    logit_scale,
    output_values,
    quantise_keys,
    quantise_query,
    quantise_values,
    top_k,
)
from ghostproof.protocol.merkle import MerkleTree, build_tree, multiproof_size, tree_depth
from ghostproof.prover.index import ExactRetriever, HnswRetriever, select_top_k
from ghostproof.prover.order import locality_order
from ghostproof.prover.projection import ProjectedHnswRetriever
from ghostproof.prover.synthetic import noisy_queries, random_values, structured_patterns, uniform_patterns
from ghostproof.prover.treebuild import build_matrix_tree

if TYPE_CHECKING:
    import torch

    from ghostproof.prover.commit import CommittedModel

D, K, BETA, NOISE = 256, 32, 30.0, 0.3
# hnswlib searches with max(ef, n) and prove() asks for 4k candidates: the grid starts there.
EF_GRID = (128, 160, 192, 224, 256, 320, 384, 448, 512, 768, 1024)
RECALL_TARGET = 0.95
N_CANDIDATES = 4 * K  # the HNSW candidates prove() re-ranks exactly
# HNSW build (issue 14): M = 20 links and ef_construction = 48 on every core; measured at
# N = 10^5 to build ~3x faster than (16, 200) at about the same recall for a given ef.
HNSW_M, HNSW_EF_CONSTRUCTION = 20, 48
# The projected index (prover/projection.py, dims "auto": r = 32 on the structured kind): each
# distance costs r/d of the full one, so a denser graph fits in the build budget. Measured at
# N = 10^6 (r = 32, 200 queries): M 24 / ef_construction 100 reached recall 0.957 at ef 192
# (0.930 at 128), 24 / 200 0.969 at ef 128 but built in 433 s on a loaded machine; 20 / 48
# needed ef 384, 16 / 100 and 24 / 64 ef > 256, 32 / 64 matched (24, 100) but was slower per
# query (docs/BENCH.md issue 14).
PROJ_M, PROJ_EF_CONSTRUCTION = 24, 160
SAFETY_BREADTH = 2048  # docs/SAFETY.md: the node re-ranks n = ef = 2048 candidates at k = 32

Figures = dict[str, float | int | str]


@dataclass
class Row:
    """Every figure measured for one (N, kind)."""

    n: int
    kind: str
    figures: Figures = field(default_factory=dict)


def log(msg: str) -> None:
    """Print ``msg`` with the time of day, at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def progress(label: str) -> Callable[[int, int], None]:
    """An ``on_progress(done, total)`` that logs ``label``'s progress at most every 10 s, and
    when done."""
    state = {"last": 0.0}

    def cb(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - state["last"] > 10:
            state["last"] = now
            log(f"  {label}: {done:,}/{total:,}")

    return cb


def median_ms(samples: list[float]) -> float:
    """The median of ``samples`` (seconds), in milliseconds."""
    return float(np.median(samples) * 1e3)


Index = HnswRetriever | ProjectedHnswRetriever


def sparse_forward(
    x: np.ndarray,
    hnsw: Index,
    keys: np.ndarray,
    values: np.ndarray,
    s_k: float,
    s_v: float,
    n_candidates: int,
) -> tuple[np.ndarray, np.ndarray]:
    """What prove() computes before hashing: quantise, HNSW + exact re-rank, the exact
    integer softmax over k (format 2); returns the selection and the float reading of y."""
    q = quantise_query(x)
    sel = select_top_k(hnsw, q, keys, K, n_candidates)
    y = layer_forward(q, keys[sel], values[sel], logit_scale(BETA, s_k)).output
    return sel, output_values(y, s_v)


@dataclass
class Data:
    """One (N, kind) case: the committed (ordered, quantised) K and V and the noisy queries."""

    keys: np.ndarray
    values: np.ndarray
    s_k: float
    s_v: float
    xs: np.ndarray


def bench_one(n: int, kind: str, n_queries: int, dense_queries: int, do_verify: bool) -> Row:
    """Every figure of tables (a) to (d) for N = ``n`` patterns of ``kind`` data."""
    from ghostproof.prover.hopfield import pick_device

    row = Row(n, kind)
    f = row.figures
    data = make_data(n, kind, n_queries, f)
    tree_k, tree_v = bench_commit(n, kind, data, f)
    hnsw = bench_hnsw(n, kind, data.keys, f)
    proj = bench_projected(n, kind, data.keys, f)
    device = pick_device()
    f["device"] = str(device)
    qs = [quantise_query(x) for x in data.xs]
    truth = exact_top_k(data.keys, qs, device)
    sels = tune_ef(n, hnsw, data.keys, qs, truth, f)
    sparse_y = time_sparse(hnsw, data, f)
    proj_sels = tune_ef(n, proj, data.keys, qs, truth, f, prefix="proj_")
    proj_y = time_sparse(proj, data, f, prefix="proj_")
    time_dense(data, qs, {"": (sels, sparse_y), "proj_": (proj_sels, proj_y)}, device, dense_queries, f)
    time_issue14(hnsw, data, qs, truth, dense_queries, f)
    time_issue14_sparse(proj, data, qs, truth, f, prefix="proj_")
    if do_verify:
        log(f"N={n:,} {kind}: prove + verify")
        xs = data.xs[: min(20, len(data.xs))]
        model = _bench_model(data, tree_k, tree_v)
        f.update(bench_verify(model, hnsw, xs))
        time_hashing_and_overhead(data, model, hnsw, proj, f)
    del proj
    gc.collect()
    proof_sizes(n, sels, f)
    return row


def _bench_model(data: Data, tree_k: MerkleTree, tree_v: MerkleTree) -> CommittedModel:
    """The one-layer model of ``data``'s committed matrices over their trees."""
    from ghostproof.protocol.ghost import LayerSpec
    from ghostproof.prover.commit import CommittedLayer, commit_model

    spec = LayerSpec(d_in=D, d_out=D, n=data.keys.shape[0], k=K, beta=BETA, s_k=data.s_k, s_v=data.s_v)
    return commit_model("bench", [CommittedLayer(data.keys, data.values, spec)], trees=[(tree_k, tree_v)])


def time_hashing_and_overhead(
    data: Data, model: CommittedModel, hnsw: HnswRetriever, proj: ProjectedHnswRetriever, f: Figures
) -> None:
    """Issue 14: commit and verify with the batch keccak against pure Python in this process
    (scripts/bench_hashing.py: ``hash_*``), and the proving overhead over the sparse forward at
    the tuned ef and at the node's safety breadth, and with the projected index at its tuned ef
    (scripts/bench_overhead.py: ``overhead_*``)."""
    from bench_hashing import commit_figures, verify_figures
    from bench_overhead import measure_overhead

    n = data.keys.shape[0]
    log(f"N={n:,}: commit and verify, batch keccak vs pure Python")
    f.update({f"hash_{k}": v for k, v in commit_figures(data.keys, data.values, 1).items()})
    f.update({f"hash_{k}": v for k, v in verify_figures(model, data.xs[:20]).items()})
    log(f"N={n:,}: proving overhead")
    points = (("tuned", hnsw, 1, int(f["ef"])), ("safety", hnsw, SAFETY_BREADTH // K, SAFETY_BREADTH),
              ("proj", proj, 1, int(f["proj_ef"])))
    for name, retriever, factor, breadth in points:
        o = measure_overhead(model, retriever, data.xs, factor, breadth)
        f.update({f"overhead_{name}_{k}": v for k, v in o.items()})


def make_data(n: int, kind: str, n_queries: int, f: Figures) -> Data:
    """Patterns of ``kind``, random values and noisy queries, put in locality order
    (``order_s``) and quantised: committed column j is pattern perm[j]."""
    log(f"N={n:,} {kind}: generating data")
    make = structured_patterns if kind == "structured" else uniform_patterns
    patterns = make(n, D, seed=1)
    values_f = random_values(n, D, seed=2)
    xs, _ = noisy_queries(patterns, n_queries, NOISE, seed=3)

    t = time.perf_counter()
    perm = locality_order(patterns)
    f["order_s"] = time.perf_counter() - t
    keys, s_k = quantise_keys(patterns[perm])  # committed column j = pattern perm[j]
    values, s_v = quantise_values(values_f[perm])
    del patterns, values_f
    gc.collect()
    return Data(keys, values, s_k, s_v, xs)


def bench_commit(n: int, kind: str, data: Data, f: Figures) -> tuple[MerkleTree, MerkleTree]:
    """(c) The Merkle trees of K and V, single-process (``commit_1p_s``) and parallel
    (``commit_par_s``); both builds must agree. Returns the single-process trees."""
    log(f"N={n:,} {kind}: commit (tree build)")
    t = time.perf_counter()
    tree_k = build_tree(leaf_hashes(0, MATRIX_K, data.keys))
    tree_v = build_tree(leaf_hashes(0, MATRIX_V, data.values))
    f["commit_1p_s"] = time.perf_counter() - t
    t = time.perf_counter()
    par_k = build_matrix_tree(0, MATRIX_K, data.keys)
    par_v = build_matrix_tree(0, MATRIX_V, data.values)
    f["commit_par_s"] = time.perf_counter() - t
    if par_k.root != tree_k.root or par_v.root != tree_v.root:
        raise SystemExit("parallel tree build disagrees with the single-process build")
    return tree_k, tree_v


def bench_hnsw(n: int, kind: str, keys: np.ndarray, f: Figures) -> HnswRetriever:
    """The HNSW index over K's columns, timed (``hnsw_build_s``)."""
    log(f"N={n:,} {kind}: HNSW build (M={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, "
        f"{os.cpu_count()} threads)")
    t = time.perf_counter()
    hnsw = HnswRetriever.build(
        keys, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, seed=0, on_progress=progress("HNSW")
    )
    f["hnsw_build_s"] = time.perf_counter() - t
    return hnsw


def bench_projected(n: int, kind: str, keys: np.ndarray, f: Figures) -> ProjectedHnswRetriever:
    """The projected HNSW index (dims "auto"), timed with its projection (``proj_build_s``);
    its rank and kept energy (``proj_dims``, ``proj_energy``)."""
    log(f"N={n:,} {kind}: projected HNSW build (dims auto, M={PROJ_M}, "
        f"ef_construction={PROJ_EF_CONSTRUCTION}, {os.cpu_count()} threads)")
    t = time.perf_counter()
    proj = ProjectedHnswRetriever.build(
        keys, M=PROJ_M, ef_construction=PROJ_EF_CONSTRUCTION, seed=0, on_progress=progress("projected HNSW")
    )
    f["proj_build_s"] = time.perf_counter() - t
    f["proj_dims"] = proj.rank
    f["proj_energy"] = float(proj.energy or 0.0)
    log(f"  projection: r = {proj.rank} of {keys.shape[1]}, energy {proj.energy:.5f}")
    return proj


def exact_top_k(keys: np.ndarray, qs: list[np.ndarray], device: torch.device) -> list[np.ndarray]:
    """The exact top-k of every quantised query (the recall reference)."""
    exact = ExactRetriever(keys, device=str(device))
    return [top_k(exact.all_scores(q), K) for q in qs]


def tune_ef(
    n: int,
    hnsw: Index,
    keys: np.ndarray,
    qs: list[np.ndarray],
    truth: list[np.ndarray],
    f: Figures,
    prefix: str = "",
) -> list[np.ndarray]:
    """(a) The smallest ef in EF_GRID with recall@k ≥ RECALL_TARGET (or ef ≥ N): set on
    ``hnsw`` and reported (``ef``, ``recall``, each name after ``prefix``); returns its
    selections."""
    chosen = None
    for ef in EF_GRID:
        hnsw.ef = ef
        sels = [select_top_k(hnsw, q, keys, K, N_CANDIDATES) for q in qs]
        recall = float(np.mean([np.intersect1d(s, tr).size / K for s, tr in zip(sels, truth, strict=True)]))
        log(f"  {prefix}ef={ef}: recall@{K}={recall:.3f}")
        chosen = (ef, recall, sels)
        if recall >= RECALL_TARGET or ef >= n:
            break
    assert chosen is not None
    ef, recall, sels = chosen
    hnsw.ef = ef
    f[prefix + "ef"] = ef
    f[prefix + "recall"] = recall
    return sels


def time_sparse(hnsw: Index, data: Data, f: Figures, prefix: str = "") -> list[np.ndarray]:
    """Every query through :func:`sparse_forward`, timed (``sparse_ms`` after ``prefix``,
    the median); returns each output's float reading."""
    sparse_t: list[float] = []
    sparse_y = []
    for x in data.xs:
        t = time.perf_counter()
        _, y = sparse_forward(x, hnsw, data.keys, data.values, data.s_k, data.s_v, N_CANDIDATES)
        sparse_t.append(time.perf_counter() - t)
        sparse_y.append(y)
    f[prefix + "sparse_ms"] = median_ms(sparse_t)
    return sparse_y


def time_dense(
    data: Data,
    qs: list[np.ndarray],
    sparse: dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
    device: torch.device,
    dense_queries: int,
    f: Figures,
) -> None:
    """The dense forward (torch float32, batch of one) on the first ``dense_queries`` queries:
    its median time and speed-up over each sparse path, and how often they agree. ``sparse``
    maps a figure prefix ("" the plain index, "proj_" the projected) to its selections and
    outputs."""
    import torch

    from ghostproof.prover.hopfield import HopfieldLookup

    keys = data.keys
    dense = HopfieldLookup.from_committed(
        keys, data.values, data.s_k, data.s_v, BETA, K, device=device, dtype=torch.float32
    )
    torch.set_grad_enabled(False)
    dense_t: list[float] = []
    agree_pattern = dict.fromkeys(sparse, 0)
    agree_output = dict.fromkeys(sparse, 0)
    rel_err: dict[str, list[float]] = {p: [] for p in sparse}
    m = min(dense_queries, len(data.xs))
    for i in range(m):
        xt = torch.from_numpy(data.xs[i]).to(device)
        dense(xt)  # warm (first call allocates)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        y = dense(xt)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dense_t.append(time.perf_counter() - t)
        yd = y.double().cpu().numpy()
        dense_top1 = int(torch.argmax(dense.scores(xt)[0]).item())  # dense path's attention argmax
        for p, (sels, sparse_y) in sparse.items():
            sel = sels[i]
            sparse_top1 = int(sel[np.lexsort((sel, -int_scores(qs[i], keys[sel]).astype(np.int64)))[0]])
            agree_pattern[p] += sparse_top1 == dense_top1
            agree_output[p] += int(np.argmax(sparse_y[i])) == int(np.argmax(yd))
            rel_err[p].append(float(np.linalg.norm(sparse_y[i] - yd) / max(np.linalg.norm(yd), 1e-300)))
    f["dense_ms"] = median_ms(dense_t)
    for p in sparse:
        f[p + "speedup"] = f["dense_ms"] / f[p + "sparse_ms"]
        f[p + "top1_pattern"] = agree_pattern[p] / m
        f[p + "top1_output"] = agree_output[p] / m
        f[p + "rel_err"] = float(np.median(rel_err[p]))
    f["dense_queries"] = m


def sparse_batch(
    hnsw: Index, data: Data, qs: list[np.ndarray], n_candidates: int
) -> list[np.ndarray]:
    """The selections of every query at once: one multi-threaded HNSW search of the batch,
    one batched exact integer re-rank (ties → lower index), then each query's exact softmax
    over its k (format 2, as :func:`sparse_forward`); returns the selections."""
    q = np.stack(qs)
    cand = hnsw.search_batch(q, n_candidates)  # (m, n)
    # exact integer scores: float32 sums of int8 products are exact for d ≤ 1040 (index.py)
    scores = np.matmul(data.keys[cand].astype(np.float32), q.astype(np.float32)[:, :, None])[..., 0]
    scores = scores.astype(np.int64)
    order = _top_rows(cand, scores)
    scale = logit_scale(BETA, data.s_k)
    sels = []
    for i, row in enumerate(order):
        sel = np.sort(cand[i, row])
        layer_forward(q[i], data.keys[sel], data.values[sel], scale)
        sels.append(sel)
    return sels


def _top_rows(cand: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per row, the indices of its K best (score desc, column id asc)."""
    return np.stack([np.lexsort((c, -s))[:K] for c, s in zip(cand, scores, strict=True)])


def dense_times(data: Data, device: torch.device, m: int) -> tuple[float, float]:
    """Dense forward (torch float32) on ``device``: median ms for a batch of one, and ms per
    query for one batch of ``m`` queries."""
    import torch

    from ghostproof.prover.hopfield import HopfieldLookup

    dense = HopfieldLookup.from_committed(
        data.keys, data.values, data.s_k, data.s_v, BETA, K, device=device, dtype=torch.float32
    )

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    xs = torch.from_numpy(np.ascontiguousarray(data.xs[:m])).to(device)
    dense(xs[0])
    one = []
    for i in range(m):
        sync()
        t = time.perf_counter()
        dense(xs[i])
        sync()
        one.append(time.perf_counter() - t)
    dense(xs)
    sync()
    t = time.perf_counter()
    dense(xs)
    sync()
    return median_ms(one), (time.perf_counter() - t) * 1e3 / m


def time_issue14(
    hnsw: Index,
    data: Data,
    qs: list[np.ndarray],
    truth: list[np.ndarray],
    dense_queries: int,
    f: Figures,
) -> None:
    """Issue 14 (a): :func:`time_issue14_sparse` for ``hnsw``, then dense on CPU single and
    batched (``dense_cpu_ms``, ``dense_batch_ms``) and on CUDA when available
    (``dense_cuda_ms``, ``dense_cuda_batch_ms``)."""
    import torch

    time_issue14_sparse(hnsw, data, qs, truth, f)
    m = min(dense_queries, len(qs))
    f["dense_cpu_ms"], f["dense_batch_ms"] = dense_times(data, torch.device("cpu"), m)
    if torch.cuda.is_available():
        f["dense_cuda_ms"], f["dense_cuda_batch_ms"] = dense_times(data, torch.device("cuda"), m)


def time_issue14_sparse(
    hnsw: Index, data: Data, qs: list[np.ndarray], truth: list[np.ndarray], f: Figures, prefix: str = ""
) -> None:
    """Sparse batched at the tuned ef (``sparse_batch_ms`` per query, its recall) and per
    query at the safety breadth (``safety_ms``, ``safety_recall``), each name after ``prefix``."""
    t = time.perf_counter()
    sels = sparse_batch(hnsw, data, qs, N_CANDIDATES)
    f[prefix + "sparse_batch_ms"] = (time.perf_counter() - t) * 1e3 / len(qs)
    f[prefix + "sparse_batch_recall"] = _recall(sels, truth)
    ef = hnsw.ef
    hnsw.ef = SAFETY_BREADTH
    times, sels = [], []
    for q in qs:
        t = time.perf_counter()
        sel = select_top_k(hnsw, q, data.keys, K, SAFETY_BREADTH)
        layer_forward(q, data.keys[sel], data.values[sel], logit_scale(BETA, data.s_k))
        times.append(time.perf_counter() - t)
        sels.append(sel)
    hnsw.ef = ef
    f[prefix + "safety_ms"] = median_ms(times)
    f[prefix + "safety_recall"] = _recall(sels, truth)


def _recall(sels: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([np.intersect1d(s, tr).size / K for s, tr in zip(sels, truth, strict=True)]))


def chunks_touched(n: int, sels: list[np.ndarray], shuffle: np.ndarray, f: Figures) -> None:
    """Issue 14: IPFS chunks of one matrix a selection touches (mean), locality order
    (``chunks_ordered``) vs random order (``chunks_random``), of ``chunks_total``."""
    per = columns_per_chunk(D)
    f["chunks_total"] = -(-n // per)
    f["chunks_ordered"] = float(np.mean([np.unique(s // per).size for s in sels]))
    f["chunks_random"] = float(np.mean([np.unique(shuffle[s] // per).size for s in sels]))


def proof_sizes(n: int, sels: list[np.ndarray], f: Figures) -> None:
    """(b) Multiproof hashes for the selections, locality order vs random order, against k
    separate proofs."""
    depth = tree_depth(n)
    shuffle = np.random.default_rng(4).permutation(n)  # random position of each committed column
    ordered = random_order = 0
    for s in sels:
        ordered += multiproof_size(np.sort(s).tolist(), depth)
        random_order += multiproof_size(np.sort(shuffle[s]).tolist(), depth)
    separate = len(sels) * K * depth
    f["depth"] = depth
    f["mp_separate"] = K * depth
    f["mp_random"] = random_order / len(sels)
    f["mp_ordered"] = ordered / len(sels)
    f["mp_random_ratio"] = random_order / separate
    f["mp_ordered_ratio"] = ordered / separate
    chunks_touched(n, sels, shuffle, f)


def bench_verify(model: CommittedModel, hnsw: Index, xs: np.ndarray) -> dict[str, float | str]:
    """(d) Median prove and verify times (``prove_ms``, ``verify_ms``) of ``model`` (one layer)
    over ``xs``; a ``verify_note`` instead when the roles are absent."""
    try:
        from ghostproof.prover.prove import Prover
        from ghostproof.verifier.verify import verify
    except ImportError as exc:  # the prover/verifier are not in the tree
        return {"verify_note": f"unavailable: {exc}"}

    prover = Prover(model, bytes(range(1, 33)), retrievers=[hnsw])
    prove_t, verify_t = [], []
    for x in xs:
        t = time.perf_counter()
        resp = prover.prove(x)
        prove_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        verify(resp, model.ghost, model.ghost_root)
        verify_t.append(time.perf_counter() - t)
    return {"prove_ms": median_ms(prove_t), "verify_ms": median_ms(verify_t)}


COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("ef", lambda r: str(r.figures["ef"])),
    ("recall@32", lambda r: f"{r.figures['recall']:.3f}"),
    (
        "top-1 (pattern / output)",
        lambda r: f"{r.figures['top1_pattern']:.3f} / {r.figures['top1_output']:.3f}",
    ),
    ("sparse ms", lambda r: f"{r.figures['sparse_ms']:.3f}"),
    ("dense ms", lambda r: f"{r.figures['dense_ms']:.2f}"),
    ("speedup", lambda r: f"{r.figures['speedup']:.1f}×"),
    ("sparse vs dense rel. err", lambda r: f"{r.figures['rel_err']:.1e}"),
]
PROOF_COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("depth", lambda r: str(r.figures["depth"])),
    ("32 separate proofs", lambda r: str(r.figures["mp_separate"])),
    (
        "multiproof, random order",
        lambda r: f"{r.figures['mp_random']:.0f} ({r.figures['mp_random_ratio']:.2f}×)",
    ),
    (
        "multiproof, locality order",
        lambda r: f"{r.figures['mp_ordered']:.0f} ({r.figures['mp_ordered_ratio']:.2f}×)",
    ),
]
COST_COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("order s", lambda r: f"{r.figures['order_s']:.2f}"),
    ("commit K+V s (1 proc)", lambda r: f"{r.figures['commit_1p_s']:.2f}"),
    ("commit K+V s (2 cores)", lambda r: f"{r.figures['commit_par_s']:.2f}"),
    ("HNSW build s", lambda r: f"{r.figures['hnsw_build_s']:.1f}"),
    ("prove ms", lambda r: f"{r.figures['prove_ms']:.2f}" if "prove_ms" in r.figures else "–"),
    ("verify ms/layer", lambda r: f"{r.figures['verify_ms']:.2f}" if "verify_ms" in r.figures else "–"),
]
def _opt(key: str, fmt: str) -> Callable[[Row], str]:
    return lambda r: format(r.figures[key], fmt) if key in r.figures else "–"


ISSUE14_COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("multiproof / separate, locality (random)",
     lambda r: f"{r.figures['mp_ordered_ratio']:.2f}× ({r.figures['mp_random_ratio']:.2f}×)"),
    ("chunks / query, locality (random) of total",
     lambda r: f"{r.figures['chunks_ordered']:.1f} ({r.figures['chunks_random']:.1f}) "
               f"of {r.figures['chunks_total']}"),
    ("HNSW build s", lambda r: f"{r.figures['hnsw_build_s']:.1f}"),
    ("sparse batched ms/q (recall)",
     lambda r: f"{r.figures['sparse_batch_ms']:.3f} ({r.figures['sparse_batch_recall']:.3f})"),
    ("dense CPU ms (batched ms/q)",
     lambda r: f"{r.figures['dense_cpu_ms']:.2f} ({r.figures['dense_batch_ms']:.2f})"),
    ("dense CUDA ms (batched)", lambda r: (
        f"{r.figures['dense_cuda_ms']:.3f} ({r.figures['dense_cuda_batch_ms']:.4f})"
        if "dense_cuda_ms" in r.figures else "no GPU")),
    ("safety n=ef=2048 ms (recall)",
     lambda r: f"{r.figures['safety_ms']:.2f} ({r.figures['safety_recall']:.3f})"),
]
PROJECTED_COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("data", lambda r: r.kind),
    ("r of d (energy)", lambda r: f"{r.figures['proj_dims']} of {D} ({r.figures['proj_energy']:.4f})"),
    ("build s, projected (plain)",
     lambda r: f"{r.figures['proj_build_s']:.1f} ({r.figures['hnsw_build_s']:.1f})"),
    ("ef, projected (plain)", lambda r: f"{r.figures['proj_ef']} ({r.figures['ef']})"),
    ("recall@32, projected (plain)",
     lambda r: f"{r.figures['proj_recall']:.3f} ({r.figures['recall']:.3f})"),
    ("top-1, projected (plain)",
     lambda r: f"{r.figures['proj_top1_pattern']:.3f} ({r.figures['top1_pattern']:.3f})"),
    ("sparse ms, projected (plain)",
     lambda r: f"{r.figures['proj_sparse_ms']:.3f} ({r.figures['sparse_ms']:.3f})"),
    ("batched ms/q, projected (plain)",
     lambda r: f"{r.figures['proj_sparse_batch_ms']:.3f} ({r.figures['sparse_batch_ms']:.3f})"),
    ("safety 2048 ms, projected (plain)",
     lambda r: f"{r.figures['proj_safety_ms']:.2f} ({r.figures['safety_ms']:.2f})"),
    ("dense ms", lambda r: f"{r.figures['dense_cpu_ms']:.2f}"),
]
TABLES = [
    ("(a) Sparse vs dense forward, one query", COLUMNS),
    ("(b) Proof hashes per matrix (mean over queries)", PROOF_COLUMNS),
    ("(c, d) Commit, index, prove, verify", COST_COLUMNS),
    ("Issue 14: order, chunks, index build, batched and safety-breadth forward", ISSUE14_COLUMNS),
    ("Issue 14: projected index (prover/projection.py) beside the plain one", PROJECTED_COLUMNS),
]


def issue14_targets(rows: list[Row]) -> list[tuple[str, str, str]]:
    """(target, measured, status) of issue 14 at the largest structured N of the run, every
    figure beside the baseline measured in the same process; the sparse-vs-dense and build
    targets once for the plain index and once for the projected one."""
    cands = [r for r in rows if r.kind == "structured"] or rows
    if not cands:
        return []
    r = max(cands, key=lambda x: x.n)
    f = r.figures
    at = f"N = {r.n:,} {r.kind}"
    safety = f["dense_cpu_ms"] / f["safety_ms"]
    return [
        *_hashing_targets(f, at),
        ("multiproof ≤ 0.25× of k separate proofs", f"{f['mp_ordered_ratio']:.2f}× locality order "
         f"({f['mp_random_ratio']:.2f}× random order), {at}", _met(f["mp_ordered_ratio"] <= 0.25)),
        ("chunks a query touches (no target)", f"{f['chunks_ordered']:.1f} locality / "
         f"{f['chunks_random']:.1f} random of {f['chunks_total']}, {at}", "–"),
        _build_target(r, "", f"M {HNSW_M}, ef_construction {HNSW_EF_CONSTRUCTION}"),
        _build_target(r, "proj_", f"projected r = {f['proj_dims']}, M {PROJ_M}, "
                      f"ef_construction {PROJ_EF_CONSTRUCTION}"),
        _speed_target(r, "", "plain index"),
        _speed_target(r, "proj_", f"projected index (r = {f['proj_dims']} of {D}, energy "
                      f"{f['proj_energy']:.4f})"),
        ("speed at the safety default (n = ef = 2048)", f"{f['safety_ms']:.2f} ms, {safety:.0f}× dense "
         f"(recall {f['safety_recall']:.3f}); projected {f['proj_safety_ms']:.2f} ms, "
         f"{f['dense_cpu_ms'] / f['proj_safety_ms']:.0f}× (recall {f['proj_safety_recall']:.3f}), {at}",
         "–"),
    ]


def _hashing_targets(f: Figures, at: str) -> list[tuple[str, str, str]]:
    """Verify, commit and proving overhead (absent from a ``--no-verify`` run)."""
    if "hash_native_verify_ms" not in f:
        return [("verify, commit, proving overhead", "not measured (--no-verify)", "–")]
    tuned, safety, proj = (f[f"overhead_{p}_overhead_pct"] for p in ("tuned", "safety", "proj"))
    return [
        ("verify one layer ≤ 0.3 ms (whole verify(), signature included)",
         f"{f['hash_native_verify_ms']:.3f} ms (pure Python {f['hash_pure_verify_ms']:.3f} ms), {at}",
         _met(f["hash_native_verify_ms"] <= 0.3)),
        ("commit 2 × N leaves ≤ 1 s (K and V, both cores)",
         f"{f['hash_native_par_s']:.2f} s (pure Python {f['hash_pure_par_s']:.2f} s), {at}",
         _met(f["hash_native_par_s"] <= 1.0)),
        ("proving overhead ≤ 20 % over the sparse forward (search replayed)",
         f"{tuned:.0f} % at ef {f['ef']} ({f['overhead_tuned_forward_ms']:.2f} → "
         f"{f['overhead_tuned_prove_ms']:.2f} ms; end to end {f['overhead_tuned_overhead_e2e_pct']:.0f} %); "
         f"{safety:.0f} % at breadth {SAFETY_BREADTH} ({f['overhead_safety_forward_ms']:.2f} → "
         f"{f['overhead_safety_prove_ms']:.2f} ms); projected index {proj:.0f} % at ef {f['proj_ef']} "
         f"({f['overhead_proj_forward_ms']:.2f} → {f['overhead_proj_prove_ms']:.2f} ms), {at}",
         _overhead_status(tuned, safety, proj)),
    ]


def _build_target(r: Row, prefix: str, how: str) -> tuple[str, str, str]:
    """The HNSW build target for the index named by ``prefix`` ("" plain, "proj_" projected)."""
    seconds = r.figures[f"{prefix}build_s" if prefix else "hnsw_build_s"]
    return ("HNSW build ≤ 300 s at N = 10^6", f"{seconds:.0f} s ({how}, {os.cpu_count()} threads), "
            f"N = {r.n:,} {r.kind}", _met(seconds <= 300) if r.n >= 10**6 else "not at 10^6")


def _speed_target(r: Row, prefix: str, what: str) -> tuple[str, str, str]:
    """Sparse (``prefix``: "" plain index, "proj_" projected) vs the dense CPU forward of the
    same process: one query, batched vs one dense query, both batched."""
    f = r.figures
    dense = f["dense_cpu_ms"]
    one = dense / f[prefix + "sparse_ms"]
    batched = dense / f[prefix + "sparse_batch_ms"]
    both = f["dense_batch_ms"] / f[prefix + "sparse_batch_ms"]
    recall = f[prefix + "recall"]
    return (
        "sparse ≥ 300× dense at recall@32 ≥ 0.95",
        f"{what}, one query: {one:.0f}× ({f[prefix + 'sparse_ms']:.3f} ms vs {dense:.1f} ms; "
        f"recall {recall:.3f}, ef {f[prefix + 'ef']}, top-1 {f[prefix + 'top1_pattern']:.3f}); "
        f"sparse batched vs dense one: {batched:.0f}× (recall {f[prefix + 'sparse_batch_recall']:.3f}); "
        f"both batched: {both:.0f}×, N = {r.n:,} {r.kind}",
        _speed_status(one, batched, recall),
    )


def _overhead_status(tuned: float, safety: float, proj: float) -> str:
    """met when every measured point is ≤ 20 %; else which ones are."""
    ok = [name for name, pct in (("plain tuned ef", tuned), ("safety breadth", safety), ("projected", proj))
          if pct <= 20]
    return "met" if len(ok) == 3 else ("missed" if not ok else "met at " + ", ".join(ok) + " only")


def _speed_status(one: float, batched: float, recall: float) -> str:
    """met when one sparse query is ≥ 300× a dense one; "met batched only" when only sparse
    batched (per query) is; missed otherwise, or when recall@32 < 0.95."""
    if recall < RECALL_TARGET or max(one, batched) < 300:
        return "missed"
    return "met" if one >= 300 else f"met batched only (one query {one / 300 - 1:+.0%} of the target)"


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def print_tables(rows: list[Row]) -> None:
    """Print TABLES for ``rows`` as rich tables on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    targets = Table(title="Issue 14 targets")
    for name in ("target", "measured", "status"):
        targets.add_column(name)
    for line in issue14_targets(rows):
        targets.add_row(*line)
    console.print(targets)
    for title, cols in TABLES:
        table = Table(title=title)
        for name, _ in cols:
            table.add_column(name, justify="right")
        for r in rows:
            table.add_row(*(fn(r) for _, fn in cols))
        console.print(table)


def markdown(rows: list[Row], args: argparse.Namespace) -> str:
    """The report for ``rows`` as markdown (docs/BENCH.md): how it was run, then TABLES."""
    lines = [
        "# Benchmarks",
        "",
        f"`python scripts/bench.py --sizes {args.sizes}` — one layer, d = {D}, k = {K}, beta = {BETA},",
        f"{args.queries} noisy queries (noise {NOISE}) per size and kind; dense timed on "
        f"{rows[0].figures.get('dense_queries', '?') if rows else '?'} of them.",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"device {rows[0].figures.get('device', '?') if rows else '?'}.",
        "",
    ]
    lines += ["## Issue 14 targets", "", "| target | measured | status |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in issue14_targets(rows)]
    lines.append("")
    for title, cols in TABLES:
        lines += [f"## {title}", "", "| " + " | ".join(c for c, _ in cols) + " |"]
        lines.append("|" + "|".join("---:" for _ in cols) + "|")
        lines += ["| " + " | ".join(fn(r) for _, fn in cols) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every (size, kind) of ``argv``, print the tables, write ``--out``; exit status 0."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated N values")
    parser.add_argument("--kinds", default="structured,uniform")
    parser.add_argument("--queries", type=int, default=200, help="noisy queries per size and kind")
    parser.add_argument("--dense-queries", type=int, default=50, help="queries timed on the dense path")
    parser.add_argument("--no-verify", action="store_true", help="skip prove/verify timing")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    kinds = [k for k in args.kinds.split(",") if k]
    rows = []
    for n in sizes:
        for kind in kinds:
            rows.append(bench_one(n, kind, args.queries, args.dense_queries, not args.no_verify))
            gc.collect()
    print_tables(rows)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(rows, args))
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
