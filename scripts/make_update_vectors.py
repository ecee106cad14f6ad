"""Write tests/vectors/update.json: the shared test vectors of sparse updates (PROTOCOL §14).

A toy one-layer model (N = 16, d_in = 4, d_out = 3, k = 3) with the rule sgd-v1 declared, a
batch of three examples (the third repeats the first, so selections overlap and the second
step sees the first's weights), the update proof in its JSON form, both ghost files, every
intermediate of each step (q, S, scores, e, E, y, r, δ), and ``scaledRound`` cases (exact
ties, negative values, large coefficients) of the one rounding the rule uses. Deterministic:
``tests/protocol/test_update.py`` regenerates it and compares byte for byte.

A second file, tests/vectors/update_embedding.json (PROTOCOL §14.6), holds the same toy model
with an embedding input layer (vocab 12, lrE declared), a batch mixing token and float examples
(token 2 repeated, token 5 shared by two examples), the proof with its embedding rows, both ghost
files, and each token step's intermediates (distinct ids, counts, x = Σ rows, q, the query
gradient G, the new rows).

    .venv/bin/python scripts/make_update_vectors.py [--out tests/vectors/update.json]
                                                    [--out-embedding tests/vectors/update_embedding.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ghostproof.protocol.embedding import token_counts, token_sum
from ghostproof.protocol.ghost import GhostFile, LayerSpec, UpdateRule
from ghostproof.protocol.layer import (
    OUTPUT_FRAC_BITS,
    combine,
    int_scores,
    quantise_query,
    softmax_numerators,
)
from ghostproof.protocol.update import (
    Example,
    embedding_step,
    one_hot_target,
    scaled_round,
    sgd_step,
    update_to_json,
)
from ghostproof.prover.commit import CommittedLayer, CommittedModel, commit_model
from ghostproof.prover.embedding import CommittedEmbedding, commit_embedding
from ghostproof.prover.update import compute_update

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "vectors" / "update.json"
DEFAULT_OUT_EMBEDDING = ROOT / "tests" / "vectors" / "update_embedding.json"
LR_E = 1 << 14
RULE = UpdateRule("sgd-v1", lr_k=1 << 16, lr_v=4 << 16)


def toy_model():
    """The committed toy model (fixed integers, no randomness beyond a seeded generator)."""
    rng = np.random.default_rng(14)
    keys = rng.integers(-127, 128, size=(16, 4)).astype(np.int8)
    values = np.zeros((16, 3), dtype=np.int8)
    values[np.arange(16), np.arange(16) % 3] = 127
    spec = LayerSpec(d_in=4, d_out=3, n=16, k=3, beta=8.0, s_k=1 / 127, s_v=1 / 127, update=RULE)
    return commit_model("toy-update", [CommittedLayer(keys, values, spec)])


def examples(model) -> list[Example]:
    """Three examples: two inputs near stored keys with the 'wrong' class, the first again."""
    keys = np.asarray(model.layers[0].keys, dtype=np.float32)
    x0 = keys[3] + np.float32(0.5)
    x1 = keys[10] - np.float32(0.25)
    return [
        Example(x0, one_hot_target(1, 3)),
        Example(x1, np.array([-20, 64, 127], dtype=np.int8)),
        Example(x0, one_hot_target(1, 3)),
    ]


def step_trace(model, proof) -> list[dict]:
    """Every intermediate of each step, replayed on the revealed columns."""
    spec = model.layers[0].spec
    pos = list(proof.positions)
    keys = np.array(proof.old_keys)
    values = np.array(proof.old_values)
    out = []
    for ex, sel in zip(proof.examples, proof.selections, strict=True):
        rows = [pos.index(j) for j in sel]
        q = quantise_query(ex.x, spec.d_in)
        scores = int_scores(q, keys[rows]).astype(np.int64)
        e = softmax_numerators(scores, spec.logit_scale)
        y = combine(e, values[rows])
        r = y - (ex.target.astype(np.int64) << OUTPUT_FRAC_BITS)
        diff = (values[rows].astype(np.int64) << OUTPUT_FRAC_BITS) - y[None, :]
        step = sgd_step(spec.update, spec.logit_scale, q, keys[rows], values[rows], ex.target)
        out.append({
            "q": [int(v) for v in q], "selected": list(sel), "scores": [int(v) for v in scores],
            "e": [int(v) for v in e], "E": int(e.sum()), "y": [int(v) for v in y], "r": [int(v) for v in r],
            "delta": [str(int(sum(int(a) * int(b) for a, b in zip(d, r, strict=True)))) for d in diff],
            "newKeys": step.new_keys.tolist(), "newValues": step.new_values.tolist(),
        })
        keys[rows] = step.new_keys
        values[rows] = step.new_values
    return out


def scaled_round_cases() -> list[dict]:
    """Edge cases of round_half_even(coef · z / denom): exact halves both ways, signs, big rows."""
    cases = [
        ([1, 3, -1], [[1, -1, 2, -2, 3]] * 3, 2),  # halves: ±0.5, ±1, ±1.5 …
        ([5, -5], [[1, 2, 3, -3, 0]] * 2, 10),
        ([(1 << 70) + 1, 7], [[1, -1, 5]] * 2, 1 << 40),  # a row beyond the fast path
        ([123456789012345, -98765432109876], [[127, -127, 64]] * 2, (1 << 56) * 3 + 1),
    ]
    out = []
    for coefs, z, denom in cases:
        res = scaled_round(coefs, np.array(z, dtype=np.int64), denom)
        out.append({"coefs": [str(c) for c in coefs], "z": z, "denom": str(denom),
                    "out": [[str(int(v)) for v in row] for row in res]})
    return out


def build() -> dict:
    """The whole vector file as a JSON-able dict."""
    model = toy_model()
    step = compute_update(model, examples(model))
    return {
        "description": "sparse updates, docs/PROTOCOL.md §14 (scripts/make_update_vectors.py)",
        "rule": RULE.to_json(),
        "oldGhost": step.old_ghost.to_bytes().decode(),
        "newGhost": step.new_ghost.to_bytes().decode(),
        "proof": update_to_json(step.proof),
        "steps": step_trace(model, step.proof),
        "scaledRound": scaled_round_cases(),
    }


def render() -> str:
    """The file's exact text."""
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


