"""protocol/layer.py: quantisation, exact integer scores, top-k, softmax, the layer forward."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.errors import InputError
from protocol.layer import (
    check_vector,
    int_scores,
    layer_forward,
    quantisation_gap,
    quantise_keys,
    quantise_query,
    quantise_values,
    softmax_weights,
    top_k,
)

# ‖(1, 7, 125, 221)‖ = 254 exactly, so 127·x/‖x‖ = (0.5, 3.5, 62.5, 110.5): four exact halves.
HALVES = np.array([1.0, 7.0, 125.0, 221.0])


# ---------------------------------------------------------------- quantisation


def test_halves_fixture_is_exactly_on_halves():
    assert (127 * (HALVES / np.linalg.norm(HALVES))).tolist() == [0.5, 3.5, 62.5, 110.5]


def test_quantise_rounds_half_to_even():
    assert quantise_query(HALVES).tolist() == [0, 4, 62, 110]


def test_quantise_rounds_negative_half_to_even():
    assert quantise_query(-HALVES).tolist() == [0, -4, -62, -110]


def test_quantise_uses_scale_127_after_normalising():
    assert quantise_query(np.array([3.0, 4.0])).tolist() == [76, 102]  # 76.2, 101.6


def test_quantise_is_scale_invariant():
    x = np.array([0.3, -1.7, 2.2, 0.01])
    assert np.array_equal(quantise_query(x), quantise_query(1000 * x))


def test_quantise_extremes_are_plus_minus_127():
    assert quantise_query(np.array([0.0, -5.0, 0.0])).tolist() == [0, -127, 0]


def test_quantise_returns_int8():
    assert quantise_query(np.array([1.0, 2.0])).dtype == np.int8


def test_quantise_float32_input_matches_float64():
    x = np.array([0.25, -0.5, 0.75], dtype=np.float32)
    assert np.array_equal(quantise_query(x), quantise_query(x.astype(np.float64)))


def test_invalid_quantise_zero_vector():
    with pytest.raises(InputError):
        quantise_query(np.zeros(4))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_invalid_quantise_non_finite(bad):
    with pytest.raises(InputError):
        quantise_query(np.array([1.0, bad, 0.5]))


def test_invalid_quantise_wrong_length():
    with pytest.raises(InputError):
        quantise_query(np.ones(5), dim=4)


def test_invalid_quantise_two_dimensional():
    with pytest.raises(InputError):
        quantise_query(np.ones((2, 2)))


def test_invalid_quantise_empty():
    with pytest.raises(InputError):
        quantise_query(np.zeros(0))


def test_invalid_check_vector_strings():
    with pytest.raises(InputError):
        check_vector(np.array(["a", "b"]))


def test_invalid_check_vector_complex():
    with pytest.raises(InputError):
        check_vector(np.array([1 + 1j, 2]))


def test_quantise_keys_scale_is_max_abs_over_127():
    keys = np.array([[3.0, 4.0], [1.0, 0.0]])
    k_int, s_k = quantise_keys(keys)
    assert s_k == pytest.approx(1.0 / 127)
    assert k_int.tolist() == [[76, 102], [127, 0]]


def test_quantise_keys_largest_element_is_127():
    rng = np.random.default_rng(0)
    k_int, _ = quantise_keys(rng.standard_normal((50, 8)))
    assert int(np.max(np.abs(k_int))) == 127


def test_invalid_quantise_keys_zero_pattern():
    with pytest.raises(InputError):
        quantise_keys(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_quantise_values_scale():
    v_int, s_v = quantise_values(np.array([[0.0, 2.0], [-1.0, 0.5]]))
    assert s_v == pytest.approx(2.0 / 127)
    assert v_int.tolist() == [[0, 127], [-64, 32]]  # -63.5 → -64, 31.75 → 32


def test_invalid_quantise_values_all_zero():
    with pytest.raises(InputError):
        quantise_values(np.zeros((3, 2)))


# ---------------------------------------------------------------- scores and selection


def test_int_scores_exact_against_python_ints():
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, size=300, dtype=np.int8)
    cols = rng.integers(-127, 128, size=(20, 300), dtype=np.int8)
    expected = [sum(int(a) * int(b) for a, b in zip(q, col, strict=True)) for col in cols]
    assert int_scores(q, cols).tolist() == expected


def test_int_scores_do_not_overflow_int8_or_int16():
    d = 4096
    q = np.full(d, 127, dtype=np.int8)
    cols = np.full((1, d), -127, dtype=np.int8)
    assert int(int_scores(q, cols)[0]) == -127 * 127 * d


def test_top_k_ties_go_to_lower_index():
    assert top_k(np.array([5, 7, 7, 7, 1]), 2).tolist() == [1, 2]


def test_top_k_returns_ids_sorted():
    assert top_k(np.array([1, 9, 3, 8]), 2).tolist() == [1, 3]


def test_top_k_with_ids_ties_go_to_lower_id():
    assert top_k(np.array([5, 5, 5]), 2, ids=np.array([10, 4, 7])).tolist() == [4, 7]


def test_top_k_picks_highest_scores():
    rng = np.random.default_rng(1)
    scores = rng.permutation(100)
    assert top_k(scores, 5).tolist() == sorted(np.argsort(-scores)[:5].tolist())


def test_top_k_large_scores_exact():
    assert top_k(np.array([2**40 + 1, 2**40, 2**40 + 2]), 1).tolist() == [2]


def test_invalid_top_k_more_than_candidates():
    with pytest.raises(InputError):
        top_k(np.array([1, 2]), 3)


# ---------------------------------------------------------------- softmax and forward


def test_softmax_sums_to_one():
    rng = np.random.default_rng(2)
    a = softmax_weights(rng.integers(-16000, 16000, size=50), beta=30.0, s_k=0.01)
    assert a.sum() == pytest.approx(1.0, abs=1e-12)


def test_softmax_is_stable_for_huge_scores():
    a = softmax_weights(np.array([10**6, 10**6 - 1]), beta=1000.0, s_k=1.0)
    assert np.all(np.isfinite(a)) and a[0] > a[1]


def test_softmax_formula():
    scores = np.array([100, 50, -20])
    z = 2.0 * 0.5 / 127 * scores
    expected = np.exp(z) / np.exp(z).sum()
    assert np.allclose(softmax_weights(scores, beta=2.0, s_k=0.5), expected, rtol=1e-14)


def test_layer_forward_formula():
    q = np.array([10, -20, 30], dtype=np.int8)
    keys = np.array([[1, 2, 3], [-3, 0, 4]], dtype=np.int8)
    values = np.array([[1, 0], [0, 2]], dtype=np.int8)
    s = np.array([10 - 40 + 90, -30 + 0 + 120], dtype=np.float64)
    z = 3.0 * 0.2 / 127 * s
    a = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    expected = 0.5 * np.array([a[0], 2 * a[1]])
    assert np.allclose(layer_forward(q, keys, values, 3.0, 0.2, 0.5), expected, rtol=1e-14)


def test_sparse_equals_dense_when_k_is_n():
    rng = np.random.default_rng(3)
    keys = rng.integers(-127, 128, size=(40, 12), dtype=np.int8)
    values = rng.integers(-127, 128, size=(40, 5), dtype=np.int8)
    q = quantise_query(rng.standard_normal(12))
    sel = top_k(int_scores(q, keys), 40)
    sparse = layer_forward(q, keys[sel], values[sel], 20.0, 0.01, 0.02)
    dense = layer_forward(q, keys, values, 20.0, 0.01, 0.02)
    assert np.array_equal(sparse, dense)


def test_sparse_close_to_dense_with_peaked_softmax():
    rng = np.random.default_rng(4)
    keys = rng.integers(-127, 128, size=(200, 16), dtype=np.int8)
    values = rng.integers(-127, 128, size=(200, 3), dtype=np.int8)
    q = keys[17].copy()
    sel = top_k(int_scores(q, keys), 8)
    sparse = layer_forward(q, keys[sel], values[sel], 500.0, 1 / 127, 1.0)
    dense = layer_forward(q, keys, values, 500.0, 1 / 127, 1.0)
    assert np.allclose(sparse, dense, atol=1e-6)


def test_quantisation_gap_zero_for_own_quantisation():
    y = np.array([0.3, -0.2, 0.9])
    assert quantisation_gap(quantise_query(y), y) == 0


def test_quantisation_gap_counts_largest_difference():
    y = np.array([0.3, -0.2, 0.9])
    claimed = quantise_query(y).copy()
    claimed[1] += 3
    assert quantisation_gap(claimed, y) == 3
