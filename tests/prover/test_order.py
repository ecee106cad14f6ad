"""prover/order.py: the order is a valid permutation and shrinks multiproofs."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError
from ghostproof.protocol.layer import int_scores, quantise_keys, quantise_query, top_k
from ghostproof.protocol.merkle import multiproof_size, tree_depth
from ghostproof.prover.order import inverse_permutation, locality_order
from ghostproof.prover.synthetic import noisy_queries, structured_patterns, uniform_patterns


@pytest.mark.parametrize("n", [1, 2, 3, 64, 65, 1000, 4097])
def test_locality_order_is_a_permutation(n: int) -> None:
    perm = locality_order(uniform_patterns(n, 16, seed=n), leaf_size=8)
    assert perm.dtype == np.int64
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_locality_order_is_deterministic_for_a_seed() -> None:
    p = structured_patterns(3000, 32, intrinsic_dim=8, seed=1)
    np.testing.assert_array_equal(locality_order(p, seed=4), locality_order(p, seed=4))


def test_locality_order_accepts_int8_columns() -> None:
    keys, _ = quantise_keys(structured_patterns(500, 32, intrinsic_dim=4, seed=2))
    np.testing.assert_array_equal(np.sort(locality_order(keys)), np.arange(500))


def test_inverse_permutation() -> None:
    perm = np.random.default_rng(0).permutation(100)
    inv = inverse_permutation(perm)
    np.testing.assert_array_equal(inv[perm], np.arange(100))


def test_locality_order_shrinks_multiproofs_on_structured_data() -> None:
    n, k = 8192, 32
    pats = structured_patterns(n, 64, intrinsic_dim=8, seed=3)
    keys, _ = quantise_keys(pats)
    queries, _ = noisy_queries(pats, 30, noise=0.3, seed=4)
    depth = tree_depth(n)
    ordered = inverse_permutation(locality_order(keys))
    shuffled = inverse_permutation(np.random.default_rng(5).permutation(n))
    size_ordered = size_random = 0
    for x in queries:
        q = quantise_query(x)
        sel = top_k(int_scores(q, keys), k)
        size_ordered += multiproof_size(np.sort(ordered[sel]).tolist(), depth)
        size_random += multiproof_size(np.sort(shuffled[sel]).tolist(), depth)
    assert size_ordered < 0.7 * size_random
    assert size_random < len(queries) * k * depth  # the compact multiproof already shrinks


def test_invalid_patterns_raise_input_error() -> None:
    with pytest.raises(InputError):
        locality_order(np.zeros((0, 4)))
    with pytest.raises(InputError):
        locality_order(np.zeros(8))
    with pytest.raises(InputError):
        locality_order(np.ones((4, 4)), leaf_size=0)
    with pytest.raises(InputError):
        locality_order(np.full((4, 4), np.nan))
