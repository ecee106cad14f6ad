"""prover/synthetic.py: shapes, unit rows, determinism, low intrinsic dimension."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError
from ghostproof.prover.synthetic import noisy_queries, random_values, structured_patterns, uniform_patterns


def test_structured_patterns_are_unit_rows_of_low_rank() -> None:
    p = structured_patterns(500, 64, intrinsic_dim=8, seed=1)
    assert p.shape == (500, 64) and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    s = np.linalg.svd(p.astype(np.float64), compute_uv=False)
    assert s[8] < 1e-4 * s[0]  # rank 8


def test_uniform_patterns_are_unit_rows_of_full_rank() -> None:
    p = uniform_patterns(300, 32, seed=2)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert np.linalg.matrix_rank(p.astype(np.float64)) == 32


def test_generators_are_deterministic_for_a_seed() -> None:
    assert np.array_equal(structured_patterns(50, 16, 4, seed=3), structured_patterns(50, 16, 4, seed=3))
    assert not np.array_equal(uniform_patterns(50, 16, seed=3), uniform_patterns(50, 16, seed=4))
    assert np.array_equal(random_values(20, 5, seed=1), random_values(20, 5, seed=1))
    p = uniform_patterns(100, 16, seed=0)
    q1, s1 = noisy_queries(p, 10, 0.2, seed=7)
    q2, s2 = noisy_queries(p, 10, 0.2, seed=7)
    assert np.array_equal(q1, q2) and np.array_equal(s1, s2)


def test_noisy_queries_stay_closest_to_their_source() -> None:
    p = structured_patterns(1000, 64, intrinsic_dim=16, seed=5)
    q, src = noisy_queries(p, 50, noise=0.2, seed=6)
    assert q.shape == (50, 64) and src.dtype == np.int64 and len(np.unique(src)) == 50
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert np.mean(np.argmax(q @ p.T, axis=1) == src) >= 0.95


def test_invalid_sizes_raise_input_error() -> None:
    with pytest.raises(InputError):
        structured_patterns(10, 8, intrinsic_dim=9)
    with pytest.raises(InputError):
        uniform_patterns(0, 8)
    with pytest.raises(InputError):
        noisy_queries(np.ones((4, 3)), 2, noise=-1.0)
