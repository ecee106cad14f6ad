"""Hashing at native speed (issue 14): the batch keccak against the pure-Python path, one process.

Prints one table: each figure beside its target and the pure-Python baseline measured in the
same process (``hashing.use_native(False)``), then the cold start of ``ghostproof verify``.

- commit: the Merkle trees of K and V of one layer (2 × N leaves, d = d_out = 256), as
  scripts/bench.py times it: ``prover.treebuild.build_matrix_tree`` on every core, and
  ``build_tree(leaf_hashes(…))`` in one thread;
- verify: median ``verifier.verify.verify`` of one proven layer (k = 32, signature included),
  and the hashing part alone (``check_columns``: 2k leaves + two multiproofs);
- cold start: ``ghostproof verify`` of examples/digits as a fresh process, with the default
  (auto) mode, with GHOSTPROOF_KECCAK=native (kernels cached on disk) and =pure, and the very
  first native run on a machine (an empty NUMBA_CACHE_DIR: the kernels compile).

    python scripts/bench_hashing.py [--n 1000000] [--queries 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ghostproof.protocol import hashing
from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.ghost import LayerSpec
from ghostproof.protocol.hashing import leaf_hashes
from ghostproof.protocol.layer import quantise_keys, quantise_values
from ghostproof.protocol.merkle import build_tree
from ghostproof.prover.commit import CommittedLayer, CommittedModel, commit_model
from ghostproof.prover.prove import Prover
from ghostproof.prover.synthetic import noisy_queries, random_values, structured_patterns
from ghostproof.prover.treebuild import build_matrix_tree
from ghostproof.verifier.verify import check_columns, verify

D, K, BETA = 256, 32, 30.0
ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str, str]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``fn``, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def commit_figures(keys: np.ndarray, values: np.ndarray, repeat: int) -> dict[str, float]:
    """Commit of K and V in seconds: every core (``native_par_s``, ``pure_par_s``) and one
    thread (``native_one_s``, ``pure_one_s``), batch keccak vs pure Python; the trees must agree."""

    def par() -> object:
        return build_matrix_tree(0, MATRIX_K, keys), build_matrix_tree(0, MATRIX_V, values)

    def one() -> object:
        return build_tree(leaf_hashes(0, MATRIX_K, keys)), build_tree(leaf_hashes(0, MATRIX_V, values))

    hashing.use_native(True)
    native_roots = [t.root for t in par()]  # also compiles / loads the kernels
    figures = {"native_par_s": best_of(par, repeat), "native_one_s": best_of(one, repeat)}
    hashing.use_native(False)
    figures["pure_par_s"] = best_of(par, 1)
    assert [t.root for t in par()] == native_roots, "native and pure trees differ"
    figures["pure_one_s"] = best_of(one, 1)
    hashing.use_native(True)
    return figures


def commit_rows(keys: np.ndarray, values: np.ndarray, repeat: int) -> list[Row]:
    """:func:`commit_figures` as table rows."""
    n, f = keys.shape[0], commit_figures(keys, values, repeat)
    cores = os.cpu_count() or 1
    return [
        (f"commit K+V, {2 * n:,} leaves, {cores} cores", f"{f['native_par_s']:.2f} s", "≤ 1 s",
         f"{f['pure_par_s']:.2f} s"),
        (f"commit K+V, {2 * n:,} leaves, 1 thread", f"{f['native_one_s']:.2f} s", "",
         f"{f['pure_one_s']:.2f} s"),
    ]


def bench_model(keys: np.ndarray, values: np.ndarray, s_k: float, s_v: float) -> CommittedModel:
    """The one-layer model of these quantised matrices (trees built with the batch keccak)."""
    hashing.use_native(True)
    spec = LayerSpec(d_in=D, d_out=D, n=keys.shape[0], k=K, beta=BETA, s_k=s_k, s_v=s_v)
    trees = [(build_matrix_tree(0, MATRIX_K, keys), build_matrix_tree(0, MATRIX_V, values))]
    return commit_model("bench", [CommittedLayer(keys, values, spec)], trees=trees)


def verify_figures(model: CommittedModel, xs: np.ndarray) -> dict[str, float]:
    """Median ms of verify() of ``model``'s one layer (``native_verify_ms``, ``pure_verify_ms``)
    and of its hashing part (``native_hash_ms``, ``pure_hash_ms``), batch keccak vs pure, on
    the same answers (proven with exact search)."""
    hashing.use_native(True)
    spec = model.layers[0].spec
    prover = Prover(model, bytes(range(1, 33)))
    answers = [prover.prove(x) for x in xs]
    ghost, root = model.ghost, model.ghost_root
    figures = {}
    for mode, name in ((True, "native"), (False, "pure")):
        hashing.use_native(mode)
        whole, cols = [], []
        for resp in answers:
            whole.append(best_of(lambda r=resp: verify(r, ghost, root), 5))
            lp = resp.layers[0]
            cols.append(best_of(lambda lp=lp: check_columns(0, lp, spec, ghost), 5))
        figures[f"{name}_verify_ms"] = statistics.median(whole) * 1e3
        figures[f"{name}_hash_ms"] = statistics.median(cols) * 1e3
    hashing.use_native(True)
    return figures


def verify_rows(keys: np.ndarray, values: np.ndarray, s_k: float, s_v: float, xs: np.ndarray) -> list[Row]:
    """:func:`verify_figures` as table rows."""
    f = verify_figures(bench_model(keys, values, s_k, s_v), xs)
    return [
        (f"verify one layer, N = {keys.shape[0]:,}, k = {K} (whole verify())",
         f"{f['native_verify_ms']:.3f} ms", "≤ 0.3 ms", f"{f['pure_verify_ms']:.3f} ms"),
        ("  of which leaves + multiproofs", f"{f['native_hash_ms']:.3f} ms", "",
         f"{f['pure_hash_ms']:.3f} ms"),
    ]


def cold_start_rows(runs: int) -> list[Row]:
    """``ghostproof verify`` of examples/digits as a fresh process, median of ``runs``."""
    ex = ROOT / "examples" / "digits"
    exe = Path(sys.executable).with_name("ghostproof")
    root = (ex / "root.txt").read_text().strip()
    files = ["--ghost", str(ex / "ghost.json"), "--request", str(ex / "request.json")]
    cmd = [str(exe), "verify", str(ex / "answer.json"), *files, "--root", root]

    def run(env: dict[str, str]) -> float:
        t = time.perf_counter()
        subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True)
        return time.perf_counter() - t

    def median(env: dict[str, str]) -> float:
        return statistics.median(run(env) for _ in range(runs))

    run({"GHOSTPROOF_KECCAK": "native"})  # the kernels are in the on-disk cache from here on
    pure = median({"GHOSTPROOF_KECCAK": "pure"})
    auto = median({})
    native = median({"GHOSTPROOF_KECCAK": "native"})
    with tempfile.TemporaryDirectory() as cache:
        first = run({"GHOSTPROOF_KECCAK": "native", "NUMBA_CACHE_DIR": cache})
    what = "`ghostproof verify` examples/digits"
    return [
        (f"{what}, default (auto)", f"{auto:.2f} s", "", f"{pure:.2f} s"),
        (f"{what}, GHOSTPROOF_KECCAK=native, kernels cached", f"{native:.2f} s", "", f"{pure:.2f} s"),
        (f"{what}, native, first run on a machine (compile)", f"{first:.2f} s", "", f"{pure:.2f} s"),
    ]


def main() -> None:
    """Parse the options, run the three measurements, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="columns per matrix (default 10^6)")
    ap.add_argument("--queries", type=int, default=20, help="answers verified (default 20)")
    ap.add_argument("--repeat", type=int, default=3, help="native commit runs, best kept (default 3)")
    ap.add_argument("--cold-runs", type=int, default=3, help="runs per cold-start figure (default 3)")
    args = ap.parse_args()

    print(f"# N = {args.n:,}, d = {D}, k = {K}; {os.cpu_count()} cores; generating data", file=sys.stderr)
    patterns = structured_patterns(args.n, D, seed=1)
    keys, s_k = quantise_keys(patterns)
    values, s_v = quantise_values(random_values(args.n, D, seed=2))
    xs, _ = noisy_queries(patterns, args.queries, 0.3, seed=3)
    del patterns
    rows = commit_rows(keys, values, args.repeat)
    rows += verify_rows(keys, values, s_k, s_v, xs)
    rows += cold_start_rows(args.cold_runs)
    hashing.use_native(True)
    print("| figure | batch keccak | target | pure Python (same process) |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
