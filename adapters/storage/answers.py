"""Reading and writing responses, inputs and request files for the CLI, with errors a user
can act on.

A request file is what a client keeps to check that an answer answers *its* question: the
JSON object ``{"modelId": uint256, "input": [float32 numbers], "nonce": "0x" + 64 hex}``,
exactly those keys (``prove --request-out`` writes one; ``verify --request`` reads it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ghostproof.adapters.fileio import atomic_write, read_capped
from ghostproof.protocol.constants import MAX_DIM
from ghostproof.protocol.errors import FormatError, InputError
from ghostproof.protocol.hashing import from_hex, to_hex
from ghostproof.protocol.jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from ghostproof.protocol.layer import check_vector
from ghostproof.protocol.response import Request, Response
from ghostproof.protocol.response_json import dumps_response, loads_response
from ghostproof.protocol.response_wire import decode_binary, encode_binary

REQUEST_KEYS = frozenset({"modelId", "input", "nonce"})
#: A request of MAX_DIM float32 numbers printed in full is well under this.
MAX_REQUEST_BYTES = 4 << 20


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


def request_to_json(request: Request) -> dict[str, object]:
    """The request file's JSON object."""
    return {
        "modelId": request.model_id,
        "input": [float(v) for v in np.asarray(request.x, dtype=np.float32)],
        "nonce": to_hex(request.nonce),
    }


def write_request(path: Path, request: Request) -> None:
    """Write ``request`` atomically as a request file."""
    atomic_write(path, (json.dumps(request_to_json(request)) + "\n").encode())


def _request_input(obj: object) -> np.ndarray:
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_DIM:
        raise FormatError(f"request input must be a list of 1..{MAX_DIM} numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj):
        raise FormatError("request input must hold only numbers")
    try:
        x64 = np.array(obj, dtype=np.float64)
    except OverflowError:
        raise FormatError("request input holds a number too large for a float") from None
    with np.errstate(over="ignore"):
        x32 = x64.astype(np.float32)
    if not np.all(np.isfinite(x64)) or not np.array_equal(x32.astype(np.float64), x64):
        raise FormatError("request input must hold finite float32 numbers (as prove writes them)")
    return x32


def request_from_json(obj: object) -> Request:
    """Parse a request file's object; FormatError naming the first malformed field."""
    if not isinstance(obj, dict) or set(obj) != REQUEST_KEYS:
        raise FormatError(f"a request must have exactly the keys {sorted(REQUEST_KEYS)}")
    model_id = obj["modelId"]
    if not isinstance(model_id, int) or isinstance(model_id, bool) or not 0 <= model_id < 1 << 256:
        raise FormatError("request modelId must be an unsigned 256-bit integer")
    return Request(model_id=model_id, x=_request_input(obj["input"]),
                   nonce=from_hex(obj["nonce"], "request nonce", 32))


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
