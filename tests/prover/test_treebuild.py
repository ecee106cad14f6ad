"""prover/treebuild.py: the parallel build gives exactly the single-process tree."""

from __future__ import annotations

import numpy as np
import pytest

import ghostproof.prover.treebuild as treebuild
from ghostproof.protocol.errors import ModelError
from ghostproof.protocol.hashing import leaf_hashes
from ghostproof.protocol.merkle import build_tree


@pytest.mark.parametrize(("n", "workers"), [(1, 2), (5, 2), (1000, 2), (1024, 4), (1500, 4), (513, 8)])
def test_parallel_tree_equals_single_process_tree(monkeypatch, n: int, workers: int) -> None:
    monkeypatch.setattr(treebuild, "PARALLEL_MIN_COLUMNS", 1)
    cols = np.random.default_rng(n).integers(-127, 128, (n, 12)).astype(np.int8)
    got = treebuild.build_matrix_tree(3, 1, cols, workers=workers)
    want = build_tree(leaf_hashes(3, 1, cols))
    assert got.n_leaves == want.n_leaves and got.root == want.root
    assert len(got.levels) == len(want.levels)
    for a, b in zip(got.levels, want.levels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_invalid_columns_raise_model_error() -> None:
    with pytest.raises(ModelError):
        treebuild.build_matrix_tree(0, 0, np.zeros((0, 4), np.int8))
    with pytest.raises(ModelError):
        treebuild.build_matrix_tree(0, 0, np.zeros((4, 4), np.float32))
