"""``Prover.prove_batch`` against a loop of ``Prover.prove`` (issue 14): per-query ms at batch
sizes 1, 4, 16, 64, in one process, on the same queries, the same prover and retriever.

    .venv/bin/python scripts/bench_prove_batch.py [--sizes 100000,1000000] [--queries 256]

N = 10^5: the structured model ``make bench-node`` caches (bench-out/bench_node/, HNSW,
d = 256, k = 32, served at the node's defaults: candidates_factor 64, breadth 2048).
N = 10^6: the structured keys and HNSW index ``make bench-safety`` caches in
bench-out/safety/n1000000/ with random int8 values and both trees committed, as
scripts/bench_overhead.py. Each block of ``b`` queries is proven both ways, alternately
first (a second search of the same query runs faster: its graph nodes are in cache), every
answer checked equal; the medians over the blocks, per query. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostproof.protocol.ghost import LayerSpec  # noqa: E402
from ghostproof.prover.commit import CommittedLayer, commit_model, matrix_tree  # noqa: E402
from ghostproof.prover.index import HnswRetriever  # noqa: E402
from ghostproof.prover.prove import Prover  # noqa: E402

KEY = bytes(range(1, 33))
NODE_MODEL = ROOT / "bench-out" / "bench_node" / "model-n100000-d256-k32-structured"
SAFETY_1E6 = ROOT / "bench-out" / "safety" / "n1000000"
K, BETA = 32, 30.0


def prover_1e5(queries: int) -> tuple[Prover, np.ndarray]:
    """The bench-node model's prover (its HNSW index) and ``queries`` noisy samples."""
    from ghostproof.prover.modeldir import load_model_dir, make_prover

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_node import input_pool

    if not NODE_MODEL.exists():
        raise SystemExit(f"{NODE_MODEL} is missing: run make bench-node first")
    prover = make_prover(load_model_dir(NODE_MODEL), private_key=KEY)
    return prover, input_pool(NODE_MODEL, size=queries)


def prover_1e6(queries: int) -> tuple[Prover, np.ndarray]:
    """The N = 10^6 cached keys and index with random values, both trees committed."""
    keys = np.load(SAFETY_1E6 / "keys.npy", mmap_mode="r")
    n, d = keys.shape
    values = np.random.default_rng(0).integers(-127, 128, size=(n, d), dtype=np.int8)
    s_k = float(json.loads((SAFETY_1E6 / "meta.json").read_text())["s_k"])
    spec = LayerSpec(d, d, n, K, BETA, s_k, 0.01)
    trees = [(matrix_tree(0, 0, np.asarray(keys)), matrix_tree(0, 1, values))]
    model = commit_model("batch", [CommittedLayer(np.asarray(keys), values, spec)], trees=trees)
    hnsw = HnswRetriever.load(SAFETY_1E6 / "hnsw.bin", n, d)
    xs = np.load(SAFETY_1E6 / "queries10000.npy")[:queries].astype(np.float32)
    return Prover(model, KEY, [hnsw]), xs


def per_query_ms(prover: Prover, xs: np.ndarray, b: int) -> tuple[float, float]:
    """Median ms per query over blocks of ``b`` queries: (a loop of prove, one prove_batch)."""
    loop, batch = [], []
    blocks = max(1, len(xs) // b)
    for j in range(blocks):
        block = xs[j * b:(j + 1) * b]
        nonces = [bytes([i % 256]) * 32 for i in range(len(block))]
        timed = {}
        for way in (("loop", "batch") if j % 2 == 0 else ("batch", "loop")):
            started = time.perf_counter()
            if way == "loop":
                out = [prover.prove(x, n) for x, n in zip(block, nonces, strict=True)]
            else:
                out = prover.prove_batch(list(block), nonces)
            timed[way] = (time.perf_counter() - started) * 1e3 / len(block), out
        if [r.digest() for r in timed["loop"][1]] != [r.digest() for r in timed["batch"][1]]:
            raise RuntimeError(f"prove_batch differs from prove at batch {b}")
        loop.append(timed["loop"][0])
        batch.append(timed["batch"][0])
    return statistics.median(loop), statistics.median(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="N values (100000 and/or 1000000)")
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--queries", type=int, default=256, help="queries per batch size (≥ the batch)")
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load}\n")
    print("| N | batch | loop of prove, ms/query | prove_batch, ms/query | batch / loop |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        prover, xs = (prover_1e5 if n == 100_000 else prover_1e6)(args.queries)
        for x in xs[:16]:  # warm the index and the trees
            prover.prove(x)
        for b in (int(s) for s in args.batches.split(",")):
            loop, batch = per_query_ms(prover, xs, b)
            print(f"| {n:,} | {b} | {loop:.2f} | {batch:.2f} | {batch / loop:.2f} |", flush=True)


if __name__ == "__main__":
    main()