def toy_embedded() -> tuple[CommittedModel, CommittedEmbedding]:
    """The toy model with a seeded 12-token embedding (dim 4, lrE = 2^14) in its header."""
    model = toy_model()
    rng = np.random.default_rng(13)
    table = rng.integers(-127, 128, size=(12, 4)).astype(np.int8)
    emb = commit_embedding(table, 1 / 127, lr_e=LR_E)
    ghost = GhostFile(replace(model.ghost.header, embedding=emb.spec), model.ghost.roots)
    return replace(model, ghost=ghost), emb


def embedding_examples(model: CommittedModel) -> list[Example]:
    """Token 2 twice, then a float input, then tokens 5 (again) and 7."""
    x = np.asarray(model.layers[0].keys, dtype=np.float32)[6] + np.float32(0.5)
    return [
        Example.from_tokens([2, 5, 2], one_hot_target(1, 3)),
        Example(x, one_hot_target(0, 3)),
        Example.from_tokens([5, 7], np.array([0, -64, 127], dtype=np.int8)),
    ]


def embedding_trace(model: CommittedModel, proof) -> list[dict]:
    """Each token example's intermediates, replayed on the revealed columns and rows."""
    spec = model.layers[0].spec
    pos, ids = list(proof.positions), list(proof.embedding_rows)
    keys, values, rows = (np.array(a) for a in (proof.old_keys, proof.old_values, proof.old_embedding))
    out = []
    for ex, sel in zip(proof.examples, proof.selections, strict=True):
        cols = [pos.index(j) for j in sel]
        entry: dict = {"selected": list(sel)}
        if ex.tokens is None:
            q = quantise_query(ex.x, spec.d_in)
        else:
            distinct, counts = token_counts(ex.tokens)
            at = [ids.index(t) for t in distinct]
            x = token_sum(distinct, counts, rows[at])
            q = quantise_query(x.astype(np.float64), spec.d_in)
            entry.update({"tokens": list(ex.tokens), "ids": list(distinct), "counts": list(counts),
                          "x": [int(v) for v in x]})
        step = sgd_step(spec.update, spec.logit_scale, q, keys[cols], values[cols], ex.target,
                        with_gradient=True)
        entry["q"] = [int(v) for v in q]
        if ex.tokens is not None:
            new_rows = embedding_step(LR_E, step.gradient, step.total, counts, rows[at])
            entry.update({"E": step.total, "gradient": [str(int(g)) for g in step.gradient],
                          "newRows": new_rows.tolist()})
            rows[at] = new_rows
        keys[cols], values[cols] = step.new_keys, step.new_values
        out.append(entry)
    return out


def build_embedding() -> dict:
    """The embedding vector file as a JSON-able dict."""
    model, emb = toy_embedded()
    step = compute_update(model, embedding_examples(model), embedding=emb)
    return {
        "description": "sparse updates of an embedding input layer, docs/PROTOCOL.md §14.6 "
                       "(scripts/make_update_vectors.py)",
        "table": np.asarray(emb.table).tolist(),
        "lrE": LR_E,
        "oldGhost": step.old_ghost.to_bytes().decode(),
        "newGhost": step.new_ghost.to_bytes().decode(),
        "proof": update_to_json(step.proof),
        "steps": embedding_trace(model, step.proof),
    }


def render_embedding() -> str:
    """The embedding vector file's exact text."""
    return json.dumps(build_embedding(), indent=1, sort_keys=True) + "\n"


def main() -> None:
    """Write the vectors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--out-embedding", type=Path, default=DEFAULT_OUT_EMBEDDING)
    args = parser.parse_args()
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")
    args.out_embedding.write_text(render_embedding(), encoding="utf-8")
    print(f"wrote {args.out_embedding}")


if __name__ == "__main__":
    main()
