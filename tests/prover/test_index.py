"""prover/index.py: retriever call shape, exactness of the re-rank, ties, errors, recall."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.layer import int_scores, quantise_keys, quantise_query, top_k
from ghostproof.prover.index import ExactRetriever, HnswRetriever, Retriever, select_top_k
from ghostproof.prover.synthetic import noisy_queries, structured_patterns

N, D, K = 2000, 64, 16


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pats = structured_patterns(N, D, intrinsic_dim=8, seed=11)
    keys, _ = quantise_keys(pats)
    queries, _ = noisy_queries(pats, 40, noise=0.3, seed=12)
    qs = np.stack([quantise_query(x) for x in queries])
    return pats, keys, qs


@pytest.fixture(scope="module")
def hnsw(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> HnswRetriever:
    progress: list[tuple[int, int]] = []
    r = HnswRetriever.build(
        data[1],
        M=16,
        ef_construction=100,
        seed=1,
        on_progress=lambda a, b: progress.append((a, b)),
        batch_size=700,
    )
    assert progress == [(700, N), (1400, N), (2000, N)]
    return r


@pytest.mark.parametrize("use_torch", [False, True])
def test_exact_retriever_matches_integer_scores_best_first(data, use_torch: bool) -> None:
    _, keys, qs = data
    r = ExactRetriever(keys, use_torch=use_torch)
    assert isinstance(r, Retriever) and r.dim == D
    for q in qs[:5]:
        ids, scores = r.search(q, 50)
        assert ids.dtype == np.int64 and len(ids) == 50
        full = int_scores(q, keys).astype(np.int64)
        np.testing.assert_array_equal(scores, full[ids])
        assert np.all(np.diff(scores) <= 0)
        np.testing.assert_array_equal(np.sort(ids[:K]), top_k(full, K))


def test_exact_retriever_breaks_ties_by_lower_index() -> None:
    keys = np.zeros((10, 4), dtype=np.int8)
    keys[[2, 5, 7], 0] = 3  # three columns tie on the top score
    ids, _ = ExactRetriever(keys, use_torch=False).search(np.array([1, 0, 0, 0], np.int8), 2)
    np.testing.assert_array_equal(ids, [2, 5])
    ids, _ = ExactRetriever(keys).search(np.array([1, 0, 0, 0], np.int8), 5)
    np.testing.assert_array_equal(ids, [2, 5, 7, 0, 1])


def test_select_top_k_is_exact_with_exact_candidates(data) -> None:
    _, keys, qs = data
    r = ExactRetriever(keys)
    for q in qs:
        sel = select_top_k(r, q, keys, K, K)
        np.testing.assert_array_equal(sel, top_k(int_scores(q, keys), K))
        assert np.all(np.diff(sel) > 0)


def test_select_top_k_ties_go_to_lower_index() -> None:
    keys = np.zeros((8, 2), dtype=np.int8)
    keys[:, 0] = [1, 5, 5, 2, 5, 0, 5, 1]
    sel = select_top_k(ExactRetriever(keys), np.array([1, 0], np.int8), keys, 3, 8)
    np.testing.assert_array_equal(sel, [1, 2, 4])


def test_select_top_k_reranks_candidates_exactly(data) -> None:
    """Whatever order the retriever returns candidates in, the re-rank is by exact score."""
    _, keys, qs = data

    class Shuffled:
        dim = D

        def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
            ids, s = ExactRetriever(keys, use_torch=False).search(q, n)
            perm = np.random.default_rng(0).permutation(len(ids))
            return ids[perm], s[perm]

    q = qs[0]
    np.testing.assert_array_equal(select_top_k(Shuffled(), q, keys, K, 3 * K), top_k(int_scores(q, keys), K))


def test_hnsw_recall_on_structured_data(data, hnsw: HnswRetriever) -> None:
    _, keys, qs = data
    hnsw.ef = 64
    exact = ExactRetriever(keys)
    recalls = []
    for q in qs:
        ids, scores = hnsw.search(q, K)
        assert ids.dtype == np.int64 and np.all(np.diff(scores) <= 1e-6)
        truth = select_top_k(exact, q, keys, K, K)
        sel = select_top_k(hnsw, q, keys, K, K)
        recalls.append(len(np.intersect1d(sel, truth)) / K)
    assert np.mean(recalls) >= 0.95


def test_hnsw_scores_are_inner_products(data, hnsw: HnswRetriever) -> None:
    _, keys, qs = data
    ids, scores = hnsw.search(qs[1], 10)
    np.testing.assert_array_equal(scores, int_scores(qs[1], keys[ids]))


def test_hnsw_save_and_load_round_trip(tmp_path, data, hnsw: HnswRetriever) -> None:
    _, _, qs = data
    path = tmp_path / "keys.hnsw"
    hnsw.save(path)
    loaded = HnswRetriever.load(path, N, D)
    loaded.ef = hnsw.ef
    np.testing.assert_array_equal(loaded.search(qs[2], 8)[0], hnsw.search(qs[2], 8)[0])


def test_invalid_load_raises_model_error(tmp_path, hnsw: HnswRetriever) -> None:
    with pytest.raises(ModelError):
        HnswRetriever.load(tmp_path / "missing.hnsw", N, D)
    path = tmp_path / "keys.hnsw"
    hnsw.save(path)
    with pytest.raises(ModelError):
        HnswRetriever.load(path, N + 1, D)


def test_invalid_query_dimension_raises_input_error(data, hnsw: HnswRetriever) -> None:
    _, keys, qs = data
    with pytest.raises(InputError):
        hnsw.search(qs[0][:-1], 5)
    with pytest.raises(InputError):
        ExactRetriever(keys).search(qs[0].astype(np.float32), 5)
    with pytest.raises(InputError):
        select_top_k(hnsw, np.zeros(D + 1, np.int8), keys, K, K)


def test_invalid_k_raises_model_error(data, hnsw: HnswRetriever) -> None:
    _, keys, qs = data
    with pytest.raises(ModelError):
        select_top_k(hnsw, qs[0], keys, N + 1, N + 1)
    with pytest.raises(ModelError):
        select_top_k(hnsw, qs[0], keys, 0, 10)


def test_invalid_key_columns_raise_model_error(data, hnsw: HnswRetriever) -> None:
    _, keys, qs = data
    with pytest.raises(ModelError):
        select_top_k(hnsw, qs[0], keys[:, :-1], K, K)
    with pytest.raises(ModelError):
        ExactRetriever(keys.astype(np.float32))
