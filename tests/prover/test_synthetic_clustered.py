"""prover/synthetic.py, the clustered kind: shapes, unit rows, determinism, and local
structure (a pattern's nearest neighbours are mostly in its own cluster)."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError
from ghostproof.prover.synthetic import (
    clustered_patterns,
    clustered_patterns_labelled,
    noisy_queries,
    structured_patterns,
)


def test_clustered_patterns_are_unit_float32_rows_in_a_subspace() -> None:
    p = clustered_patterns(700, 64, cluster_size=50, intrinsic_dim=8, seed=1)
    assert p.shape == (700, 64) and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    s = np.linalg.svd(p.astype(np.float64), compute_uv=False)
    assert s[8] < 1e-4 * s[0]  # rank 8


def test_labels_name_ceil_n_over_cluster_size_clusters() -> None:
    p, labels = clustered_patterns_labelled(1000, 32, cluster_size=100, seed=2)
    assert labels.shape == (1000,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < 10 and np.unique(labels).size == 10
    np.testing.assert_array_equal(clustered_patterns(1000, 32, cluster_size=100, seed=2), p)


def test_clustered_patterns_are_deterministic_for_a_seed() -> None:
    a, la = clustered_patterns_labelled(300, 32, cluster_size=30, seed=3)
    b, lb = clustered_patterns_labelled(300, 32, cluster_size=30, seed=3)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, clustered_patterns(300, 32, cluster_size=30, seed=4))


def test_more_than_one_generation_block() -> None:
    # rows are generated in blocks of 2^16: the rows of the last, partial block are unit too
    big = clustered_patterns((1 << 16) + 10, 16, intrinsic_dim=4, seed=5)
    assert big.shape == ((1 << 16) + 10, 16)
    np.testing.assert_allclose(np.linalg.norm(big[-10:], axis=1), 1.0, atol=1e-5)


def test_nearest_neighbours_are_mostly_in_the_own_cluster() -> None:
    p, labels = clustered_patterns_labelled(4000, 64, cluster_size=100, seed=6)
    sims = p @ p.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, :10]
    same = labels[nn] == labels[:, None]
    assert same.mean() > 0.95
    # the structured kind has no such structure: "clusters" of its ids would be random
    s = structured_patterns(4000, 64, seed=6)
    sims_s = s @ s.T
    np.fill_diagonal(sims_s, -np.inf)
    nn_s = np.argsort(-sims_s, axis=1)[:, :10]
    assert (labels[nn_s] == labels[:, None]).mean() < 0.1


def test_noisy_queries_find_their_cluster() -> None:
    p, labels = clustered_patterns_labelled(3000, 64, cluster_size=100, seed=7)
    q, src = noisy_queries(p, 40, noise=0.3, seed=8)
    assert q.shape == (40, 64) and q.dtype == np.float32
    top = np.argsort(-(q @ p.T), axis=1)[:, :32]
    assert (labels[top] == labels[src][:, None]).mean() > 0.9


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"d": 0}, {"cluster_size": 0}, {"intrinsic_dim": 65}, {"spread": -0.1}, {"spread": np.nan}],
)
def test_invalid_arguments_raise_input_error(kwargs: dict) -> None:
    args = {"n": 10, "d": 64, **kwargs}
    with pytest.raises(InputError):
        clustered_patterns(**args)
