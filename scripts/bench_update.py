"""Benchmark sparse updates (DESIGN §10, docs/PROTOCOL.md §14); ``make bench-update``.

At N = 10^6, d = 256, k = 32 (one structured synthetic layer, built once and cached under
bench-out/update/): the time of one training step and its new ghostRoot (exact retrieval, the
rule, the touched Merkle paths and chunk CIDs) against recommitting the whole layer (both
trees rebuilt on every core); the update proof's bytes against a query's; the verify time;
the chunks a publish stores anew. Then the digits model learns 50 held-out samples (every
misclassified one, the rest drawn at random): accuracy on them and on the others, before and
after. Each figure is printed beside its target.

    .venv/bin/python scripts/bench_update.py [--n 1000000] [--trials 20] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.ghost import UpdateRule
from ghostproof.protocol.layer import int_scores, layer_forward, quantise_query, top1, top_k
from ghostproof.protocol.response_json import dumps_response
from ghostproof.protocol.update import Example, dumps_update, one_hot_target, verify_update
from ghostproof.prover.commit import commit_model, matrix_tree, quantise_layer
from ghostproof.prover.index import ExactRetriever
from ghostproof.prover.modeldir import load_model_dir, write_model_dir
from ghostproof.prover.presets import digits_model, synthetic_model
from ghostproof.prover.prove import Prover
from ghostproof.prover.update import DEFAULT_LR_K, DEFAULT_LR_V, compute_update, declare_update_rule

ROOT = Path(__file__).resolve().parents[1]
KEY = bytes(31) + b"\x01"


def _model_dir(n: int, d: int, k: int) -> Path:
    """The cached trainable model directory (built on first use)."""
    path = ROOT / "bench-out" / "update" / f"n{n}-d{d}-k{k}"
    if not (path / "ghost.json").exists():
        print(f"building the N={n} model into {path} (once) …", flush=True)
        fm = synthetic_model(n, d, layers=1, k=k, seed=0, kind="structured", n_samples=256)
        write_model_dir(path, fm, order=True, index=False)
        declare_update_rule(path)
    return path


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def bench_large(n: int, d: int, k: int, trials: int) -> list[tuple[str, str, str]]:
    """Step, recommit, proof size, verify and chunk figures at N = n."""
    md = load_model_dir(_model_dir(n, d, k))
    model = md.model
    lay = model.layers[0]
    retriever = ExactRetriever(lay.keys)
    rng = np.random.default_rng(1)
    steps, selects, verifies, sizes, chunks, positions = [], [], [], [], [], []
    for t in range(trials + 1):
        x = np.asarray(md.samples[t % len(md.samples)], dtype=np.float32)
        ex = [Example(x, rng.integers(-127, 128, d).astype(np.int8))]
        started = time.perf_counter()
        retriever.search(quantise_query(x), 4 * k)
        select = time.perf_counter() - started
        started = time.perf_counter()
        step = compute_update(model, ex, [retriever])
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        verify_update(step.proof, step.old_ghost, step.new_ghost)
        verified = time.perf_counter() - started
        if t == 0:
            continue  # warm-up
        steps.append(elapsed)
        selects.append(select)
        verifies.append(verified)
        sizes.append(len(dumps_update(step.proof, compact=True)))
        chunks.append(len(step.changed_chunk_refs))
        positions.append(len(step.positions))
    started = time.perf_counter()
    matrix_tree(0, MATRIX_K, np.asarray(lay.keys))
    matrix_tree(0, MATRIX_V, np.asarray(lay.values))
    recommit = time.perf_counter() - started
    prover = Prover(model, KEY, [retriever])
    query = statistics.median(
        len(dumps_response(prover.prove(np.asarray(md.samples[i], np.float32)), compact=True))
        for i in range(5)
    )
    step_ms, select_ms = _median_ms(steps), _median_ms(selects)
    speed = recommit * 1e3 / step_ms
    speed_no_select = recommit * 1e3 / max(step_ms - select_ms, 1e-9)
    size = statistics.median(sizes)
    return [
        (f"one step + new ghostRoot (N={n}, d={d}, k={k}, exact retrieval)", f"{step_ms:.1f} ms",
         "—"),
        ("  of which exact retrieval (the same as a query's)", f"{select_ms:.1f} ms", "—"),
        ("recommit the layer (both trees, every core)", f"{recommit:.2f} s", "—"),
        ("speed-up, step vs recommit", f"{speed:.0f}×", "≥ 300×"),
        ("speed-up, step without retrieval vs recommit", f"{speed_no_select:.0f}×", "≥ 300×"),
        ("update proof bytes per step (JSON, compact)", f"{size:.0f} B ({size / query:.2f}× a query's "
         f"{query:.0f} B)", "≤ 2×"),
        ("verify one step", f"{_median_ms(verifies):.2f} ms", "≤ 5 ms"),
        ("touched columns per step", f"{statistics.median(positions):.0f}", "k"),
        ("chunks re-published per step (median, max)", f"{statistics.median(chunks):.0f}, {max(chunks)}",
         "few"),
    ]


def _predict(model, xs: np.ndarray) -> np.ndarray:
    lay = model.layers[0]
    keys = np.asarray(lay.keys)
    out = []
    for x in xs:
        q = quantise_query(np.asarray(x, np.float32))
        sel = top_k(int_scores(q, keys), lay.spec.k)
        out.append(top1(layer_forward(q, keys[sel], lay.values[sel], lay.spec.logit_scale).output))
    return np.array(out)


def bench_digits(learn_count: int = 50) -> list[tuple[str, str, str]]:
    """Digits accuracy before and after learning ``learn_count`` held-out samples."""
    fm = digits_model()
    fl = fm.layers[0]
    lay = quantise_layer(fl.keys, fl.values, fl.beta, fl.k)
    rule = UpdateRule("sgd-v1", DEFAULT_LR_K, DEFAULT_LR_V)
    model = commit_model("digits", [replace(lay, spec=replace(lay.spec, update=rule))])
    xs, ys = fm.samples, fm.sample_labels
    before = _predict(model, xs)
    wrong = np.flatnonzero(before != ys)
    right = np.flatnonzero(before == ys)
    rng = np.random.default_rng(0)
    learn = np.concatenate([wrong, rng.choice(right, learn_count - len(wrong), replace=False)])
    rest = np.setdiff1d(np.arange(len(xs)), learn)
    examples = [Example(np.asarray(xs[i], np.float32), one_hot_target(int(ys[i]), 10)) for i in learn]
    step = compute_update(model, examples)
    keys, values = np.array(lay.keys), np.array(lay.values)
    keys[step.positions] = step.new_keys
    values[step.positions] = step.new_values
    after = _predict(replace(model, layers=(replace(model.layers[0], keys=keys, values=values),)), xs)

    def acc(pred: np.ndarray, idx: np.ndarray) -> str:
        return f"{(pred[idx] == ys[idx]).mean() * 100:.1f} %"

    return [
        (f"digits: the {len(learn)} learned held-out samples ({len(wrong)} misclassified before)",
         f"{acc(before, learn)} → {acc(after, learn)}", "↑"),
        (f"digits: the other {len(rest)} held-out samples", f"{acc(before, rest)} → {acc(after, rest)}",
         "no loss"),
        ("digits: columns touched by the batch", f"{len(step.positions)} of {lay.spec.n}", "—"),
    ]


def main() -> None:
    """Run both parts and print (and optionally save) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = bench_large(args.n, args.d, args.k, args.trials) + bench_digits()
    lines = ["| measure | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
