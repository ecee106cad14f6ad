"""Reading and writing responses, inputs and request files for the CLI, with errors a user
can act on.

A request file is what a client keeps to check that an answer answers *its* question: the
JSON object ``{"modelId": uint256, "input": [float32 numbers], "nonce": "0x" + 64 hex}``,
exactly those keys (``prove --request-out`` writes one; ``verify --request`` reads it); its
codec is ghostproof.protocol.request (the node's JSON query body is the same object).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ghostproof.adapters.fileio import atomic_write, read_capped
from ghostproof.protocol.errors import FormatError, InputError
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from ghostproof.protocol.layer import check_vector
from ghostproof.protocol.request import MAX_REQUEST_BYTES, request_from_json, request_to_json
from ghostproof.protocol.response import Request, Response
from ghostproof.protocol.response_json import dumps_response, loads_response
from ghostproof.protocol.response_wire import decode_binary, encode_binary


def read_response(path: Path) -> Response:
    """Load a response file, JSON or binary (told apart by the binary magic)."""
    try:
        data = read_capped(path, MAX_RESPONSE_JSON_BYTES)
    except OSError as exc:
        raise FormatError(f"cannot read response {path}: {exc.strerror}") from exc
    if len(data) > MAX_RESPONSE_JSON_BYTES:
        raise FormatError(f"response {path} is larger than {MAX_RESPONSE_JSON_BYTES} bytes")
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


def read_sample(model_dir: Path, index: int) -> np.ndarray:
    """Held-out sample ``index`` of a model directory's samples.npy (no prover extra needed:
    numpy only); InputError if there is no such file or sample."""
    from .layout import SAMPLES_FILE

    path = model_dir / SAMPLES_FILE
    try:
        samples = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read samples {path}: {exc}") from exc
    if samples.ndim != 2 or not 0 <= index < samples.shape[0]:
        count = samples.shape[0] if samples.ndim == 2 else 0
        raise InputError(f"sample {index} does not exist ({path} holds {count})")
    return np.asarray(samples[index])


def parse_nonce(text: str) -> bytes:
    """A request nonce from ``0x`` + 64 hex digits; FormatError otherwise."""
    return from_hex(text, "--nonce", 32)


def input_as_sent(x: np.ndarray) -> np.ndarray:
    """``x`` as a request carries it: float32, 1-D, finite, not all zero (the conversion the
    prover applies); InputError otherwise."""
    x64 = check_vector(x)
    with np.errstate(over="ignore", under="ignore"):
        x32 = x64.astype(np.float32)
    if not np.all(np.isfinite(x32)) or not np.any(x32):
        raise InputError("input has values outside the float32 range, or rounds to zero")
    return x32


def request_from_input(path: Path, nonce: str, model_id: int) -> Request:
    """The request a client sent: the vector in the .npy file ``path``, the ``nonce`` it chose
    (0x + 64 hex) and ``model_id``. InputError / FormatError when unusable."""
    return Request(model_id=model_id, x=input_as_sent(read_input(path)), nonce=parse_nonce(nonce))


def write_request(path: Path, request: Request) -> None:
    """Write ``request`` atomically as a request file."""
    atomic_write(path, (json.dumps(request_to_json(request)) + "\n").encode())


def read_request(path: Path) -> Request:
    """Load a request file (see the module docstring); FormatError if it cannot be read, is
    over MAX_REQUEST_BYTES, is not JSON (protocol.jsonlimits.load_json) or is malformed."""
    try:
        data = read_capped(path, MAX_REQUEST_BYTES)
    except OSError as exc:
        raise FormatError(f"cannot read request {path}: {exc.strerror}") from exc
    obj = load_json(data, what=f"request {path}", max_bytes=MAX_REQUEST_BYTES)
    try:
        return request_from_json(obj)
    except FormatError as exc:
        raise FormatError(f"request {path}: {exc}") from None
