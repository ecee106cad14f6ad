"""Issue 12: how often would an honest answer be challengeable (DESIGN §6)?

    python scripts/bench_safety.py --sizes 100000[,1000000] [--queries 10000] [--out FILE]

One layer of structured data as scripts/bench.py draws it (d = 256, k = 32, intrinsic
dimension 32, locality order, queries = noisy copies of stored patterns, noise 0.3). For
every honest query the node's selection S is what ``Prover.prove`` computes: HNSW
(M = 16, ef_construction = 200) returns n = candidates_factor · k candidates searched with
breadth max(ef, n), re-ranked exactly. Against the exact ranking of all N columns:

- excess = max_{j ∉ S} q·K_j − τ, τ = the lowest exact score in S (≤ 0: not challengeable);
- depth = τ − (lowest exact score among the n re-ranked candidates): how far below τ the
  candidate set reaches (the refusal rule of prover/margin.py needs depth ≥ margin).

A query is challengeable at margin m when excess > m. Margins are given relative to the
score scale F = 127 / s_K (the score of a query against a column it equals); the tables give
them in integer units too. Data and HNSW index are cached under ``--cache`` (bench-out/,
git-ignored): a rerun costs the searches only. Per-query arrays go to ``<cache>/n<N>/
results.npz`` for offline analysis. Prints markdown and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ghostproof.protocol.constants import INT8_MAX
from ghostproof.protocol.layer import quantise_keys, quantise_query
from ghostproof.prover.index import HnswRetriever
from ghostproof.prover.margin import CALIBRATION_QUERIES, MIN_REL_MARGIN, SAFETY_FACTOR
from ghostproof.prover.order import locality_order
from ghostproof.prover.synthetic import noisy_queries, structured_patterns

D, K, NOISE = 256, 32, 0.3
TOP_T = 2 * K  # exact top-T per query: more than k, so it always holds a column outside S
REL_MARGINS = (0.0, 0.002, 0.01, 0.02, 0.05, 0.1)


def log(msg: str) -> None:
    """Print ``msg`` to stderr with the time of day, at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Case:
    """One N: committed keys (N, d) int8, their scale, the quantised queries, the index."""

    n: int
    keys: np.ndarray
    s_k: float
    qs: np.ndarray
    hnsw: HnswRetriever

    @property
    def scale(self) -> float:
        """F = 127 / s_K: the integer score of a unit query against a column equal to it."""
        return INT8_MAX / self.s_k


@dataclass
class Report:
    """What the tables need of a case: N, the score scale F, the number of queries."""

    n: int
    scale: float
    queries: int


def load_results(n: int, cache: Path) -> tuple[Report, dict[tuple[int, int], dict[str, np.ndarray]]]:
    """The per-query arrays :func:`save_results` wrote for N = ``n`` (``--report-only``)."""
    data = np.load(cache / f"n{n}" / "results.npz")
    results: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for name in data.files:
        if name != "scale":
            ef, f, stat = name.split("_", 2)
            results.setdefault((int(ef[2:]), int(f[1:])), {})[stat] = data[name]
    queries = len(next(iter(results.values()))["excess"])
    return Report(n, float(data["scale"]), queries), results


def load_case(n: int, m: int, cache: Path) -> Case:
    """The data and index for N = ``n`` with ``m`` queries, from ``cache`` or built there."""
    d = cache / f"n{n}"
    d.mkdir(parents=True, exist_ok=True)
    keys_f, meta_f, index_f, qs_f = d / "keys.npy", d / "meta.json", d / "hnsw.bin", d / f"queries{m}.npy"
    if not (keys_f.exists() and meta_f.exists() and qs_f.exists()):
        log(f"N={n:,}: generating data (as scripts/bench.py)")
        patterns = structured_patterns(n, D, seed=1)
        xs, _ = noisy_queries(patterns, m, NOISE, seed=3)
        qs = np.stack([quantise_query(x) for x in xs])
        keys, s_k = quantise_keys(patterns[locality_order(patterns)])
        del patterns
        np.save(keys_f, keys)
        np.save(qs_f, qs)
        meta_f.write_text(json.dumps({"s_k": s_k}))
        index_f.unlink(missing_ok=True)
    keys = np.load(keys_f, mmap_mode="r")
    s_k = float(json.loads(meta_f.read_text())["s_k"])
    if index_f.exists():
        hnsw = HnswRetriever.load(index_f, n, D)
    else:
        log(f"N={n:,}: HNSW build (M=16, ef_construction=200, {os.cpu_count()} threads)")
        t = time.perf_counter()
        hnsw = HnswRetriever.build(np.asarray(keys), M=16, ef_construction=200, seed=0)
        hnsw.save(index_f)
        log(f"N={n:,}: HNSW built in {time.perf_counter() - t:.0f} s")
    return Case(n, np.asarray(keys), s_k, np.load(qs_f), hnsw)


