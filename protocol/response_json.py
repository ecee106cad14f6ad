"""The JSON form of a proven answer (docs/PROTOCOL.md §8.1, ``"ghostproof/response/2"``):
bytes as 0x-hex, the input as JSON numbers (each exactly a float32), the selection
delta-encoded.

The decoder checks structure and bounds only (exact keys, types, lengths, sortedness); whether
the answer is *true* is the verifier's job. ``response_from_json(response_to_json(r))``
gives ``r`` back exactly. Used by the answer files (adapters/storage), the prover's node and
the test vectors. Pure: no I/O.
"""

from __future__ import annotations

import json

import numpy as np
from eth_utils import to_checksum_address

from .constants import MAX_DIM, MAX_K, MAX_LAYERS, RESPONSE_FORMAT, RESPONSE_FORMAT_PREFIX
from .errors import FormatError
from .formats import check_format
from .hashing import from_hex, to_hex
from .jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from .layer import MAX_OUTPUT_ABS
from .response import MAX_TAU_ABS, LayerProof, Request, Response, delta_decode, delta_encode


def _int8_hex(data: np.ndarray) -> str:
    return to_hex(np.ascontiguousarray(data, dtype=np.int8).tobytes())


def _int8_from_hex(text: object, what: str, shape: tuple[int, ...]) -> np.ndarray:
    raw = from_hex(text, what, int(np.prod(shape)))
    return np.frombuffer(raw, dtype=np.int8).reshape(shape).copy()


