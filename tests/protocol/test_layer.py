"""protocol/layer.py: quantisation, exact integer scores, top-k, softmax, the layer forward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.errors import InputError
from ghostproof.protocol.layer import (
    EXP2_TABLE,
    MAX_OUTPUT_ABS,
    check_vector,
    combine,
    divide_round_half_even,
    int_scores,
    layer_forward,
    logit_scale,
    output_values,
    quantise_keys,
    quantise_query,
    quantise_values,
    reference_layer_forward,
    requantise,
    softmax_numerators,
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


def test_reference_layer_forward_formula():
    q = np.array([10, -20, 30], dtype=np.int8)
    keys = np.array([[1, 2, 3], [-3, 0, 4]], dtype=np.int8)
    values = np.array([[1, 0], [0, 2]], dtype=np.int8)
    s = np.array([10 - 40 + 90, -30 + 0 + 120], dtype=np.float64)
    z = 3.0 * 0.2 / 127 * s
    a = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    expected = 0.5 * np.array([a[0], 2 * a[1]])
    assert np.allclose(reference_layer_forward(q, keys, values, 3.0, 0.2, 0.5), expected, rtol=1e-14)


# ---------------------------------------------------------------- exact arithmetic (format 2)


def _reference_round(values: list, i: int) -> int:
    """round_half_even(127·|v_i|/‖v‖) from exact rationals: t² = 127²·v_i²/Σv² compared
    with squares of integers and half-integers (an independent reference; 80-digit
    decimals are not enough, since t can lie within 10^-80 of a half)."""
    from fractions import Fraction

    vs = [Fraction(v) for v in values]
    t2 = 127 * 127 * vs[i] * vs[i] / sum(v * v for v in vs)
    m = max(j for j in range(128) if j * j <= t2)  # floor(t)
    half = (Fraction(2 * m + 1, 2)) ** 2
    if t2 > half or (t2 == half and m % 2 == 1):
        m += 1
    return m


def _reference_quantise(values: list) -> list[int]:
    return [(1 if v > 0 else -1 if v < 0 else 0) * _reference_round(values, i) for i, v in enumerate(values)]


def test_quantise_query_near_a_half_beyond_decimal_precision():
    """Found by hypothesis: 4 equal values and one tiny one put t within 10^-80 below 63.5;
    the exact rule rounds down (80-digit decimals would say 63.5 and round to 64)."""
    x = np.array([500000030720.0] * 4 + [8.711924844136218e-29], dtype=np.float32)
    assert quantise_query(x).tolist() == [63, 63, 63, 63, 0]
    assert quantise_query(x[:4]).tolist() == [64, 64, 64, 64]  # exactly 63.5: half to even


def test_exp2_table_is_correctly_rounded_at_100_digits():
    from decimal import ROUND_HALF_EVEN, Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 100
        ln2 = Decimal(2).ln()
        expected = [
            int((Decimal(1 << 24) * (-ln2 * i / 256).exp()).to_integral_value(rounding=ROUND_HALF_EVEN))
            for i in range(256)
        ]
    assert EXP2_TABLE.tolist() == expected
    assert EXP2_TABLE[0] == 1 << 24 and np.all(np.diff(EXP2_TABLE) < 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_quantise_query_is_exact_for_any_float32_vector(values):
    x = np.array(values, dtype=np.float32)
    if not np.any(x):
        return
    assert quantise_query(x).tolist() == _reference_quantise([float(v) for v in x])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(127 << 16), 127 << 16), min_size=1, max_size=40))
def test_requantise_is_exact_for_any_layer_output(values):
    expected = _reference_quantise(values) if any(values) else [0] * len(values)
    assert requantise(np.array(values, dtype=np.int64)).tolist() == expected


@pytest.mark.parametrize("scale", [1, 3, 2**-60, 2**60, 1 / 3])
def test_quantise_query_exact_halves_at_any_scale(scale):
    """(1, 7, 125, 221)·c has norm 254·c: four exact halves, which the float path cannot see
    reliably for c = 1/3; the exact path rounds them to even."""
    x = HALVES * scale
    assert quantise_query(x).tolist() == _reference_quantise(x.tolist())
    assert requantise(np.array([1, 7, 125, 221])).tolist() == [0, 4, 62, 110]


def test_requantise_zero_output_is_zero_query():
    assert requantise(np.zeros(5, dtype=np.int64)).tolist() == [0] * 5


def test_softmax_numerators_best_gets_one():
    e = softmax_numerators(np.array([5, 100, -40]), 10_000_000)
    assert e[1] == 1 << 24 and e[0] < e[1] and e[2] < e[0]


def test_softmax_numerators_formula():
    # logitScale 2^32 − 1 ≈ one binary order per score unit: Δ = 1 → u = 255, Δ = 3 → u = 767
    e = softmax_numerators(np.array([10, 9, 7, -10**6]), (1 << 32) - 1)
    assert e.tolist() == [1 << 24, int(EXP2_TABLE[255]) >> 0, int(EXP2_TABLE[255]) >> 2, 0]


def test_softmax_numerators_zero_scale_is_uniform():
    assert softmax_numerators(np.array([1, -5000, 3]), 0).tolist() == [1 << 24] * 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(1 << 30), 1 << 30), min_size=1, max_size=64),
    st.integers(0, (1 << 32) - 1),
)
def test_softmax_numerators_match_the_definition(scores, scale):
    """e_j = T[u mod 256] >> (u div 256), u = (scale·Δ_j) >> 24, in unbounded integers."""
    top = max(scores)
    expected = []
    for s in scores:
        u = (scale * (top - s)) >> 24
        expected.append(0 if u >> 8 > 24 else int(EXP2_TABLE[u & 255]) >> (u >> 8))
    assert softmax_numerators(np.array(scores), scale).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(-(1 << 58), 1 << 58), st.integers(1, 1 << 40))
def test_divide_round_half_even_matches_fractions(n, d):
    from fractions import Fraction

    assert divide_round_half_even(np.array([n], dtype=np.int64), d)[0] == round(Fraction(n, d))


def test_combine_formula():
    e = np.array([1 << 24, 1 << 23])  # weights 2/3, 1/3
    rows = np.array([[3, -127], [0, 127]], dtype=np.int8)
    # y = 2^16 · (2/3·3 + 1/3·0, 2/3·(−127) + 1/3·127) = (131072, −2774357.33…)
    assert combine(e, rows).tolist() == [131072, -2774357]


def test_layer_forward_tau_and_bounds():
    rng = np.random.default_rng(9)
    keys = rng.integers(-127, 128, size=(32, 64), dtype=np.int8)
    values = np.full((32, 8), -127, dtype=np.int8)
    q = rng.integers(-127, 128, size=64).astype(np.int8)
    result = layer_forward(q, keys, values, (1 << 32) - 1)
    assert result.tau == int(int_scores(q, keys).min())
    assert result.output.tolist() == [-MAX_OUTPUT_ABS] * 8


def test_sparse_equals_dense_when_k_is_n():
    rng = np.random.default_rng(3)
    keys = rng.integers(-127, 128, size=(40, 12), dtype=np.int8)
    values = rng.integers(-127, 128, size=(40, 5), dtype=np.int8)
    q = quantise_query(rng.standard_normal(12))
    sel = top_k(int_scores(q, keys), 40)
    sparse = layer_forward(q, keys[sel], values[sel], logit_scale(20.0, 0.01))
    dense = layer_forward(q, keys, values, logit_scale(20.0, 0.01))
    assert np.array_equal(sparse.output, dense.output) and sparse.tau == dense.tau


def test_exact_output_close_to_float_reference():
    """The exact path is the float64 formula up to the 1/256 exponent step and Q24/Q16
    rounding: within 0.5 % of s_V·127 on random layers."""
    rng = np.random.default_rng(10)
    for _ in range(50):
        keys = rng.integers(-127, 128, size=(16, 32), dtype=np.int8)
        values = rng.integers(-127, 128, size=(16, 6), dtype=np.int8)
        q = quantise_query(rng.standard_normal(32))
        beta, s_k, s_v = float(rng.uniform(1, 80)), 0.004, 0.01
        exact = output_values(layer_forward(q, keys, values, logit_scale(beta, s_k)).output, s_v)
        ref = reference_layer_forward(q, keys, values, beta, s_k, s_v)
        assert np.max(np.abs(exact - ref)) <= 0.005 * s_v * 127


def test_invalid_logit_scale_beyond_32_bits():
    with pytest.raises(InputError, match="logitScale"):
        logit_scale(1e12, 1.0)


def test_sparse_close_to_dense_with_peaked_softmax():
    rng = np.random.default_rng(4)
    keys = rng.integers(-127, 128, size=(200, 16), dtype=np.int8)
    values = rng.integers(-127, 128, size=(200, 3), dtype=np.int8)
    q = keys[17].copy()
    sel = top_k(int_scores(q, keys), 8)
    scale = logit_scale(500.0, 1 / 127)
    sparse = layer_forward(q, keys[sel], values[sel], scale).output
    dense = layer_forward(q, keys, values, scale).output
    assert np.array_equal(sparse, dense)
