"""protocol/update.py: the rule sgd-v1 to the bit, the update proof, its verifier and JSON form.

The rule is checked against an independent big-integer transcription of docs/PROTOCOL.md §14;
the shared vectors (tests/vectors/update.json) are regenerated and compared byte for byte;
every negative test changes one field of a valid proof.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.errors import (
    FormatError,
    GhostFileError,
    MultiproofError,
    RootMismatchError,
    UpdateProofError,
)
from ghostproof.protocol.ghost import GhostFile, LayerSpec, UpdateRule, parse_ghost
from ghostproof.protocol.layer import combine, int_scores, softmax_numerators
from ghostproof.protocol.update import (
    Example,
    UpdateProof,
    loads_update,
    one_hot_target,
    quantise_target,
    scaled_round,
    sgd_step,
    touched_chunks,
    update_from_json,
    update_to_json,
    verify_update,
)
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "update.json"


def _script():
    return load_script("make_update_vectors")


@pytest.fixture(scope="module")
def vec() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def valid(vec) -> tuple[UpdateProof, GhostFile, GhostFile]:
    old = parse_ghost(vec["oldGhost"].encode())
    new = parse_ghost(vec["newGhost"].encode())
    return update_from_json(vec["proof"]), old, new


# ---------------------------------------------------------------- the header field


def test_a_layer_without_a_rule_hashes_as_before():
    """The Appendix A ghost file (no "update") parses, re-serialises byte for byte, and has no
    update field; its ghostRoot is the one PROTOCOL.md prints."""
    doc = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    line = next(x for x in doc.splitlines() if x.startswith('{"header":{"chunks":[{"cid":"bafkreidqhw'))
    ghost = parse_ghost(line.encode())
    assert ghost.header.layers[0].update is None
    assert "update" not in ghost.header.layers[0].to_json()
    assert ghost.to_bytes() == line.encode()
    assert "0x35a0b498b473bc69116ed28bb5ce804b7a7f6b8048402a86bc0979b24937505d" in doc
    assert ghost.ghost_root.hex() == "35a0b498b473bc69116ed28bb5ce804b7a7f6b8048402a86bc0979b24937505d"


def test_the_rule_is_committed_and_parsed(vec):
    ghost = parse_ghost(vec["oldGhost"].encode())
    assert ghost.header.layers[0].update == UpdateRule("sgd-v1", 1 << 16, 4 << 16)
    without = GhostFile(replace(ghost.header, layers=(replace(ghost.header.layers[0], update=None),)),
                        ghost.roots)
    assert without.header_hash != ghost.header_hash


@pytest.mark.parametrize("update", [
    {"rule": "adam", "lrK": 1, "lrV": 1},
    {"rule": "sgd-v1", "lrK": -1, "lrV": 1},
    {"rule": "sgd-v1", "lrK": 1, "lrV": 1 << 32},
    {"rule": "sgd-v1", "lrK": True, "lrV": 1},
    {"rule": "sgd-v1", "lrK": 1},
    "sgd-v1",
])
def test_bad_rules_are_rejected(vec, update):
    obj = json.loads(vec["oldGhost"])
    obj["header"]["layers"][0]["update"] = update
    with pytest.raises(GhostFileError, match="update"):
        LayerSpec.from_json(obj["header"]["layers"][0], 0)


# ---------------------------------------------------------------- the arithmetic


def _rhe(n: int, d: int) -> int:
    q, r = divmod(n, d)
    return q + (1 if 2 * r > d or (2 * r == d and q % 2) else 0)


def test_scaled_round_half_in_a_row_beside_a_big_one():
    """Regression (hypothesis): a half-way element of a small row was left to the fast path
    when another row was big: −1·690/20 = −34.5 must round to −34."""
    out = scaled_round([-1, -21474836461], np.array([[0, 0, 690], [0, 0, 0]], dtype=np.int64), 20)
    assert [int(v) for v in out[0]] == [0, 0, -34]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(1 << 80), 1 << 80), min_size=1, max_size=4),
       st.integers(1, 1 << 90), st.data())
def test_scaled_round_is_exact(coefs, denom, data):
    z = np.array([data.draw(st.lists(st.integers(-(1 << 24), 1 << 24), min_size=3, max_size=3))
                  for _ in coefs], dtype=np.int64)
    out = scaled_round(coefs, z, denom)
    for j, c in enumerate(coefs):
        assert [int(v) for v in out[j]] == [_rhe(c * int(v), denom) for v in z[j]]


def test_scaled_round_near_halves():
    """Coefficients whose products land exactly on, or within 2^-60 of, a half."""
    denom = 1 << 40
    coefs = [1 << 39, (1 << 39) + 1, (1 << 39) - 1, 3 << 38, -(1 << 39)]
    z = np.array([[1, -1, 3, -3, 5, 7]] * len(coefs), dtype=np.int64)
    out = scaled_round(coefs, z, denom)
    for j, c in enumerate(coefs):
        assert [int(v) for v in out[j]] == [_rhe(c * int(v), denom) for v in z[j]]


def _reference_step(rule, scale, q, keys, values, t):
    """docs/PROTOCOL.md §14, transcribed with Python integers only."""
    s = [sum(int(a) * int(b) for a, b in zip(q, col, strict=True)) for col in keys]
    e = [int(v) for v in softmax_numerators(np.array(s), scale)]
    total = sum(e)
    y = [_rhe(sum(ej * int(v[i]) for ej, v in zip(e, values, strict=True)) << 16, total)
         for i in range(values.shape[1])]
    r = [yi - (int(ti) << 16) for yi, ti in zip(y, t, strict=True)]
    new_k, new_v = [], []
    for j in range(len(keys)):
        delta = sum(ri * ((int(values[j][i]) << 16) - y[i]) for i, ri in enumerate(r))
        new_v.append([max(-127, min(127, int(values[j][i]) - _rhe(rule.lr_v * e[j] * ri, total << 32)))
                      for i, ri in enumerate(r)])
        new_k.append([max(-127, min(127, int(keys[j][i]) - _rhe(rule.lr_k * e[j] * delta * int(qi),
                                                                   (total << 48) * 16129)))
                      for i, qi in enumerate(q)])
    return y, new_k, new_v


@pytest.mark.parametrize("seed", range(6))
def test_sgd_step_matches_the_specification(seed):
    rng = np.random.default_rng(seed)
    k, d_in, d_out = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 20))
    keys = rng.integers(-127, 128, (k, d_in)).astype(np.int8)
    values = rng.integers(-127, 128, (k, d_out)).astype(np.int8)
    q = rng.integers(-127, 128, d_in).astype(np.int8)
    t = rng.integers(-127, 128, d_out).astype(np.int8)
    rule = UpdateRule("sgd-v1", int(rng.integers(0, 1 << 32)), int(rng.integers(0, 1 << 20)))
    scale = int(rng.integers(1, 1 << 24))
    step = sgd_step(rule, scale, q, keys, values, t)
    y, new_k, new_v = _reference_step(rule, scale, q, keys, values, t)
    assert step.output.tolist() == y
    assert step.new_keys.tolist() == new_k
    assert step.new_values.tolist() == new_v
    assert step.tau == min(int_scores(q, keys))
    assert np.array_equal(step.output, combine(softmax_numerators(int_scores(q, keys), scale), values))


def test_targets():
    assert one_hot_target(2, 4).tolist() == [0, 0, 127, 0]
    assert quantise_target(np.array([0.5, 1.5, -3.0, 9.0]), 1.0).tolist() == [0, 2, -3, 9]
    assert quantise_target(np.array([1e9]), 1.0).tolist() == [127]


# ---------------------------------------------------------------- vectors


def test_vectors_regenerate_identically():
    assert _script().render() == VECTORS.read_text(encoding="utf-8")


def test_vector_proof_verifies(vec, valid):
    proof, old, new = valid
    result = verify_update(proof, old, new)
    assert result.positions == tuple(proof.positions) and result.examples == 3
    assert list(result.taus) == [min(s["scores"]) for s in vec["steps"]]
    assert [o.tolist() for o in result.outputs] == [s["y"] for s in vec["steps"]]
    for case in vec["scaledRound"]:
        coefs = [int(c) for c in case["coefs"]]
        out = scaled_round(coefs, np.array(case["z"], dtype=np.int64), int(case["denom"]))
        assert [[str(int(v)) for v in row] for row in out] == case["out"]


def test_vector_proof_size_is_compact(valid):
    proof, old, _ = valid
    n = old.header.layers[0].n
    assert len(proof.key_proof) <= len(proof.positions) * (n - 1).bit_length()


# ---------------------------------------------------------------- negative: one field changed


def _flip(arr: np.ndarray, row: int = 0, col: int = 0) -> np.ndarray:
    out = np.array(arr)
    out[row, col] = 5 if out[row, col] != 5 else 6
    return out


CASES = {
    "old root": (lambda p: replace(p, old_ghost_root=bytes(32)), RootMismatchError),
    "new root": (lambda p: replace(p, new_ghost_root=bytes(32)), RootMismatchError),
    "old K column": (lambda p: replace(p, old_keys=_flip(p.old_keys)), MultiproofError),
    "new V row": (lambda p: replace(p, new_values=_flip(p.new_values, 1, 1)), MultiproofError),
    "key proof": (lambda p: replace(p, key_proof=(bytes(32), *p.key_proof[1:])), MultiproofError),
    "value proof length": (lambda p: replace(p, value_proof=p.value_proof[:-1]), MultiproofError),
    "tau": (lambda p: replace(p, taus=(p.taus[0] + 1, *p.taus[1:])), UpdateProofError),
    "target": (lambda p: replace(p, examples=(Example(p.examples[0].x, np.roll(p.examples[0].target, 1)),
                                              *p.examples[1:])), UpdateProofError),
    "input": (lambda p: replace(p, examples=(Example(p.examples[0].x * np.float32(-1), p.examples[0].target),
                                             *p.examples[1:])), UpdateProofError),
    "selection": (lambda p: replace(p, selections=(p.selections[1], *p.selections[1:])), UpdateProofError),
    "positions": (lambda p: replace(p, positions=p.positions[:-1]), UpdateProofError),
    "layer": (lambda p: replace(p, layer=1), UpdateProofError),
    "examples dropped": (lambda p: replace(p, examples=p.examples[:2], selections=p.selections[:2],
                                           taus=p.taus[:2]), UpdateProofError),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_changed_field_is_rejected(valid, name):
    proof, old, new = valid
    change, error = CASES[name]
    with pytest.raises(error):
        verify_update(change(proof), old, new)


def test_a_consistent_forgery_of_the_new_columns_is_caught_by_the_replay(valid):
    """New columns that the multiproof accepts (a new ghost file built for them) but that the
    rule does not give: only the replay can see it."""
    from ghostproof.protocol.hashing import leaf_hashes
    from ghostproof.protocol.merkle import process_multiproof, tree_depth

    proof, old, new = valid
    forged = _flip(proof.new_values, 0, 2)
    leaves = leaf_hashes(0, 1, forged, indices=np.array(proof.positions))
    root_v = process_multiproof(tree_depth(16), proof.positions, leaves, proof.value_proof)
    ghost = GhostFile(new.header, ((new.roots[0][0], root_v),))
    with pytest.raises(UpdateProofError, match="matrix V: column"):
        verify_update(replace(proof, new_values=forged, new_ghost_root=ghost.ghost_root), old, ghost)


def test_header_changes_are_rejected(valid):
    proof, old, new = valid
    renamed = GhostFile(replace(new.header, name="other"), new.roots)
    with pytest.raises(UpdateProofError, match="name"):
        verify_update(replace(proof, new_ghost_root=renamed.ghost_root), old, renamed)
    faster = replace(new.header.layers[0], update=UpdateRule("sgd-v1", 1, 1))
    changed = GhostFile(replace(new.header, layers=(faster,)), new.roots)
    with pytest.raises(UpdateProofError, match="rule"):
        verify_update(replace(proof, new_ghost_root=changed.ghost_root), old, changed)


def test_untouched_chunk_cids_must_not_change(valid):
    proof, old, new = valid
    assert touched_chunks(old.header.chunks, 0, proof.positions) == [0, 1]  # one chunk per matrix
    with pytest.raises(UpdateProofError, match="holds no touched column"):
        from ghostproof.protocol.update import _check_headers

        _check_headers(old, new, 0, [])


def test_untrainable_layer_is_rejected(valid):
    proof, old, new = valid
    plain = replace(old.header.layers[0], update=None)
    old2 = GhostFile(replace(old.header, layers=(plain,)), old.roots)
    with pytest.raises(UpdateProofError, match="no update rule"):
        verify_update(replace(proof, old_ghost_root=old2.ghost_root), old2, new)


# ---------------------------------------------------------------- JSON


def test_json_round_trip_and_strictness(vec, valid):
    proof = valid[0]
    again = loads_update(json.dumps(update_to_json(proof)))
    assert update_to_json(again) == vec["proof"]
    for key, bad in (("format", "ghostproof/update/2"), ("positions", []), ("keyProof", ["0x00"]),
                     ("oldKeys", "0x00"), ("layer", -1), ("dIn", 0)):
        obj = dict(vec["proof"], **{key: bad})
        with pytest.raises(FormatError):
            update_from_json(obj)
    with pytest.raises(FormatError):
        update_from_json({**vec["proof"], "extra": 1})


_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_json_round_trip_hypothesis(data):
    """Any structurally valid proof survives the JSON encoding exactly."""
    d_in, d_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    positions = tuple(sorted(data.draw(st.sets(st.integers(0, (1 << 32) - 1), min_size=1, max_size=6))))
    m = len(positions)
    n_ex = data.draw(st.integers(1, 3))
    int8 = st.integers(-128, 127)

    def mat(d):
        return np.array(data.draw(st.lists(st.lists(int8, min_size=d, max_size=d), min_size=m, max_size=m)),
                        dtype=np.int8)

    hashes = st.lists(st.binary(min_size=32, max_size=32), max_size=4).map(tuple)
    proof = UpdateProof(
        layer=data.draw(st.integers(0, 63)),
        old_ghost_root=data.draw(st.binary(min_size=32, max_size=32)),
        new_ghost_root=data.draw(st.binary(min_size=32, max_size=32)),
        examples=tuple(
            Example(np.array(data.draw(st.lists(_f32, min_size=d_in, max_size=d_in)), dtype=np.float32),
                    np.array(data.draw(st.lists(st.integers(-127, 127), min_size=d_out, max_size=d_out)),
                             dtype=np.int8))
            for _ in range(n_ex)),
        selections=tuple(tuple(sorted(data.draw(st.sets(st.sampled_from(positions), min_size=1))))
                         for _ in range(n_ex)),
        taus=tuple(data.draw(st.integers(-(1 << 31) + 1, (1 << 31) - 1)) for _ in range(n_ex)),
        positions=positions,
        old_keys=mat(d_in), old_values=mat(d_out), new_keys=mat(d_in), new_values=mat(d_out),
        key_proof=data.draw(hashes), value_proof=data.draw(hashes),
    )
    again = loads_update(json.dumps(update_to_json(proof)))
    assert update_to_json(again) == update_to_json(proof)
    for a, b in zip(again.examples, proof.examples, strict=True):
        assert a.x.dtype == np.float32 and np.array_equal(a.x, b.x) and np.array_equal(a.target, b.target)
