"""ghostproof/files.py: request files (what ``prove --request-out`` writes and ``verify
--request`` reads) and the input a request carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.storage.answers import read_request, request_from_input, write_request
from ghostproof.protocol.errors import FormatError, InputError
from ghostproof.protocol.response import Request

NONCE = "0x" + "01" * 32


def test_request_file_roundtrip(tmp_path: Path) -> None:
    sent = Request(5, np.array([0.1, -2.5, 3e-8], dtype=np.float32), bytes.fromhex("01" * 32))
    write_request(tmp_path / "r.json", sent)
    got = read_request(tmp_path / "r.json")
    assert (got.model_id, got.nonce) == (5, sent.nonce)
    assert got.x.dtype == np.float32 and np.array_equal(got.x, sent.x)
    assert got.hash == sent.hash


def test_request_file_format(tmp_path: Path) -> None:
    write_request(tmp_path / "r.json", Request(0, np.ones(2, dtype=np.float32), bytes(32)))
    assert json.loads((tmp_path / "r.json").read_text()) == {
        "modelId": 0, "input": [1.0, 1.0], "nonce": "0x" + "00" * 32
    }


def test_request_from_input_is_what_the_prover_signs(tmp_path: Path) -> None:
    x = np.array([0.1, 0.2, 0.3])  # float64, rounded to float32 as the prover does
    np.save(tmp_path / "x.npy", x)
    request = request_from_input(tmp_path / "x.npy", NONCE, 3)
    assert request.x.dtype == np.float32 and np.array_equal(request.x, x.astype(np.float32))
    assert request.model_id == 3 and request.nonce == bytes.fromhex("01" * 32)


@pytest.mark.parametrize("x", [np.array([np.inf, 1.0]), np.zeros(3), np.array([1e300, 1.0]),
                               np.ones(3, dtype=np.complex64)])
def test_invalid_request_input(tmp_path: Path, x: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(InputError):
        request_from_input(tmp_path / "x.npy", NONCE, 0)


@pytest.mark.parametrize(
    "obj",
    [
        {"modelId": 0, "input": [1.0], "nonce": NONCE, "extra": 1},
        {"modelId": True, "input": [1.0], "nonce": NONCE},
        {"modelId": 1 << 256, "input": [1.0], "nonce": NONCE},
        {"modelId": 0, "input": [], "nonce": NONCE},
        {"modelId": 0, "input": [0.1], "nonce": NONCE},  # not a float32
        {"modelId": 0, "input": [1e39], "nonce": NONCE},  # beyond float32
        {"modelId": 0, "input": [True], "nonce": NONCE},
        {"modelId": 0, "input": [1.0], "nonce": "0x" + "01" * 31},
        [],
    ],
)
def test_invalid_request_file(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(FormatError, match=str(path)):
        read_request(path)


def test_invalid_request_file_too_large(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b" " * ((4 << 20) + 1))
    with pytest.raises(FormatError, match="byte limit"):
        read_request(path)
