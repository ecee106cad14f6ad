"""Proving overhead over the sparse forward (issue 14): one process, the same queries, the same
retriever and breadth; ``prove()`` (forward + the two multiproofs + the receipt and its
signature) against the forward alone (quantise, HNSW + exact re-rank, exact integer softmax).

Uses the N = 10^6 structured index and keys ``make bench-safety`` caches in
bench-out/safety/n1000000/ (run that first), random int8 values, and both trees committed
with the batch keccak. Prints the medians and the overhead beside the ≤ 20 % target, at the
node's serving default (candidates_factor 64: breadth 2048) and at a benchmark breadth.

    .venv/bin/python scripts/bench_overhead.py [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostproof.protocol.ghost import LayerSpec  # noqa: E402
from ghostproof.protocol.layer import layer_forward, logit_scale, quantise_query  # noqa: E402
from ghostproof.prover.commit import CommittedLayer, commit_model, matrix_tree  # noqa: E402
from ghostproof.prover.index import HnswRetriever, select_top_k  # noqa: E402
from ghostproof.prover.prove import Prover  # noqa: E402

CACHE = ROOT / "bench-out" / "safety" / "n1000000"
K, BETA = 32, 30.0


def _median_ms(f, xs) -> float:
    times = []
    for x in xs:
        t = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    keys = np.load(CACHE / "keys.npy", mmap_mode="r")
    n, d = keys.shape
    rng = np.random.default_rng(0)
    values = rng.integers(-127, 128, size=(n, d), dtype=np.int8)
    s_k = float(json.loads((CACHE / "meta.json").read_text())["s_k"])
    spec = LayerSpec(d, d, n, K, BETA, s_k, 0.01)
    trees = [(matrix_tree(0, 0, np.asarray(keys)), matrix_tree(0, 1, values))]
    model = commit_model("overhead", [CommittedLayer(np.asarray(keys), values, spec)], trees=trees)
    hnsw = HnswRetriever.load(CACHE / "hnsw.bin", n, d)
    xs = np.load(CACHE / "queries10000.npy")[: args.queries].astype(np.float32)
    print("| N | breadth (candidates re-ranked) | forward ms | prove() ms | overhead | target |")
    print("|---:|---:|---:|---:|---:|---:|")
    for factor in (64, 12):
        breadth = max(factor * K, 384) if factor == 12 else factor * K
        hnsw.ef = breadth
        prover = Prover(model, bytes(range(1, 33)), [hnsw], candidates_factor=factor)
        scale = logit_scale(BETA, s_k)

        def forward(x: np.ndarray, breadth: int = breadth, scale: int = scale) -> None:
            q = quantise_query(x)
            sel = select_top_k(hnsw, q, model.layers[0].keys, K, breadth)
            layer_forward(q, model.layers[0].keys[sel], values[sel], scale)

        for x in xs[:20]:  # warm both paths
            forward(x)
            prover.prove(x)
        fwd = _median_ms(forward, xs)
        prv = _median_ms(prover.prove, xs)
        overhead = 100 * (prv - fwd) / fwd
        print(f"| {n:,} | {breadth} | {fwd:.2f} | {prv:.2f} | {overhead:.0f} % | ≤ 20 % |", flush=True)


if __name__ == "__main__":
    main()
