"""Reading and writing responses and inputs for the CLI, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protocol.errors import FormatError, InputError
from protocol.response import Response, decode_binary, dumps_response, encode_binary, loads_response
from prover.modeldir import atomic_write


def read_response(path: Path) -> Response:
    """Load a response file, JSON or binary (told apart by the binary magic)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read response {path}: {exc.strerror}") from exc
    if data[:3] == b"GPR":
        return decode_binary(data)
    return loads_response(data)


def write_response(path: Path, response: Response, binary: bool = False) -> int:
    """Write ``response`` atomically as JSON (or the binary wire form); returns its size."""
    data = encode_binary(response) if binary else dumps_response(response).encode()
    atomic_write(path, data)
    return len(data)


def read_input(path: Path) -> np.ndarray:
    """Load a query vector from a .npy file (1-D, or a single row)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read input {path}: {exc}") from exc
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise InputError(f"input {path} must hold one vector, got shape {arr.shape}")
    return arr
