"""A proven answer (DESIGN §3): data classes, JSON (hex) and compact binary encodings.

Decoders check structure and bounds only (lengths, sortedness, sizes); whether the answer
is *true* is the verifier's job. Both encodings round-trip exactly.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard
from eth_utils import to_checksum_address

from .constants import FORMAT_VERSION, MAX_DIM, MAX_K, MAX_LAYERS, RESPONSE_FORMAT, RESPONSE_FORMAT_PREFIX
from .errors import FormatError
from .formats import check_format
from .hashing import from_hex, to_hex
from .jsonlimits import MAX_RESPONSE_JSON_BYTES, load_json
from .layer import MAX_OUTPUT_ABS
from .receipt import output_hash, receipt_digest, request_hash, selection_hash

_MAGIC_PREFIX = b"GPR"
_MAGIC = _MAGIC_PREFIX + bytes([FORMAT_VERSION])
#: |τ| ≤ 127² · 2^16 < 2^31: a threshold always fits an int32.
MAX_TAU_ABS = (1 << 31) - 1
_FLAG_ZSTD = 0x01
_MAX_WIRE_BYTES = 64 << 20


@dataclass(frozen=True, eq=False)
class Request:
    """What a client asks: an input vector for a model, with a nonce of its choosing."""

    model_id: int
    x: np.ndarray  # float32, 1-D
    nonce: bytes  # 32 bytes

    @property
    def hash(self) -> bytes:
        """requestHash (protocol/receipt.py)."""
        return request_hash(self.model_id, self.nonce, self.x)


@dataclass(frozen=True, eq=False)
class LayerProof:
    """One layer of an answer: claimed query, selected indices, revealed columns, multiproofs."""

    q: np.ndarray  # int8 (d_in,)
    tau: int  # the lowest exact score in the selection (int32)
    selected: tuple[int, ...]  # strictly increasing column indices
    key_columns: np.ndarray  # int8 (k, d_in), row i = column selected[i] of K
    value_rows: np.ndarray  # int8 (k, d_out), row i = row selected[i] of V
    key_proof: tuple[bytes, ...]
    value_proof: tuple[bytes, ...]


@dataclass(frozen=True, eq=False)
class Response:
    """A proven answer and its receipt (the prover's EIP-712 signature over it)."""

    request: Request
    ghost_root: bytes
    chain_id: int
    verifying_contract: str
    layers: tuple[LayerProof, ...]
    output: np.ndarray  # int64 (d_out,), the claimed exact final output (Q16, units of s_V)
    prover: str
    signature: bytes

    def digest(self) -> bytes:
        """The EIP-712 receipt digest this response's signature must cover."""
        return receipt_digest(
            chain_id=self.chain_id,
            verifying_contract=self.verifying_contract,
            model_id=self.request.model_id,
            ghost_root=self.ghost_root,
            request=self.request.hash,
            selection=selection_hash([(lp.q, lp.tau, lp.selected) for lp in self.layers]),
            output=output_hash(self.output),
        )


# ---------------------------------------------------------------- JSON

def delta_encode(indices: Sequence[int]) -> list[int]:
    """[i0, i1-i0, i2-i1, …] of strictly increasing indices."""
    return [int(i) - int(p) for i, p in zip(indices, [0, *indices[:-1]], strict=True)]


def delta_decode(deltas: Sequence[int], what: str = "selected") -> tuple[int, ...]:
    """Inverse of :func:`delta_encode`; FormatError unless every delta after the first is ≥ 1."""
    out: list[int] = []
    for i, d in enumerate(deltas):
        if not isinstance(d, int) or isinstance(d, bool) or d < (0 if i == 0 else 1):
            raise FormatError(f"{what} must be delta-encoded strictly increasing indices")
        out.append(d if i == 0 else out[-1] + d)
    return tuple(out)


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


def dumps_response(resp: Response) -> str:
    """The response as JSON text."""
    return json.dumps(response_to_json(resp), indent=1)


def loads_response(text: str | bytes) -> Response:
    """Parse JSON text into a Response; FormatError on malformed JSON or fields."""
    obj = load_json(text, what="response", max_bytes=MAX_RESPONSE_JSON_BYTES)
    return response_from_json(obj)


# ---------------------------------------------------------------- binary

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"binary response is truncated in {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def varint(self, what: str) -> int:
        value = shift = 0
        for i in range(5):
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FormatError(f"non-minimal varint in {what}")
                return value
            shift += 7
        raise FormatError(f"varint too long in {what}")


def encode_binary(resp: Response, compress: bool = True) -> bytes:
    """Compact wire encoding (docs/PROTOCOL.md §wire); zstd-compressed when that is smaller."""
    out = bytearray()
    req = resp.request
    out += req.model_id.to_bytes(32, "big") + resp.chain_id.to_bytes(32, "big")
    out += bytes.fromhex(resp.verifying_contract[2:]) + resp.ghost_root + req.nonce
    x = np.asarray(req.x, dtype=">f4")
    out += struct.pack(">I", x.size) + x.tobytes()
    out += struct.pack(">H", len(resp.layers))
    for lp in resp.layers:
        k, d_in = lp.key_columns.shape
        d_out = lp.value_rows.shape[1]
        out += struct.pack(">IIH", d_in, d_out, k) + lp.q.astype(np.int8).tobytes()
        out += struct.pack(">i", lp.tau)
        out += b"".join(_varint(d) for d in delta_encode(lp.selected))
        out += lp.key_columns.astype(np.int8).tobytes() + lp.value_rows.astype(np.int8).tobytes()
        for proof in (lp.key_proof, lp.value_proof):
            out += struct.pack(">H", len(proof)) + b"".join(proof)
    y = np.asarray(resp.output, dtype=">i4")
    out += struct.pack(">I", y.size) + y.tobytes()
    out += bytes.fromhex(resp.prover[2:]) + resp.signature
    body = bytes(out)
    if compress:
        packed = zstandard.ZstdCompressor(level=9).compress(body)
        if len(packed) < len(body):
            return _MAGIC + bytes([_FLAG_ZSTD]) + packed
    return _MAGIC + bytes([0]) + body


def _decompress(frame: bytes) -> bytes:
    """The content of exactly one zstd frame that declares its size; FormatError otherwise."""
    try:
        size = zstandard.get_frame_parameters(frame).content_size
        if size > _MAX_WIRE_BYTES:  # also CONTENTSIZE_UNKNOWN, the largest uint64
            raise FormatError("binary response does not declare a bounded decompressed size")
        dobj = zstandard.ZstdDecompressor().decompressobj()
        body = dobj.decompress(frame)
    except zstandard.ZstdError as exc:
        raise FormatError(f"binary response does not decompress: {exc}") from exc
    if not dobj.eof or len(body) != size:
        raise FormatError("binary response is truncated in its compressed frame")
    if dobj.unused_data:
        raise FormatError(f"binary response has {len(dobj.unused_data)} trailing bytes after its frame")
    return body


def decode_binary(data: bytes) -> Response:
    """Inverse of :func:`encode_binary`; FormatError on bad magic, truncation or trailing bytes."""
    if len(data) < 5 or data[:3] != _MAGIC_PREFIX:
        raise FormatError("not a ghostproof binary response (bad magic)")
    if data[3] != FORMAT_VERSION:
        raise FormatError(
            f"binary response is format version {data[3]}; this ghostproof reads only version "
            f"{FORMAT_VERSION}: re-prove it with a current ghostproof"
        )
    flags = data[4]
    if flags & ~_FLAG_ZSTD:
        raise FormatError(f"unknown binary response flags {flags:#x}")
    body = data[5:]
    if flags & _FLAG_ZSTD:
        body = _decompress(body)
    r = _Reader(body)
    model_id = int.from_bytes(r.take(32, "modelId"), "big")
    chain_id = int.from_bytes(r.take(32, "chainId"), "big")
    contract = to_checksum_address(r.take(20, "verifyingContract"))
    ghost_root = r.take(32, "ghostRoot")
    nonce = r.take(32, "nonce")
    (n_in,) = r.unpack(">I", "input length")
    if not 1 <= n_in <= MAX_DIM:
        raise FormatError("input length out of range")
    x = np.frombuffer(r.take(4 * n_in, "input"), dtype=">f4").astype(np.float32)
    (n_layers,) = r.unpack(">H", "layer count")
    if not 1 <= n_layers <= MAX_LAYERS:
        raise FormatError("layer count out of range")
    layers = []
    for i in range(n_layers):
        d_in, d_out, k = r.unpack(">IIH", f"layer {i} header")
        if not (1 <= d_in <= MAX_DIM and 1 <= d_out <= MAX_DIM and 1 <= k <= MAX_K):
            raise FormatError(f"layer {i} dimensions out of range")
        q = np.frombuffer(r.take(d_in, f"layer {i} q"), dtype=np.int8).copy()
        (tau,) = r.unpack(">i", f"layer {i} tau")
        selected = delta_decode([r.varint(f"layer {i} selected") for _ in range(k)])
        kc = np.frombuffer(r.take(k * d_in, f"layer {i} keys"), dtype=np.int8).reshape(k, d_in)
        vr = np.frombuffer(r.take(k * d_out, f"layer {i} values"), dtype=np.int8)
        proofs = []
        for name in ("key proof", "value proof"):
            (count,) = r.unpack(">H", f"layer {i} {name} length")
            if count > 32 * k:
                raise FormatError(f"layer {i} {name} has more than 32·k hashes")
            raw = r.take(32 * count, f"layer {i} {name}")
            proofs.append(tuple(raw[j : j + 32] for j in range(0, len(raw), 32)))
        layers.append(
            LayerProof(q, tau, selected, kc.copy(), vr.reshape(k, d_out).copy(), proofs[0], proofs[1])
        )
    (n_out,) = r.unpack(">I", "output length")
    if not 1 <= n_out <= MAX_DIM:
        raise FormatError("output length out of range")
    y = np.frombuffer(r.take(4 * n_out, "output"), dtype=">i4").astype(np.int64)
    if np.any(np.abs(y) > MAX_OUTPUT_ABS):
        raise FormatError(f"output holds a value beyond ±{MAX_OUTPUT_ABS}")
    if not all(math.isfinite(v) for v in x.tolist()):
        raise FormatError("input contains NaN or infinity")
    prover = to_checksum_address(r.take(20, "prover"))
    signature = r.take(65, "signature")
    if r.pos != len(body):
        raise FormatError(f"binary response has {len(body) - r.pos} trailing bytes")
    return Response(
        request=Request(model_id, x, nonce),
        ghost_root=ghost_root,
        chain_id=chain_id,
        verifying_contract=contract,
        layers=tuple(layers),
        output=y,
        prover=prover,
        signature=signature,
    )
