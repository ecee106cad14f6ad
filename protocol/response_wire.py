"""The binary wire form of a proven answer (docs/PROTOCOL.md §8.2): magic ``GPR`` and the
format version, a flags byte, then the body — fixed-width big-endian fields, the selection as
LEB128 varints of its deltas — raw or as one zstd frame, whichever is smaller.

The decoder checks structure and bounds only (magic, version, flags, lengths, truncation,
trailing bytes, the 64 MiB decompression bound); whether the answer is *true* is the
verifier's job. ``decode_binary(encode_binary(r))`` gives ``r`` back exactly. Used by the
answer files (adapters/storage), the prover's node and the demo. Pure: no I/O.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import zstandard
from eth_utils import to_checksum_address

from .constants import FORMAT_VERSION, MAX_DIM, MAX_K, MAX_LAYERS
from .errors import FormatError
from .layer import MAX_OUTPUT_ABS
from .response import MAX_TAU_ABS, LayerProof, Request, Response, delta_decode, delta_encode

_MAGIC_PREFIX = b"GPR"
_MAGIC = _MAGIC_PREFIX + bytes([FORMAT_VERSION])
_FLAG_ZSTD = 0x01
_ZSTD_LEVEL = 9
_MAX_WIRE_BYTES = 64 << 20
_VARINT_MAX_BYTES = 5


def _varint(value: int) -> bytes:
    """Minimal unsigned LEB128 of ``value`` (7 bits a byte, least significant first)."""
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
    """A cursor over a body; every read past the end is a FormatError naming the field."""

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
        for i in range(_VARINT_MAX_BYTES):
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FormatError(f"non-minimal varint in {what}")
                return value
            shift += 7
        raise FormatError(f"varint too long in {what}")


def _encode_layer(lp: LayerProof) -> bytes:
    k, d_in = lp.key_columns.shape
    d_out = lp.value_rows.shape[1]
    out = bytearray(struct.pack(">IIH", d_in, d_out, k) + lp.q.astype(np.int8).tobytes())
    out += struct.pack(">i", lp.tau)
    out += b"".join(_varint(d) for d in delta_encode(lp.selected))
    out += lp.key_columns.astype(np.int8).tobytes() + lp.value_rows.astype(np.int8).tobytes()
    for proof in (lp.key_proof, lp.value_proof):
        out += struct.pack(">H", len(proof)) + b"".join(proof)
    return bytes(out)


def encode_binary(resp: Response, compress: bool = True) -> bytes:
    """The wire encoding of ``resp`` (docs/PROTOCOL.md §8.2). With ``compress``, the body is one
    zstd frame (level 9, flag 0x01) when that is strictly smaller, else raw (flag 0x00)."""
    out = bytearray()
    req = resp.request
    out += req.model_id.to_bytes(32, "big") + resp.chain_id.to_bytes(32, "big")
    out += bytes.fromhex(resp.verifying_contract[2:]) + resp.ghost_root + req.nonce
    x = np.asarray(req.x, dtype=">f4")
    out += struct.pack(">I", x.size) + x.tobytes()
    out += struct.pack(">H", len(resp.layers))
    for lp in resp.layers:
        out += _encode_layer(lp)
    y = np.asarray(resp.output, dtype=">i4")
    out += struct.pack(">I", y.size) + y.tobytes()
    out += bytes.fromhex(resp.prover[2:]) + resp.signature
    body = bytes(out)
    if compress:
        packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(body)
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


def _body(data: bytes) -> bytes:
    """The body after magic, version and flags, decompressed if flagged; FormatError on a bad
    magic, another format version, an unknown flag or a bad frame."""
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
    return _decompress(data[5:]) if flags & _FLAG_ZSTD else data[5:]


def _proof(r: _Reader, k: int, what: str) -> tuple[bytes, ...]:
    (count,) = r.unpack(">H", f"{what} length")
    if count > 32 * k:
        raise FormatError(f"{what} has more than 32·k hashes")
    raw = r.take(32 * count, what)
    return tuple(raw[j : j + 32] for j in range(0, len(raw), 32))


def _decode_layer(r: _Reader, i: int) -> LayerProof:
    d_in, d_out, k = r.unpack(">IIH", f"layer {i} header")
    if not (1 <= d_in <= MAX_DIM and 1 <= d_out <= MAX_DIM and 1 <= k <= MAX_K):
        raise FormatError(f"layer {i} dimensions out of range")
    q = np.frombuffer(r.take(d_in, f"layer {i} q"), dtype=np.int8).copy()
    (tau,) = r.unpack(">i", f"layer {i} tau")
    if abs(tau) > MAX_TAU_ABS:  # -2^31: the one int32 no selection can have (as in JSON)
        raise FormatError(f"layer {i} tau is out of range")
    selected = delta_decode([r.varint(f"layer {i} selected") for _ in range(k)])
    kc = np.frombuffer(r.take(k * d_in, f"layer {i} keys"), dtype=np.int8).reshape(k, d_in)
    vr = np.frombuffer(r.take(k * d_out, f"layer {i} values"), dtype=np.int8)
    key_proof = _proof(r, k, f"layer {i} key proof")
    value_proof = _proof(r, k, f"layer {i} value proof")
    return LayerProof(q, tau, selected, kc.copy(), vr.reshape(k, d_out).copy(), key_proof, value_proof)


def _counted(r: _Reader, fmt: str, what: str, limit: int) -> int:
    (n,) = r.unpack(fmt, what)
    if not 1 <= n <= limit:
        raise FormatError(f"{what} out of range")
    return n


def decode_binary(data: bytes) -> Response:
    """Inverse of :func:`encode_binary`: FormatError on a bad magic, version or flag, a bad zstd
    frame, truncation anywhere, a bound violated, a non-finite input, an output beyond
    ±127·2^16, or trailing bytes after the signature."""
    r = _Reader(_body(data))
    model_id = int.from_bytes(r.take(32, "modelId"), "big")
    chain_id = int.from_bytes(r.take(32, "chainId"), "big")
    contract = to_checksum_address(r.take(20, "verifyingContract"))
    ghost_root = r.take(32, "ghostRoot")
    nonce = r.take(32, "nonce")
    n_in = _counted(r, ">I", "input length", MAX_DIM)
    x = np.frombuffer(r.take(4 * n_in, "input"), dtype=">f4").astype(np.float32)
    n_layers = _counted(r, ">H", "layer count", MAX_LAYERS)
    layers = tuple(_decode_layer(r, i) for i in range(n_layers))
    n_out = _counted(r, ">I", "output length", MAX_DIM)
    y = np.frombuffer(r.take(4 * n_out, "output"), dtype=">i4").astype(np.int64)
    if np.any(np.abs(y) > MAX_OUTPUT_ABS):
        raise FormatError(f"output holds a value beyond ±{MAX_OUTPUT_ABS}")
    if not all(math.isfinite(v) for v in x.tolist()):
        raise FormatError("input contains NaN or infinity")
    prover = to_checksum_address(r.take(20, "prover"))
    signature = r.take(65, "signature")
    if r.pos != len(r.data):
        raise FormatError(f"binary response has {len(r.data) - r.pos} trailing bytes")
    return Response(
        request=Request(model_id, x, nonce),
        ghost_root=ghost_root,
        chain_id=chain_id,
        verifying_contract=contract,
        layers=layers,
        output=y,
        prover=prover,
        signature=signature,
    )
