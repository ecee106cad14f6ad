"""prover/hopfield.py: the torch module computes DESIGN §1 exactly as protocol.layer does."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ghostproof.protocol.errors import InputError, ModelError  # noqa: E402
from ghostproof.protocol.layer import (  # noqa: E402
    int_scores,
    quantise_keys,
    quantise_query,
    quantise_values,
    reference_layer_forward,
    top_k,
)
from ghostproof.prover.hopfield import HopfieldLookup, pick_device  # noqa: E402
from ghostproof.prover.synthetic import noisy_queries, random_values, structured_patterns  # noqa: E402

N, D, D_OUT, K, BETA = 1500, 48, 10, 8, 20.0


@pytest.fixture(scope="module")
def committed() -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
    pats = structured_patterns(N, D, intrinsic_dim=12, seed=21)
    keys, s_k = quantise_keys(pats)
    values, s_v = quantise_values(random_values(N, D_OUT, seed=22))
    x, _ = noisy_queries(pats, 16, noise=0.4, seed=23)
    return keys, values, s_k, s_v, x.astype(np.float64)


def test_pick_device_defaults_to_cuda_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"


def test_invalid_device_raises_input_error() -> None:
    with pytest.raises(InputError):
        pick_device("not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(InputError):
            pick_device("cuda")


def test_dense_output_matches_layer_forward_over_all_columns(committed) -> None:
    keys, values, s_k, s_v, x = committed
    m = HopfieldLookup.from_committed(keys, values, s_k, s_v, BETA, K)
    y = m(torch.from_numpy(x), sparse=False).cpu().numpy()
    for i in range(len(x)):
        ref = reference_layer_forward(quantise_query(x[i]), keys, values, BETA, s_k, s_v)
        np.testing.assert_allclose(y[i], ref, rtol=1e-10, atol=1e-12)


def test_quantisation_matches_protocol(committed) -> None:
    x = committed[4]
    q = HopfieldLookup.quantise(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(q, np.stack([quantise_query(v) for v in x]).astype(np.float64))


def test_sparse_selection_matches_protocol_top_k(committed) -> None:
    keys, values, s_k, s_v, x = committed
    m = HopfieldLookup.from_committed(keys, values, s_k, s_v, BETA, K)
    sel = m.select(m.scores(x)).cpu().numpy()
    y = m(x, sparse=True).cpu().numpy()
    for i in range(len(x)):
        q = quantise_query(x[i])
        expected = top_k(int_scores(q, keys), K)
        np.testing.assert_array_equal(sel[i], expected)
        ref = reference_layer_forward(q, keys[expected], values[expected], BETA, s_k, s_v)
        np.testing.assert_allclose(y[i], ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.forward_selected(x[i], expected).numpy(), ref, rtol=1e-10)


def test_sparse_selection_breaks_ties_by_lower_index() -> None:
    keys = np.zeros((6, 2), dtype=np.int8)
    keys[:, 0] = [1, 4, 4, 0, 4, 4]
    m = HopfieldLookup.from_committed(keys, np.ones((6, 1), np.int8), 1 / 127, 1.0, 1.0, 3)
    sel = m.select(m.scores(np.array([[1.0, 0.0]]))).numpy()
    np.testing.assert_array_equal(sel[0], [1, 2, 4])


def test_single_vector_and_float32_module() -> None:
    keys = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    values = np.random.default_rng(1).standard_normal((50, 3)).astype(np.float32)
    m = HopfieldLookup(keys, values, beta=2.0, k=5, device="cpu")
    x = keys[7]
    y = m(x).numpy()
    a = np.exp(2.0 * (keys @ x) - np.max(2.0 * (keys @ x)))
    np.testing.assert_allclose(y, (a / a.sum()) @ values, rtol=1e-4, atol=1e-6)
    assert m(x, sparse=True).shape == (3,)


def test_invalid_input_shape_raises_input_error(committed) -> None:
    keys, values, s_k, s_v, x = committed
    m = HopfieldLookup.from_committed(keys, values, s_k, s_v, BETA, K)
    with pytest.raises(InputError):
        m(x[:, :-1])
    with pytest.raises(InputError):
        m(np.zeros((1, D)))


def test_invalid_model_raises_model_error(committed) -> None:
    keys, values, s_k, s_v, _ = committed
    with pytest.raises(ModelError):
        HopfieldLookup.from_committed(keys, values, s_k, s_v, BETA, N + 1)
    with pytest.raises(ModelError):
        HopfieldLookup.from_committed(keys, values[:-1], s_k, s_v, BETA, K)
    with pytest.raises(ModelError):
        HopfieldLookup.from_committed(keys.astype(np.int16), values, s_k, s_v, BETA, K)
