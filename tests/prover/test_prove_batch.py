"""prover/prove.py's ``prove_batch``: each element is byte for byte what ``prove`` returns for
that query (exact search, and a real HNSW index searched as one multi-threaded batch per
layer), a bad input or an unsafe selection fails its own query only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ghostproof.protocol.errors import GhostproofError, InputError, ModelError, UnsafeSelectionError
from ghostproof.protocol.response import Response
from ghostproof.protocol.response_json import response_to_json
from ghostproof.prover.index import ExactRetriever, HnswRetriever
from ghostproof.prover.prove import Prover
from tests.conftest import CHAIN_ID, CONTRACT, MODEL_ID, PROVER_KEY, build_small_model


def _same(a: Response | GhostproofError, b: Response) -> None:
    assert isinstance(a, Response), a
    assert a.digest() == b.digest() and a.signature == b.signature
    assert json.dumps(response_to_json(a)) == json.dumps(response_to_json(b))


def _nonces(m: int) -> list[bytes]:
    return [bytes([i]) * 32 for i in range(m)]


def test_exact_batch_equals_prove_per_query(small):
    xs = [np.asarray(x, np.float32) for x in build_small_model()[1][:6]]
    nonces = _nonces(len(xs))
    batch = small.prover.prove_batch(xs, nonces)
    assert len(batch) == len(xs)
    for got, x, nonce in zip(batch, xs, nonces, strict=True):
        _same(got, small.prover.prove(x, nonce))


@pytest.fixture(scope="module")
def hnsw_prover() -> tuple[Prover, np.ndarray]:
    """A two-layer model of 3000 columns with an HNSW index per layer, searched at a breadth
    (32) far below N, so that the index's approximation shows, and its samples."""
    model, samples = build_small_model(n=3000, d=32, layers=2, k=8, seed=3)
    retrievers = [HnswRetriever.build(layer.keys, M=8, ef_construction=32, ef=32) for layer in model.layers]
    prover = Prover(model, PROVER_KEY, retrievers, model_id=MODEL_ID, chain_id=CHAIN_ID,
                    verifying_contract=CONTRACT, candidates_factor=2)
    return prover, np.asarray(samples, np.float32)


def test_hnsw_batch_equals_prove_per_query(hnsw_prover):
    prover, samples = hnsw_prover
    rng = np.random.default_rng(0)
    xs = list(samples[:40] + rng.normal(0, 0.3, samples[:40].shape).astype(np.float32))
    nonces = _nonces(len(xs))
    exact = ExactRetriever(prover.model.layers[0].keys)
    missed = 0
    for got, x, nonce in zip(prover.prove_batch(xs, nonces), xs, nonces, strict=True):
        alone = prover.prove(x, nonce)
        _same(got, alone)
        top = exact.search(alone.layers[0].q, 8)[0]
        missed += set(top.tolist()) != set(alone.layers[0].selected)
    # The index is approximate at this breadth: some selections are not the exact top-k, so
    # the equality above compares what hnswlib found, not the exact answer twice.
    assert missed > 0


def test_one_bad_input_fails_alone(small):
    xs = [small.x, np.zeros(16, np.float32), small.x * 2, np.ones(3, np.float32), np.full(16, np.nan)]
    nonces = _nonces(len(xs))
    batch = small.prover.prove_batch(xs, nonces)
    assert [type(r) for r in batch] == [Response, InputError, Response, InputError, InputError]
    _same(batch[0], small.prover.prove(xs[0], nonces[0]))
    _same(batch[2], small.prover.prove(xs[2], nonces[2]))
    with pytest.raises(InputError) as alone:
        small.prover.prove(xs[1], nonces[1])
    assert str(alone.value) == str(batch[1])


class Poisoned:
    """An exact retriever (with a batch search) that returns a shallow candidate set — the exact
    top-k alone, 0 below τ — for one poisoned query, and deep candidates for the others."""

    def __init__(self, keys: np.ndarray, poisoned: np.ndarray, k: int):
        self._exact = ExactRetriever(keys)
        self.dim, self.k = self._exact.dim, k
        self.poisoned = poisoned.tobytes()
        self.batches: list[int] = []

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._exact.search(q, self.k if np.asarray(q).tobytes() == self.poisoned else n)

    def search_batch(self, qs: np.ndarray, n: int) -> list[np.ndarray]:
        """One row of ids per query (rows of different lengths: prove_batch only iterates)."""
        self.batches.append(len(qs))
        return [self.search(q, n)[0] for q in qs]


def test_unsafe_selection_fails_alone(small):
    model, samples = build_small_model()
    xs = [np.asarray(x, np.float32) for x in samples[:4]]
    q0 = small.prover.prove(xs[2], bytes(32)).layers[0].q
    layers = model.layers
    retrievers = [Poisoned(layers[0].keys, q0, layers[0].spec.k), ExactRetriever(layers[1].keys)]
    prover = Prover(model, PROVER_KEY, retrievers, model_id=MODEL_ID, chain_id=CHAIN_ID,
                    verifying_contract=CONTRACT, candidates_factor=4, selection_margin=1)
    nonces = _nonces(len(xs))
    batch = prover.prove_batch(xs, nonces)
    assert retrievers[0].batches == [4]  # one batch search for layer 0
    assert isinstance(batch[2], UnsafeSelectionError) and "layer 0" in str(batch[2])
    for j in (0, 1, 3):
        _same(batch[j], prover.prove(xs[j], nonces[j]))
    with pytest.raises(UnsafeSelectionError):
        prover.prove(xs[2], nonces[2])


def test_batch_needs_one_nonce_per_input(small):
    with pytest.raises(InputError):
        small.prover.prove_batch([small.x, small.x], [bytes(32)])
    assert small.prover.prove_batch([]) == []
    (drawn,) = small.prover.prove_batch([small.x])
    assert isinstance(drawn, Response) and len(drawn.request.nonce) == 32


class FailingBatch:
    """An exact retriever whose batch search fails: each query is then searched alone."""

    def __init__(self, keys: np.ndarray):
        self._exact = ExactRetriever(keys)
        self.dim = self._exact.dim

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._exact.search(q, n)

    def search_batch(self, qs: np.ndarray, n: int) -> np.ndarray:
        raise ModelError("HNSW search failed")


def test_failed_batch_search_falls_back_to_one_search_each(small):
    model = small.model
    prover = Prover(model, PROVER_KEY, [FailingBatch(layer.keys) for layer in model.layers],
                    model_id=MODEL_ID, chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    xs = [np.asarray(x, np.float32) for x in build_small_model()[1][:3]]
    for got, x, nonce in zip(prover.prove_batch(xs, _nonces(3)), xs, _nonces(3), strict=True):
        _same(got, small.prover.prove(x, nonce))