def _float_list(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def _floats(obj: object, what: str, dtype: type) -> np.ndarray:
    if not isinstance(obj, list) or not obj or len(obj) > MAX_DIM:
        raise FormatError(f"{what} must be a non-empty list of at most {MAX_DIM} numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj):
        raise FormatError(f"{what} must hold only numbers")
    try:
        arr = np.array(obj, dtype=np.float64)
    except OverflowError as exc:
        raise FormatError(f"{what} holds a number too large for a float") from exc
    if not np.all(np.isfinite(arr)):
        raise FormatError(f"{what} contains NaN or infinity")
    out = arr.astype(dtype)
    if dtype is np.float32 and not np.array_equal(out.astype(np.float64), arr):
        raise FormatError(f"{what} holds values that are not exact float32")
    return out


def response_to_json(resp: Response) -> dict[str, object]:
    """The JSON object of a response (hex for bytes, numbers for floats)."""
    return {
        "format": RESPONSE_FORMAT,
        "modelId": resp.request.model_id,
        "chainId": resp.chain_id,
        "verifyingContract": resp.verifying_contract,
        "ghostRoot": to_hex(resp.ghost_root),
        "request": {"input": _float_list(resp.request.x), "nonce": to_hex(resp.request.nonce)},
        "layers": [
            {
                "q": _int8_hex(lp.q),
                "tau": int(lp.tau),
                "selected": delta_encode(lp.selected),
                "keyColumns": _int8_hex(lp.key_columns),
                "valueRows": _int8_hex(lp.value_rows),
                "keyProof": [to_hex(h) for h in lp.key_proof],
                "valueProof": [to_hex(h) for h in lp.value_proof],
                "dOut": int(lp.value_rows.shape[1]),
            }
            for lp in resp.layers
        ],
        "output": [int(v) for v in resp.output],
        "prover": resp.prover,
        "signature": to_hex(resp.signature),
    }


def _uint(obj: object, what: str, bits: int = 256) -> int:
    if not isinstance(obj, int) or isinstance(obj, bool) or not 0 <= obj < 1 << bits:
        raise FormatError(f"{what} must be an unsigned {bits}-bit integer")
    return obj


def _int_in(obj: object, what: str, bound: int) -> int:
    if not isinstance(obj, int) or isinstance(obj, bool) or not -bound <= obj <= bound:
        raise FormatError(f"{what} must be an integer in ±{bound}")
    return obj


def _outputs(obj: object) -> np.ndarray:
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_DIM:
        raise FormatError(f"output must be a non-empty list of at most {MAX_DIM} integers")
    return np.array([_int_in(v, "output", MAX_OUTPUT_ABS) for v in obj], dtype=np.int64)


def _address(obj: object, what: str) -> str:
    return to_checksum_address(from_hex(obj, what, 20))


def _hash_list(obj: object, what: str, limit: int) -> tuple[bytes, ...]:
    if not isinstance(obj, list) or len(obj) > limit:
        raise FormatError(f"{what} must be a list of at most {limit} hashes")
    return tuple(from_hex(h, f"{what}[{i}]", 32) for i, h in enumerate(obj))


def _layer_from_json(obj: object, i: int) -> LayerProof:
    keys = {"q", "tau", "selected", "keyColumns", "valueRows", "keyProof", "valueProof", "dOut"}
    if not isinstance(obj, dict) or set(obj) != keys:
        raise FormatError(f"layers[{i}] must have exactly {sorted(keys)}")
    q_raw = from_hex(obj["q"], f"layers[{i}].q")
    d_in = len(q_raw)
    d_out = _uint(obj["dOut"], f"layers[{i}].dOut", 32)
    if not 1 <= d_in <= MAX_DIM or not 1 <= d_out <= MAX_DIM:
        raise FormatError(f"layers[{i}] dimensions out of range")
    if not isinstance(obj["selected"], list) or not 1 <= len(obj["selected"]) <= MAX_K:
        raise FormatError(f"layers[{i}].selected must list 1..{MAX_K} indices")
    selected = delta_decode(obj["selected"], f"layers[{i}].selected")
    k = len(selected)
    return LayerProof(
        q=np.frombuffer(q_raw, dtype=np.int8).copy(),
        tau=_int_in(obj["tau"], f"layers[{i}].tau", MAX_TAU_ABS),
        selected=selected,
        key_columns=_int8_from_hex(obj["keyColumns"], f"layers[{i}].keyColumns", (k, d_in)),
        value_rows=_int8_from_hex(obj["valueRows"], f"layers[{i}].valueRows", (k, d_out)),
        key_proof=_hash_list(obj["keyProof"], f"layers[{i}].keyProof", 32 * k),
        value_proof=_hash_list(obj["valueProof"], f"layers[{i}].valueProof", 32 * k),
    )


def response_from_json(obj: object) -> Response:
    """Parse a response JSON object; FormatError naming the first malformed field."""
    keys = {
        "format", "modelId", "chainId", "verifyingContract", "ghostRoot", "request",
        "layers", "output", "prover", "signature",
    }
    if not isinstance(obj, dict) or set(obj) != keys:
        raise FormatError(f"response must have exactly {sorted(keys)}")
    check_format(obj["format"], RESPONSE_FORMAT_PREFIX, "response", FormatError)
    req = obj["request"]
    if not isinstance(req, dict) or set(req) != {"input", "nonce"}:
        raise FormatError("request must have exactly 'input' and 'nonce'")
    layers = obj["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise FormatError(f"layers must list 1..{MAX_LAYERS} layers")
    return Response(
        request=Request(
            model_id=_uint(obj["modelId"], "modelId"),
            x=_floats(req["input"], "request.input", np.float32),
            nonce=from_hex(req["nonce"], "request.nonce", 32),
        ),
        ghost_root=from_hex(obj["ghostRoot"], "ghostRoot", 32),
        chain_id=_uint(obj["chainId"], "chainId"),
        verifying_contract=_address(obj["verifyingContract"], "verifyingContract"),
        layers=tuple(_layer_from_json(x, i) for i, x in enumerate(layers)),
        output=_outputs(obj["output"]),
        prover=_address(obj["prover"], "prover"),
        signature=from_hex(obj["signature"], "signature", 65),
    )


def dumps_response(resp: Response, *, compact: bool = False) -> str:
    """The response as JSON text: indented for files people read, or ``compact`` (no
    whitespace; the C encoder, ~1.5× faster) for the wire. Both parse to the same response."""
    if compact:
        return json.dumps(response_to_json(resp), separators=(",", ":"))
    return json.dumps(response_to_json(resp), indent=1)


def loads_response(text: str | bytes) -> Response:
    """Parse JSON text into a Response; FormatError on malformed JSON or fields."""
    obj = load_json(text, what="response", max_bytes=MAX_RESPONSE_JSON_BYTES)
    return response_from_json(obj)