def exact_top(keys: np.ndarray, qs: np.ndarray, t: int, block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-``t`` (ids, scores int64) of every query, by a float32 matmul in blocks
    (exact: every partial sum of int8·int8 products stays below 2^24 for d ≤ 1040)."""
    import torch

    kt = torch.from_numpy(np.ascontiguousarray(keys)).to(torch.float32)
    ids = np.empty((len(qs), t), dtype=np.int64)
    scores = np.empty((len(qs), t), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(qs), block):
            qb = torch.from_numpy(qs[start : start + block].astype(np.float32))
            val, idx = torch.topk(qb @ kt.T, t, dim=1)
            ids[start : start + block] = idx.numpy()
            scores[start : start + block] = np.rint(val.numpy()).astype(np.int64)
    return ids, scores


def candidate_scores(keys: np.ndarray, qs: np.ndarray, ids: np.ndarray, block: int = 64) -> np.ndarray:
    """Exact integer scores (int64, shape of ``ids``) of each query's candidate columns."""
    out = np.empty(ids.shape, dtype=np.int64)
    for start in range(0, len(qs), block):
        cols = keys[ids[start : start + block]].astype(np.float32)  # (b, n, d)
        q = qs[start : start + block].astype(np.float32)[:, :, None]
        out[start : start + block] = np.rint((cols @ q)[:, :, 0]).astype(np.int64)
    return out


def selection_stats(
    ids: np.ndarray, scores: np.ndarray, ex_ids: np.ndarray, ex_scores: np.ndarray
) -> dict[str, np.ndarray]:
    """Per query, for candidate lists ``ids`` with exact ``scores`` (m, n): the selection's
    τ, its excess over τ among the exact top-T, the candidates' depth below τ, recall@k."""
    order = np.lexsort((ids, -scores), axis=-1)[:, :K]  # the exact re-rank: score, then lower id
    sel = np.take_along_axis(ids, order, axis=1)
    tau = np.take_along_axis(scores, order[:, K - 1 :], axis=1)[:, 0]
    member = (ex_ids[:, :, None] == sel[:, None, :]).any(-1)  # (m, T): exact top-T column in S?
    first_out = np.argmax(~member, axis=1)
    best_out = ex_scores[np.arange(len(ids)), first_out]
    return {
        "tau": tau,
        "excess": best_out - tau,
        "depth": tau - scores.min(axis=1),
        "recall": member[:, :K].sum(axis=1) / K,
    }


def measure(case: Case, efs: list[int], factors: list[int]) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """Stats of every (ef, candidates_factor) with factor · k ≤ ef (a larger factor raises the
    search breadth to factor · k, which is the setting (factor · k, factor))."""
    log(f"N={case.n:,}: exact top-{TOP_T} of {len(case.qs):,} queries")
    t = time.perf_counter()
    ex_ids, ex_scores = exact_top(case.keys, case.qs, TOP_T)
    log(f"  done in {time.perf_counter() - t:.0f} s")
    results = {}
    for ef in efs:
        case.hnsw.ef = ef
        t = time.perf_counter()
        ids = case.hnsw.search_batch(case.qs, ef)
        per_query_ms = (time.perf_counter() - t) * 1e3 * (os.cpu_count() or 1) / len(case.qs)
        scores = candidate_scores(case.keys, case.qs, ids)
        for f in factors:
            n = f * K
            if n <= ef:
                results[(ef, f)] = selection_stats(ids[:, :n], scores[:, :n], ex_ids, ex_scores)
                results[(ef, f)]["search_ms"] = np.array([per_query_ms])
        log(f"  ef={ef}: searched ({per_query_ms:.2f} ms per query per core)")
    return results


def save_results(case: Case, results: dict[tuple[int, int], dict[str, np.ndarray]], cache: Path) -> None:
    """Per-query arrays to ``<cache>/n<N>/results.npz`` (keys ``ef<ef>_f<f>_<stat>``)."""
    flat = {f"ef{ef}_f{f}_{name}": arr for (ef, f), st in results.items() for name, arr in st.items()}
    np.savez_compressed(cache / f"n{case.n}" / "results.npz", scale=case.scale, **flat)


def _pct(x: float) -> str:
    return "0" if x == 0 else f"{100 * x:.2f} %"


def table_excess(case: Report, results: dict[tuple[int, int], dict[str, np.ndarray]]) -> list[str]:
    """Markdown: per setting, recall, how often and by how much S misses the exact top-k."""
    f_ = case.scale
    lines = [
        f"### N = {case.n:,} (score scale F = 127/s_K = {f_:,.0f}; {case.queries:,} queries)",
        "",
        "| ef | cand. factor (n) | search ms | recall@32 | excess > 0 | max excess (/F) "
        "| p99.9 excess | min depth (/F) | median depth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (ef, fac), st in sorted(results.items()):
        ex, dp = st["excess"], st["depth"]
        lines.append(
            f"| {ef} | {fac} ({fac * K}) | {st['search_ms'][0]:.2f} | {st['recall'].mean():.4f} "
            f"| {_pct(float((ex > 0).mean()))} | {ex.max()} ({ex.max() / f_:.4f}) "
            f"| {np.quantile(ex, 0.999):.0f} | {dp.min()} ({dp.min() / f_:.4f}) | {np.median(dp):.0f} |"
        )
    return [*lines, ""]


def table_margins(case: Report, results: dict[tuple[int, int], dict[str, np.ndarray]]) -> list[str]:
    """Markdown: per setting and margin, the fraction challengeable, the fraction the refusal
    rule (depth < margin) refuses, and the challengeable ones it would not have refused."""
    f_ = case.scale
    margins = [round(r * f_) for r in REL_MARGINS]
    head = " | ".join(f"m={r:g}F ({m})" for r, m in zip(REL_MARGINS, margins, strict=True))
    lines = [
        f"Challengeable / refused by the depth rule / challengeable and not refused, at margin m "
        f"(n = ef or 4k), N = {case.n:,}:",
        "",
        f"| ef | n | {head} |",
        "|---:|---:|" + "---:|" * len(margins),
    ]
    for (ef, fac), st in sorted(results.items()):
        if fac * K not in (ef, 4 * K):  # the whole beam, and the former default n = 4k
            continue
        ex, dp = st["excess"], st["depth"]
        full = fac * K >= case.n
        cells = []
        for m in margins:
            chall = ex > m
            fired = (dp < m) & (not full)
            cells.append(f"{_pct(float(chall.mean()))} / {_pct(float(fired.mean()))} / "
                         f"{int((chall & ~fired).sum())}")
        lines.append(f"| {ef} | {fac * K} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def table_calibration(case: Report, results: dict[tuple[int, int], dict[str, np.ndarray]],
                      trials: int = 1000) -> list[str]:
    """Markdown: prover/margin.calibrate simulated ``trials`` times per setting (n = ef, the
    whole beam re-ranked): margin = max(MIN_REL_MARGIN · F, SAFETY_FACTOR · the largest excess
    of CALIBRATION_QUERIES queries drawn from the measured ones); how often that margin leaves
    any of all the queries challengeable, and how often the depth rule then refuses."""
    f_ = case.scale
    rng = np.random.default_rng(0)
    lines = [
        f"Calibrated margin (simulated {trials} times: {CALIBRATION_QUERIES} queries, safety "
        f"×{SAFETY_FACTOR:g}, floor {MIN_REL_MARGIN:g}·F), n = ef, N = {case.n:,}:",
        "",
        "| ef = n | median margin (/F) | max margin (/F) | P(any query challengeable) "
        "| challengeable (mean) | depth rule refuses (mean) | P(any challengeable, not refused) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (ef, fac), st in sorted(results.items()):
        if fac * K != ef:
            continue
        ex, dp = st["excess"], st["depth"]
        picks = rng.integers(0, len(ex), size=(trials, CALIBRATION_QUERIES))
        worst = ex[picks].max(axis=1)
        margins = np.maximum(np.ceil(MIN_REL_MARGIN * f_), np.ceil(SAFETY_FACTOR * worst))
        chall = ex[None, :] > margins[:, None]
        refused = (dp[None, :] < margins[:, None]) & (ef < case.n)
        unsafe = (chall & ~refused).any(axis=1)
        chall, refused = chall.mean(axis=1), refused.mean(axis=1)
        lines.append(
            f"| {ef} | {np.median(margins):.0f} ({np.median(margins) / f_:.3f}) "
            f"| {margins.max():.0f} ({margins.max() / f_:.3f}) | {_pct(float((chall > 0).mean()))} "
            f"| {_pct(float(chall.mean()))} | {_pct(float(refused.mean()))} | {_pct(float(unsafe.mean()))} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    """Measure every size of ``argv``; print the markdown report and write ``--out``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000", help="comma-separated N values")
    parser.add_argument("--queries", type=int, default=10_000, help="honest queries per size")
    parser.add_argument("--efs", default="128,256,512,1024,2048,4096", help="HNSW search breadths")
    parser.add_argument("--factors", default="1,2,4,8,16,32,64,128", help="candidates_factor values")
    parser.add_argument("--cache", type=Path, default=Path("bench-out/safety"))
    parser.add_argument("--out", type=Path, default=Path("bench-out/safety.md"))
    parser.add_argument("--report-only", action="store_true",
                        help="tables from the cached per-query results; no search")
    args = parser.parse_args(argv)
    efs = [int(e) for e in args.efs.split(",") if e]
    factors = [int(f) for f in args.factors.split(",") if f]
    lines = [
        "## Honest answers vs the challenge (scripts/bench_safety.py)",
        "",
        f"Structured data, d = {D}, k = {K}, {args.queries:,} noisy queries (noise {NOISE}) per N; "
        f"{os.cpu_count()} cores.",
        "",
    ]
    for n in [int(s) for s in args.sizes.split(",") if s]:
        if args.report_only:
            report, results = load_results(n, args.cache)
        else:
            case = load_case(n, args.queries, args.cache)
            results = measure(case, efs, factors)
            save_results(case, results, args.cache)
            report = Report(n, case.scale, len(case.qs))
        lines += table_excess(report, results) + table_margins(report, results)
        lines += table_calibration(report, results)
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
