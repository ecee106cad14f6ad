"""A client's request (model id, input vector, nonce) in its two encodings: the JSON object of
request files and of the node's JSON query body, and the binary wire form of the node's
``application/octet-stream`` query body (docs/PROTOCOL.md §8.3).

JSON: ``{"modelId": uint256, "input": [float32 numbers], "nonce": "0x" + 64 hex}``, exactly
those keys; every input number must be exactly a float32 (what the prover signs).

Binary: ``"GPQ" ‖ uint8 version (2)`` ‖ uint256 modelId ‖ nonce (32 bytes) ‖ uint32 n ‖
n × float32 big-endian; no flags, no trailing bytes.

Both decoders raise FormatError naming the field (``.field``: ``modelId``, ``input``,
``nonce``, ``body``). Used by the answer files (adapters/storage/answers.py), the node
(prover/node) and the wallet. Pure: no I/O.
"""

from __future__ import annotations

import struct

import numpy as np

from .constants import FORMAT_VERSION, MAX_DIM
from .errors import FormatError
from .hashing import from_hex, to_hex
from .response import Request

REQUEST_KEYS = frozenset({"modelId", "input", "nonce"})
#: A request of MAX_DIM float32 numbers printed in full is well under this.
MAX_REQUEST_BYTES = 4 << 20
REQUEST_MAGIC = b"GPQ" + bytes([FORMAT_VERSION])
_HEADER = struct.Struct(">4s32s32sI")


def _bad(field: str, message: str) -> FormatError:
    return FormatError(message, field=field)


def request_to_json(request: Request) -> dict[str, object]:
    """The request's JSON object (request files, the node's JSON query body)."""
    return {
        "modelId": request.model_id,
        "input": [float(v) for v in np.asarray(request.x, dtype=np.float32)],
        "nonce": to_hex(request.nonce),
    }


def _request_input(obj: object) -> np.ndarray:
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_DIM:
        raise _bad("input", f"request input must be a list of 1..{MAX_DIM} numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj):
        raise _bad("input", "request input must hold only numbers")
    try:
        x64 = np.array(obj, dtype=np.float64)
    except OverflowError:
        raise _bad("input", "request input holds a number too large for a float") from None
    with np.errstate(over="ignore"):
        x32 = x64.astype(np.float32)
    if not np.all(np.isfinite(x64)) or not np.array_equal(x32.astype(np.float64), x64):
        raise _bad("input", "request input must hold finite float32 numbers (as prove writes them)")
    return x32


def _model_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 256:
        raise _bad("modelId", "request modelId must be an unsigned 256-bit integer")
    return value


def request_from_json(obj: object) -> Request:
    """Parse a request's JSON object; FormatError naming the first malformed field."""
    if not isinstance(obj, dict) or set(obj) != REQUEST_KEYS:
        raise _bad("body", f"a request must have exactly the keys {sorted(REQUEST_KEYS)}")
    model_id = _model_id(obj["modelId"])
    x = _request_input(obj["input"])
    try:
        nonce = from_hex(obj["nonce"], "request nonce", 32)
    except ValueError as exc:
        raise _bad("nonce", str(exc)) from None
    return Request(model_id=model_id, x=x, nonce=nonce)


def encode_request(request: Request) -> bytes:
    """The binary wire form of ``request`` (docs/PROTOCOL.md §8.3)."""
    x = np.asarray(request.x, dtype=np.float32)
    head = _HEADER.pack(REQUEST_MAGIC, request.model_id.to_bytes(32, "big"), request.nonce, len(x))
    return head + x.astype(">f4").tobytes()


def decode_request(data: bytes) -> Request:
    """Inverse of :func:`encode_request`; FormatError on a bad magic or version, a length of
    0 or over MAX_DIM, truncation, trailing bytes or a non-finite input."""
    if len(data) < _HEADER.size or data[:3] != REQUEST_MAGIC[:3]:
        raise _bad("body", f"not a ghostproof binary request (magic {REQUEST_MAGIC!r}, "
                           f"at least {_HEADER.size} bytes)")
    magic, model_id, nonce, n = _HEADER.unpack_from(data)
    if magic != REQUEST_MAGIC:
        raise _bad("body", f"binary request is format version {data[3]}, not {FORMAT_VERSION}")
    if not 1 <= n <= MAX_DIM:
        raise _bad("input", f"binary request input length must be 1..{MAX_DIM}, got {n}")
    if len(data) != _HEADER.size + 4 * n:
        raise _bad("input", f"binary request of {n} numbers must be {_HEADER.size + 4 * n} "
                            f"bytes, got {len(data)}")
    x = np.frombuffer(data, dtype=">f4", offset=_HEADER.size).astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise _bad("input", "request input must hold finite float32 numbers")
    return Request(model_id=int.from_bytes(model_id, "big"), x=x, nonce=nonce)
