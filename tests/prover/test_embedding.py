"""prover/embedding.py and token examples in prover/update.py (docs/PROTOCOL.md §14.6): a model
directory gains an embedding, trains it in place on token examples, and the proof verifies
against the old and new ghost files; the directory's table then gives the new root."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.update import Example, one_hot_target, verify_update
from ghostproof.prover.embedding import (
    EMBEDDING_FILE,
    add_embedding,
    load_embedding,
    set_embedding_rate,
)
from ghostproof.prover.modeldir import load_model_dir, write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.update import apply_update, declare_update_rule, parse_examples


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    fm = synthetic_model(n=600, d=16, layers=1, k=4, seed=3, kind="structured", n_samples=4)
    write_model_dir(tmp_path / "m", fm, index=False, order=False)
    declare_update_rule(tmp_path / "m")
    return tmp_path / "m"


def test_embed_train_verify(model_dir: Path):
    add_embedding(model_dir, 300, seed=1)
    with pytest.raises(InputError, match="already has"):
        add_embedding(model_dir, 300)
    old = set_embedding_rate(model_dir, 1 << 14)
    md = load_model_dir(model_dir)
    table_before = np.load(model_dir / EMBEDDING_FILE)
    d_out = md.model.layers[0].spec.d_out
    examples = [Example.from_tokens([4, 17, 4], one_hot_target(1, d_out)),
                Example(np.asarray(md.samples[0], dtype=np.float32), one_hot_target(0, d_out)),
                Example.from_tokens([17, 299], one_hot_target(2, d_out))]
    outcome = apply_update(md, examples, exact=True)
    step = outcome.step
    result = verify_update(step.proof, old, step.new_ghost)
    assert result.embedding_rows == (4, 17, 299) and result.changed_embedding_rows >= 1
    emb = load_embedding(model_dir, outcome.model_dir.ghost)  # the patched table gives the new root
    assert emb is not None and emb.spec.root == step.new_ghost.header.embedding.root
    assert np.array_equal(np.asarray(emb.table)[[4, 17, 299]], step.proof.new_embedding)
    assert step.embedding_chunks_changed == (0,)
    untouched = np.setdiff1d(np.arange(300), [4, 17, 299])
    assert np.array_equal(np.asarray(emb.table)[untouched], table_before[untouched])


def test_frozen_embedding_reveals_but_keeps_rows(model_dir: Path):
    old = add_embedding(model_dir, 50, seed=2)
    md = load_model_dir(model_dir)
    d_out = md.model.layers[0].spec.d_out
    step = apply_update(md, [Example.from_tokens([3, 9], one_hot_target(0, d_out))], exact=True).step
    assert np.array_equal(step.proof.old_embedding, step.proof.new_embedding)
    assert step.new_ghost.header.embedding == old.header.embedding
    assert verify_update(step.proof, old, step.new_ghost).changed_embedding_rows == 0


def test_token_examples_are_checked(model_dir: Path):
    with pytest.raises(InputError, match="no embedding"):
        parse_examples({"examples": [{"tokens": [1], "label": 0}]}, 16, 10, 1.0)
    got = parse_examples({"examples": [{"tokens": [1, 1, 7], "target": [0] * 10}]}, 16, 10, 1.0, vocab=8)
    assert got[0].tokens == (1, 1, 7)
    for bad in ([8], [], [-1], ["a"], [True]):
        with pytest.raises(InputError):
            parse_examples({"examples": [{"tokens": bad, "label": 0}]}, 16, 10, 1.0, vocab=8)
    with pytest.raises(InputError, match="exactly one"):
        parse_examples({"examples": [{"tokens": [1], "sample": 0, "label": 0}]}, 16, 10, 1.0, vocab=8)
    md = load_model_dir(model_dir)
    with pytest.raises(InputError, match="embedding"):
        target = one_hot_target(0, md.model.layers[0].spec.d_out)
        apply_update(md, [Example.from_tokens([1], target)], exact=True)


def test_a_tampered_table_is_refused(model_dir: Path):
    ghost = add_embedding(model_dir, 40, seed=3)
    table = np.load(model_dir / EMBEDDING_FILE)
    table[5, 0] = 0 if table[5, 0] else 1
    np.save(model_dir / EMBEDDING_FILE, table)
    with pytest.raises(ModelError, match="root"):
        load_embedding(model_dir, ghost)
    with pytest.raises(InputError):
        add_embedding(model_dir, 40, table=np.zeros((40, 3), dtype=np.int8), scale=1.0, overwrite=True)
