"""Chunking of committed matrices into IPFS raw blocks, and their CIDs (DESIGN §4).

A matrix (N columns of d int8 bytes each) is cut into runs of consecutive columns of at
most 1 MiB; a chunk's bytes are its columns' int8 data concatenated in column order. Its
CID is CIDv1, codec raw, multihash sha2-256, base32 — the CID any IPFS node gives the same
bytes with ``ipfs block put --cid-codec raw``. The ghost header lists every chunk.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from multiformats import CID, multihash

from .constants import MATRIX_TAGS, MAX_CHUNK_BYTES
from .errors import FormatError, GhostFileError

_SHA256_RAW_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])  # cidv1, raw, sha2-256, 32 bytes


@dataclass(frozen=True)
class ChunkRef:
    """One entry of the chunk table: columns [first, first+count) of a matrix, and their CID."""

    layer: int
    matrix: str  # "K" or "V"
    first: int
    count: int
    cid: str

    def to_json(self) -> dict[str, object]:
        """The JSON object of this entry in the ghost header."""
        return {
            "layer": self.layer,
            "matrix": self.matrix,
            "first": self.first,
            "count": self.count,
            "cid": self.cid,
        }

    @classmethod
    def from_json(cls, obj: object) -> ChunkRef:
        """Parse one chunk-table entry; raise GhostFileError if a field is missing or mistyped."""
        if not isinstance(obj, dict) or set(obj) != {"layer", "matrix", "first", "count", "cid"}:
            raise GhostFileError("chunk entry must have exactly layer, matrix, first, count, cid")
        for key in ("layer", "first", "count"):
            if not _is_uint(obj[key]):
                raise GhostFileError(f"chunk entry {key} must be a non-negative integer")
        if obj["matrix"] not in MATRIX_TAGS:
            raise GhostFileError("chunk entry matrix must be 'K' or 'V'")
        if not isinstance(obj["cid"], str):
            raise GhostFileError("chunk entry cid must be a string")
        try:
            parse_cid(obj["cid"])
        except FormatError as exc:
            raise GhostFileError(f"chunk entry cid: {exc}") from exc
        return cls(obj["layer"], obj["matrix"], obj["first"], obj["count"], obj["cid"])


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def columns_per_chunk(column_bytes: int, max_chunk_bytes: int = MAX_CHUNK_BYTES) -> int:
    """How many whole columns of ``column_bytes`` bytes fit one chunk."""
    if not 0 < column_bytes <= max_chunk_bytes:
        raise FormatError(f"a column of {column_bytes} bytes cannot fit a chunk")
    return max_chunk_bytes // column_bytes


def plan_chunks(n_columns: int, column_bytes: int) -> list[tuple[int, int]]:
    """The (first, count) runs that cover columns 0..n-1, each at most one chunk."""
    per = columns_per_chunk(column_bytes)
    return [(first, min(per, n_columns - first)) for first in range(0, n_columns, per)]


#: The bytes before the digest in a CIDv1 / raw / sha2-256: version 1, codec raw (0x55),
#: multihash sha2-256 (0x12) of 32 bytes (0x20).
_CID_RAW_SHA256_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])


def cid_for_bytes(data: bytes) -> str:
    """CIDv1 (raw codec, sha2-256, base32 ``bafkrei…``) of ``data``: multibase ``b`` and the
    lowercase, unpadded RFC 4648 base32 of 0x01 0x55 0x12 0x20 ‖ sha256(data) — what
    multiformats' ``CID("base32", 1, "raw", …)`` writes (:func:`cid_for_bytes_reference`),
    without building the objects (a step of a sparse update re-names a few chunks)."""
    raw = _CID_RAW_SHA256_PREFIX + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def cid_for_bytes_reference(data: bytes) -> str:
    """:func:`cid_for_bytes` through multiformats (the reference the tests compare with)."""
    digest = multihash.wrap(hashlib.sha256(data).digest(), "sha2-256")
    return str(CID("base32", 1, "raw", digest))


def parse_cid(text: str) -> CID:
    """Parse a CID string; raise FormatError unless it is CIDv1, raw codec, sha2-256."""
    try:
        cid = CID.decode(text)
    except Exception as exc:  # multiformats raises several unrelated types
        raise FormatError(f"{text!r} is not a CID") from exc
    if cid.version != 1 or cid.codec.name != "raw" or cid.hashfun.name != "sha2-256":
        raise FormatError(f"CID {text} is not CIDv1/raw/sha2-256")
    if len(bytes(cid.raw_digest)) != 32 or str(cid.set(base="base32")) != text:
        raise FormatError(f"CID {text} is not in canonical form (base32, full 32-byte digest)")
    return cid


def cid_matches(cid: str, data: bytes) -> bool:
    """True iff ``data`` is the content ``cid`` names (sha2-256 digest match)."""
    parsed = parse_cid(cid)
    return bytes(parsed.raw_digest) == hashlib.sha256(data).digest()


def check_chunk_table(chunks: list[ChunkRef], layers: list[tuple[int, int, int]]) -> None:
    """Check that ``chunks`` cover every column of every matrix exactly once, in order.

    ``layers`` gives, per layer, (n, d_in, d_out). Raises GhostFileError naming the first
    overlap, gap, oversize chunk or unknown layer.
    """
    expected: dict[tuple[int, str], tuple[int, int]] = {}
    for layer, (n, d_in, d_out) in enumerate(layers):
        expected[(layer, "K")] = (n, d_in)
        expected[(layer, "V")] = (n, d_out)
    cursor = {key: 0 for key in expected}
    for ref in chunks:
        key = (ref.layer, ref.matrix)
        if key not in expected:
            raise GhostFileError(f"chunk {ref.cid} names layer {ref.layer}, which does not exist")
        n, d = expected[key]
        if ref.first != cursor[key]:
            kind = "overlaps" if ref.first < cursor[key] else "leaves a gap before"
            raise GhostFileError(
                f"chunk {ref.cid} (layer {ref.layer} {ref.matrix} from column {ref.first}) "
                f"{kind} column {cursor[key]}"
            )
        if ref.count < 1 or ref.count * d > MAX_CHUNK_BYTES or ref.first + ref.count > n:
            raise GhostFileError(f"chunk {ref.cid} has a bad column count {ref.count}")
        cursor[key] = ref.first + ref.count
    for (layer, matrix), done in cursor.items():
        if done != expected[(layer, matrix)][0]:
            raise GhostFileError(f"chunk table misses columns {done}.. of layer {layer} {matrix}")
