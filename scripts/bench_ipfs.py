"""Benchmark publish / fetch throughput and audit time, local store and Kubo (DESIGN §4).

Builds a synthetic model (default one layer, 10^5 columns, d = 256: K and V 25.6 MB each),
then measures: publish and fetch through the embedded local store; publish into an
in-process Kubo node A and fetch from a second node B over bitswap (both on 127.0.0.1);
audit of the fetched directory and of the model straight from the store. Prints a JSON
summary and a Markdown table (for docs/IPFS.md).

    .venv/bin/python scripts/bench_ipfs.py --n 100000 --d 256
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ghostproof.adapters.storage.store import KuboStore, LocalStore
from ghostproof.adapters.storage.synthetic import write_synthetic_model
from ghostproof.adapters.storage.transfer import fetch, matrix_bytes, publish
from ghostproof.verifier.audit import audit_dir, audit_store


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """(``fn(*args, **kwargs)``, the seconds it took)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    """Build a synthetic model, time each step, print the JSON summary (and a markdown table)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="columns per matrix")
    parser.add_argument("--d", type=int, default=256, help="dimension (d_in = d_out)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args()

    rows: list[tuple[str, float, float]] = []  # (what, seconds, MB)
    with tempfile.TemporaryDirectory(prefix="bench-ipfs-") as tmp:
        base = Path(tmp)
        ghost, build_s = timed(
            write_synthetic_model, base / "model", n=args.n, dims=(args.d,) * (args.layers + 1)
        )
        mb = matrix_bytes(ghost) / 1e6
        chunks = len(ghost.header.chunks)

        local = LocalStore(base / "local")
        report, s = timed(publish, base / "model", local)
        rows.append(("publish, local store", s, mb))
        _, s = timed(publish, base / "model", local)
        rows.append(("publish re-run, local store (nothing missing)", s, mb))
        _, s = timed(fetch, report.ghost_cid, local, base / "out-local")
        rows.append(("fetch, local store", s, mb))

        node_a = KuboStore(base / "kubo-a")
        node_b = KuboStore(base / "kubo-b", peers=node_a.addresses)
        try:
            _, s = timed(publish, base / "model", node_a)
            rows.append(("publish, Kubo node (libkubo, in-process)", s, mb))
            _, s = timed(fetch, report.ghost_cid, node_b, base / "out-kubo", timeout=60)
            rows.append(("fetch, Kubo node B from node A over bitswap (loopback)", s, mb))
            _, s = timed(fetch, report.ghost_cid, node_b, base / "out-kubo2", timeout=60)
            rows.append(("fetch again, Kubo node B (blocks now local)", s, mb))
        finally:
            node_b.close()
            node_a.close()

        audit, s = timed(audit_dir, base / "out-local", expected_ghost_root=ghost.ghost_root)
        assert audit.ok
        rows.append(("audit of a model directory (rebuild roots + ghostRoot)", s, mb))
        audit, s = timed(audit_store, report.ghost_cid, local, expected_ghost_root=ghost.ghost_root)
        assert audit.ok
        rows.append(("audit from the local store (fetch + check CIDs + rebuild)", s, mb))

    summary = {
        "model": {"n": args.n, "d": args.d, "layers": args.layers, "MB": round(mb, 1), "chunks": chunks},
        "build_s": round(build_s, 2),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "results": [
            {"what": what, "seconds": round(sec, 3), "MB_per_s": round(size / sec, 1)}
            for what, sec, size in rows
        ],
    }
    print(json.dumps(summary, indent=2))
    if not args.json:
        print(f"\n{args.layers} layer(s), N = {args.n}, d = {args.d}: {mb:.1f} MB in {chunks} chunks\n")
        print("| step | seconds | MB/s |\n|---|---:|---:|")
        for what, sec, size in rows:
            print(f"| {what} | {sec:.2f} | {size / sec:.0f} |")


if __name__ == "__main__":
    main()
