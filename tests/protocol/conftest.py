"""Shared by the response tests: the small model's proven response, and a field-by-field
comparison of two responses."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.response import Response


def assert_same(a: Response, b: Response) -> None:
    """Every field of two responses is equal (arrays by value and dtype)."""
    assert a.request.model_id == b.request.model_id
    assert a.request.nonce == b.request.nonce
    assert a.request.x.dtype == b.request.x.dtype == np.float32
    assert np.array_equal(a.request.x, b.request.x)
    assert a.ghost_root == b.ghost_root
    assert a.chain_id == b.chain_id
    assert a.verifying_contract == b.verifying_contract
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(la.q, lb.q) and la.q.dtype == lb.q.dtype == np.int8
        assert la.tau == lb.tau and isinstance(la.tau, int)
        assert la.selected == lb.selected
        assert np.array_equal(la.key_columns, lb.key_columns)
        assert np.array_equal(la.value_rows, lb.value_rows)
        assert la.key_proof == lb.key_proof
        assert la.value_proof == lb.value_proof
    assert a.output.dtype == b.output.dtype == np.int64
    assert np.array_equal(a.output, b.output)
    assert a.prover == b.prover
    assert a.signature == b.signature
    assert a.digest() == b.digest()


@pytest.fixture(scope="module")
def resp(small) -> Response:
    """A valid two-layer response (tests/conftest.py ``small``)."""
    return small.response
