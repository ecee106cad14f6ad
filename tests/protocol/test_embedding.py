"""protocol/embedding.py and the embedding part of protocol/update.py (docs/PROTOCOL.md §14.6).

The header object round-trips and rejects each bad field; a header without it hashes as
before; leaves are the specified bytes; the embedding step equals an independent big-integer
transcription; the shared vectors (tests/vectors/update_embedding.json) regenerate byte for
byte and verify; every negative test changes one field of a valid proof.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.embedding import (
    EmbeddingSpec,
    embedding_chunks,
    embedding_leaf_hashes,
    embedding_tree,
    open_embedding_rows,
    token_counts,
    token_query,
    verify_embedding_rows,
)
from ghostproof.protocol.errors import (
    FormatError,
    GhostFileError,
    InputError,
    MultiproofError,
    UpdateProofError,
)
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.hashing import keccak256
from ghostproof.protocol.layer import quantise_query
from ghostproof.protocol.update import (
    Example,
    embedding_step,
    update_from_json,
    update_to_json,
    verify_update,
)
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "update_embedding.json"


def _script():
    return load_script("make_update_vectors")


@pytest.fixture(scope="module")
def vec() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def valid(vec):
    old = parse_ghost(vec["oldGhost"].encode())
    new = parse_ghost(vec["newGhost"].encode())
    return update_from_json(vec["proof"]), old, new


# ---------------------------------------------------------------- header, leaves, tree


def test_vectors_regenerate_identically():
    assert _script().render_embedding() == VECTORS.read_text(encoding="utf-8")


def test_header_round_trip_and_absence(vec):
    ghost = parse_ghost(vec["oldGhost"].encode())
    emb = ghost.header.embedding
    assert emb is not None and (emb.vocab, emb.dim, emb.lr_e) == (12, 4, vec["lrE"])
    bare = GhostFile(replace(ghost.header, embedding=None), ghost.roots)
    assert "embedding" not in bare.to_json()["header"]
    assert parse_ghost(bare.to_bytes()) == bare and bare.ghost_root != ghost.ghost_root
    table = np.array(vec["table"], dtype=np.int8)
    assert embedding_tree(table).root == emb.root and embedding_chunks(table) == emb.chunks


@pytest.mark.parametrize("field, value", [
    ("dim", 5), ("vocab", 0), ("vocab", True), ("scale", 0), ("scale", -1.0), ("lrE", 1 << 32), ("lrE", -1),
    ("root", "0x12"), ("chunks", "x"), ("extra", 1),
])
def test_bad_embedding_fields_are_rejected(vec, field, value):
    obj = json.loads(vec["oldGhost"])
    obj["header"]["embedding"][field] = value
    with pytest.raises(GhostFileError):
        EmbeddingSpec.from_json(obj["header"]["embedding"], 4)


def test_embedding_chunk_table_must_cover_every_row(vec):
    obj = json.loads(vec["oldGhost"])["header"]["embedding"]
    obj["chunks"][0]["count"] = 11
    with pytest.raises(GhostFileError, match="cover 11 of 12"):
        EmbeddingSpec.from_json(obj, 4)
    obj["chunks"][0]["first"] = 1
    with pytest.raises(GhostFileError):
        EmbeddingSpec.from_json(obj, 4)


def test_leaf_bytes():
    row = np.array([[1, -2, 3, -4]], dtype=np.int8)
    want = keccak256(struct.pack(">BHBI", 0, 0, 2, 7) + row.tobytes())
    assert embedding_leaf_hashes(row, [7]) == [want]
    with pytest.raises(FormatError):
        embedding_leaf_hashes(row, [1 << 32])


def test_openings_and_token_queries():
    table = np.random.default_rng(5).integers(-127, 128, size=(37, 6)).astype(np.int8)
    tree = embedding_tree(table)
    spec = EmbeddingSpec(37, 6, 0.01, tree.root, embedding_chunks(table))
    ids, counts = token_counts([30, 2, 30, 9])
    assert (ids, counts) == ((2, 9, 30), (1, 1, 2))
    proof = open_embedding_rows(tree, ids)
    verify_embedding_rows(spec, ids, table[list(ids)], proof)
    bad = table[list(ids)].copy()
    bad[1, 0] ^= 1
    with pytest.raises(MultiproofError):
        verify_embedding_rows(spec, ids, bad, proof)
    with pytest.raises(MultiproofError):
        verify_embedding_rows(spec, (2, 9, 37), table[[2, 9, 30]], proof)
    x = table[2].astype(np.int64) + table[9] + 2 * table[30].astype(np.int64)
    q = token_query(ids, counts, table[list(ids)])
    assert np.array_equal(q, quantise_query(x.astype(np.float64), 6))  # = the float input s_E · x
    with pytest.raises(InputError):
        token_query([0, 1], [1, 1], np.array([[3, -4], [-3, 4]], dtype=np.int8))


# ---------------------------------------------------------------- the rule


def _round_half_even(f: Fraction) -> int:
    n, d = f.numerator, f.denominator
    q, r = divmod(n, d)
    return q + 1 if 2 * r > d or (2 * r == d and q % 2) else q


@settings(max_examples=40, deadline=None)
@given(st.integers(0, (1 << 32) - 1), st.integers(1 << 24, 1 << 30), st.data())
def test_embedding_step_matches_the_specification(lr_e, total, data):
    d, t = 5, 3
    grad = np.array([data.draw(st.integers(-(1 << 100), 1 << 100)) for _ in range(d)], dtype=object)
    counts = [data.draw(st.integers(1, 4)) for _ in range(t)]
    rows = np.array(data.draw(st.lists(st.integers(-127, 127), min_size=t * d, max_size=t * d)),
                    dtype=np.int8).reshape(t, d)
    got = embedding_step(lr_e, grad, total, counts, rows)
    denom = total * (1 << 48) * 127 * 127
    for r in range(t):
        for i in range(d):
            step = _round_half_even(Fraction(lr_e * counts[r] * int(grad[i]), denom))
            assert got[r, i] == max(-127, min(127, int(rows[r, i]) - step))


# ---------------------------------------------------------------- the proof


def test_vector_proof_verifies(vec, valid):
    proof, old, new = valid
    result = verify_update(proof, old, new)
    assert result.embedding_rows == (2, 5, 7) and result.changed_embedding_rows >= 1
    assert update_to_json(proof) == vec["proof"]
    table = np.array(vec["table"], dtype=np.int8)
    assert np.array_equal(proof.old_embedding, table[[2, 5, 7]])
    last = {t: row for step in vec["steps"] if "ids" in step for t, row in zip(step["ids"], step["newRows"],
                                                                              strict=True)}
    assert proof.new_embedding.tolist() == [last[t] for t in (2, 5, 7)]


def _flip(arr: np.ndarray, r: int = 0, c: int = 0) -> np.ndarray:
    out = np.array(arr, copy=True)
    out[r, c] = 5 if out[r, c] != 5 else 6
    return out


def _first_tokens(p, tokens):
    return replace(p, examples=(Example.from_tokens(tokens, p.examples[0].target), *p.examples[1:]))


_MUTATIONS = {
    "old row byte": lambda p: replace(p, old_embedding=_flip(p.old_embedding)),
    "new row byte": lambda p: replace(p, new_embedding=_flip(p.new_embedding, 2, 3)),
    "rows dropped": lambda p: replace(p, embedding_rows=p.embedding_rows[:2],
                                      old_embedding=p.old_embedding[:2], new_embedding=p.new_embedding[:2]),
    "other row id": lambda p: replace(p, embedding_rows=(2, 5, 8)),
    "proof hash": lambda p: replace(p, embedding_proof=(bytes(32), *p.embedding_proof[1:])),
    "proof short": lambda p: replace(p, embedding_proof=p.embedding_proof[:-1]),
    "token changed": lambda p: _first_tokens(p, [2, 5, 3]),
    "token repeat dropped": lambda p: _first_tokens(p, [2, 5]),
    "no embedding": lambda p: replace(p, embedding_rows=(), old_embedding=None, new_embedding=None,
                                      embedding_proof=()),
}


@pytest.mark.parametrize("name", sorted(_MUTATIONS))
def test_one_changed_field_is_rejected(valid, name):
    proof, old, new = valid
    with pytest.raises((UpdateProofError, MultiproofError)):
        verify_update(_MUTATIONS[name](proof), old, new)


def test_token_order_is_immaterial(valid):
    """x is a sum: the same tokens in another order are the same example (and still verify)."""
    proof, old, new = valid
    assert verify_update(_first_tokens(proof, [5, 2, 2]), old, new).embedding_rows == (2, 5, 7)


def _reheader(ghost: GhostFile, **changes) -> GhostFile:
    emb = replace(ghost.header.embedding, **changes)
    return GhostFile(replace(ghost.header, embedding=emb), ghost.roots)


@pytest.mark.parametrize("change", [{"lr_e": 1}, {"scale": 0.5}, {"root": bytes(32)}])
def test_embedding_header_changes_are_rejected(valid, change):
    proof, old, new = valid
    forged = _reheader(new, **change)
    with pytest.raises((UpdateProofError, MultiproofError)):
        verify_update(replace(proof, new_ghost_root=forged.ghost_root), old, forged)


def test_float_only_batch_must_keep_the_embedding(vec, valid):
    proof, old, new = valid
    forged = _reheader(old, root=new.header.embedding.root)
    float_only = replace(proof, examples=(proof.examples[1],), selections=(proof.selections[1],),
                         taus=(proof.taus[1],), embedding_rows=(), old_embedding=None, new_embedding=None,
                         embedding_proof=(), new_ghost_root=forged.ghost_root)
    with pytest.raises(UpdateProofError, match="no embedding row is touched"):
        verify_update(float_only, old, forged)
    bare = GhostFile(replace(new.header, embedding=None), new.roots)
    with pytest.raises(UpdateProofError):
        verify_update(replace(proof, new_ghost_root=bare.ghost_root), old, bare)


def test_json_strictness(vec):
    obj = json.loads(json.dumps(vec["proof"]))
    del obj["embeddingProof"]
    with pytest.raises(FormatError, match="all of"):
        update_from_json(obj)
    obj = json.loads(json.dumps(vec["proof"]))
    obj["examples"][0]["input"] = [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(FormatError, match="one of"):
        update_from_json(obj)
    obj = json.loads(json.dumps(vec["proof"]))
    obj["examples"][0]["tokens"] = []
    with pytest.raises(FormatError):
        update_from_json(obj)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, (1 << 32) - 1), min_size=1, max_size=6), min_size=1, max_size=3))
def test_json_round_trip_hypothesis(valid, token_lists):
    proof = valid[0]
    examples = tuple(Example.from_tokens(t, proof.examples[0].target) for t in token_lists)
    sels = (proof.selections[0],) * len(examples)
    p = replace(proof, examples=examples, selections=sels, taus=(0,) * len(examples))
    back = update_from_json(json.loads(json.dumps(update_to_json(p))))
    assert [e.tokens for e in back.examples] == [tuple(t) for t in token_lists]
    assert update_to_json(back) == update_to_json(p)
