"""prover/prove.py: the receipt domain and the input are checked before any work."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import FormatError, InputError
from ghostproof.prover.prove import Prover
from tests.conftest import PROVER_KEY


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("model_id", -1, InputError),
        ("model_id", 1 << 256, InputError),
        ("chain_id", -1, InputError),
        ("chain_id", True, InputError),
        ("verifying_contract", "0x12", FormatError),
        ("verifying_contract", 12, FormatError),
    ],
)
def test_invalid_receipt_domain(small, field, value, error):
    with pytest.raises(error):
        Prover(small.model, PROVER_KEY, **{field: value})


@pytest.mark.parametrize(
    "x",
    [
        np.full(16, 1e300),  # overflows float32
        np.ones(16, dtype=np.complex128),
        np.ones(16, dtype=bool),
        np.full(16, 1e-50),  # non-zero, but zero once rounded to float32
    ],
    ids=["beyond-float32", "complex", "bool", "float32-underflow"],
)
def test_invalid_input(small, x):
    with pytest.raises(InputError):
        small.prover.prove(x)


def test_float64_input_is_rounded_to_float32(small):
    resp = small.prover.prove(small.x.astype(np.float64) + 1e-12, nonce=bytes(32))
    assert resp.request.x.dtype == np.float32
    assert np.array_equal(resp.request.x, small.x)
