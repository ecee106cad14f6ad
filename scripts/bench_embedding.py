"""Benchmark: sparse updates of an embedding input layer (docs/PROTOCOL.md §14.6).

A one-layer model (N keys of d = 256, k = 32) with an embedding of vocab 50,000 × 256 (lrE
declared); batches of token examples (8 random tokens each). Per batch size: embedding rows
touched, the update proof's bytes (compact JSON) and the part the embedding adds, the
prover's compute time and verify_update's time. Deterministic inputs (seeded).

    .venv/bin/python scripts/bench_embedding.py [--vocab 50000] [--dim 256] [--n 8192]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from ghostproof.protocol.ghost import GhostFile, LayerSpec, UpdateRule
from ghostproof.protocol.update import Example, dumps_update, one_hot_target, verify_update
from ghostproof.prover.commit import CommittedLayer, commit_model
from ghostproof.prover.embedding import commit_embedding, random_embedding
from ghostproof.prover.update import compute_update


def setup(vocab: int, dim: int, n: int, k: int, d_out: int):
    """The committed model (rule declared) and its committed embedding."""
    rng = np.random.default_rng(0)
    keys = rng.integers(-127, 128, size=(n, dim)).astype(np.int8)
    values = np.zeros((n, d_out), dtype=np.int8)
    values[np.arange(n), np.arange(n) % d_out] = 127
    rule = UpdateRule("sgd-v1", 1 << 16, 4 << 16)
    spec = LayerSpec(d_in=dim, d_out=d_out, n=n, k=k, beta=8.0, s_k=1 / 127, s_v=1 / 127, update=rule)
    model = commit_model("bench-embedding", [CommittedLayer(keys, values, spec)])
    started = time.perf_counter()
    table, scale = random_embedding(vocab, dim, seed=1)
    emb = commit_embedding(table, scale, lr_e=1 << 12)
    commit_s = time.perf_counter() - started
    ghost = GhostFile(replace(model.ghost.header, embedding=emb.spec), model.ghost.roots)
    return replace(model, ghost=ghost), emb, commit_s


def run(batch: int, model, emb, tokens_per_example: int, d_out: int) -> dict[str, float]:
    """One batch: rows touched, proof bytes (total / embedding part), prove and verify seconds."""
    rng = np.random.default_rng(batch)
    examples = [Example.from_tokens(rng.integers(0, emb.spec.vocab, tokens_per_example).tolist(),
                                    one_hot_target(int(rng.integers(d_out)), d_out)) for _ in range(batch)]
    started = time.perf_counter()
    step = compute_update(model, examples, embedding=emb)
    prove_s = time.perf_counter() - started
    proof = step.proof
    total = len(dumps_update(proof, compact=True))
    bare = replace(proof, embedding_rows=(), old_embedding=None, new_embedding=None, embedding_proof=())
    started = time.perf_counter()
    result = verify_update(proof, step.old_ghost, step.new_ghost)
    verify_s = time.perf_counter() - started
    return {"batch": batch, "rows": len(result.embedding_rows), "changed": result.changed_embedding_rows,
            "hashes": len(proof.embedding_proof), "bytes": total,
            "embedding_bytes": total - len(dumps_update(bare, compact=True)),
            "prove_s": prove_s, "verify_s": verify_s}


def main() -> None:
    """Print the table (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=8)
    args = parser.parse_args()
    d_out = 16
    model, emb, commit_s = setup(args.vocab, args.dim, args.n, args.k, d_out)
    print(f"embedding {args.vocab} × {args.dim} (depth {emb.spec.depth}, {len(emb.spec.chunks)} chunks) "
          f"committed in {commit_s:.2f} s; layer N = {args.n}, k = {args.k}; "
          f"{args.tokens} tokens per example\n")
    run(1, model, emb, args.tokens, d_out)  # warm-up (loads the batch keccak)
    print("| examples | rows touched | rows changed | E proof hashes | proof bytes | of which E "
          "| prove s | verify s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in (1, 4, 16, 64):
        r = run(batch, model, emb, args.tokens, d_out)
        print(f"| {r['batch']} | {r['rows']} | {r['changed']} | {r['hashes']} | {r['bytes']:,} | "
              f"{r['embedding_bytes']:,} | {r['prove_s']:.3f} | {r['verify_s']:.3f} |")


if __name__ == "__main__":
    main()
