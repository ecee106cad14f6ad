"""CAR v1 files of raw blocks: export a model from a store, import one into a store.

A CAR v1 file is ``varint(len(header)) ‖ header`` followed by sections
``varint(len(cid) + len(data)) ‖ cid bytes ‖ data``; the header is the DAG-CBOR map
``{"roots": [CID…], "version": 1}``. Our CARs hold only raw blocks (CIDv1, raw, sha2-256);
the roots are the ghost file's CID first, then every chunk's CID, so ``ipfs dag import``
pins the whole model (a raw block links to nothing, so pinning the ghost file alone would
leave the chunks unpinned). :func:`export_car` and :func:`import_car` are the CLI's
``model export-car`` and ``model import-car``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from multiformats import CID, varint

from ghostproof.protocol.chunks import cid_for_bytes, cid_matches, parse_cid
from ghostproof.protocol.errors import CarFormatError, CorruptBlockError

from .store import BlockStore
from .transfer import local_chunks, read_chunked_ghost

CAR_VERSION = 1
_CID_RAW_BYTES = 36  # 0x01 0x55 0x12 0x20 ‖ 32-byte digest
MAX_SECTION_BYTES = (1 << 20) + 64  # a raw block is at most 1 MiB
MAX_HEADER_BYTES = 1 << 24
MAX_HEADER_DEPTH = 8  # {roots: [tag 42 bytes]} nests 4 deep; deeper is not a CAR v1 header


# ----------------------------------------------------------------- the DAG-CBOR header


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for extra, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes([major << 5 | extra]) + value.to_bytes(width, "big")
    raise ValueError("integer too large for CBOR")


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_cid(cid: str) -> bytes:
    raw = bytes(parse_cid(cid))
    return bytes([0xD8, 42]) + _cbor_head(2, len(raw) + 1) + b"\x00" + raw


def encode_header(roots: list[str]) -> bytes:
    """DAG-CBOR of ``{"roots": roots, "version": 1}`` (keys in DAG-CBOR order)."""
    body = _cbor_head(5, 2) + _cbor_text("roots") + _cbor_head(4, len(roots))
    body += b"".join(_cbor_cid(c) for c in roots)
    return body + _cbor_text("version") + _cbor_head(0, CAR_VERSION)


class _Cbor:
    """A decoder for the subset of DAG-CBOR a CAR v1 header uses."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.depth = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CarFormatError("CAR header is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _head(self) -> tuple[int, int]:
        first = self._take(1)[0]
        major, info = first >> 5, first & 31
        if info < 24:
            return major, info
        widths = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in widths:
            raise CarFormatError("CAR header uses indefinite or reserved CBOR lengths")
        return major, int.from_bytes(self._take(widths[info]), "big")

    def item(self) -> object:
        """The next CBOR item (int, bytes, text, list, map or CID link); CarFormatError if it is
        malformed, of a type a CAR header does not use, or nested deeper than MAX_HEADER_DEPTH."""
        if self.depth >= MAX_HEADER_DEPTH:
            raise CarFormatError(f"CAR header nests deeper than {MAX_HEADER_DEPTH} levels")
        self.depth += 1
        try:
            return self._item()
        finally:
            self.depth -= 1

    def _item(self) -> object:
        major, value = self._head()
        if major == 0:
            return value
        if major == 2:
            return self._take(value)
        if major == 3:
            return self._text(value)
        if major == 4:
            return [self.item() for _ in range(value)]
        if major == 5:
            return self._map(value)
        if major == 6 and value == 42:
            return self._cid_link()
        raise CarFormatError(f"CAR header uses an unsupported CBOR item (major type {major})")

    def _text(self, length: int) -> str:
        try:
            return self._take(length).decode()
        except UnicodeDecodeError as exc:
            raise CarFormatError("CAR header has invalid UTF-8") from exc

    def _map(self, size: int) -> dict[object, object]:
        out: dict[object, object] = {}
        for _ in range(size):
            key = self.item()
            if not isinstance(key, str):
                raise CarFormatError("CAR header map keys must be strings")
            out[key] = self.item()
        return out

    def _cid_link(self) -> str:
        """The CID of a tag-42 link (its bytes item: 0x00 ‖ the binary CID), in base32."""
        raw = self.item()
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise CarFormatError("CAR header has a malformed CID link")
        try:
            return str(CID.decode(raw[1:]).set(base="base32"))
        except Exception as exc:  # multiformats raises several unrelated types
            raise CarFormatError("CAR header has an undecodable CID") from exc


def decode_header(data: bytes) -> list[str]:
    """The roots of a CAR v1 header; CarFormatError unless it is ``{roots, version: 1}``."""
    parser = _Cbor(data)
    obj = parser.item()
    if parser.pos != len(data):
        raise CarFormatError("CAR header has trailing bytes")
    if not isinstance(obj, dict) or obj.get("version") != CAR_VERSION:
        raise CarFormatError("not a CAR v1 file (header version is not 1)")
    roots = obj.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise CarFormatError("CAR header roots must be a list of CIDs")
    return [str(r) for r in roots]


# ----------------------------------------------------------------- writing and reading


def write_car(path: str | os.PathLike[str], roots: list[str], blocks: Iterable[bytes]) -> int:
    """Write a CAR v1 file of raw ``blocks`` with ``roots``; return the number of blocks.

    The file is written under a temporary name and renamed when complete.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    count = 0
    with open(tmp, "wb") as out:
        header = encode_header(roots)
        out.write(varint.encode(len(header)) + header)
        for data in blocks:
            raw_cid = bytes(parse_cid(cid_for_bytes(data)))
            out.write(varint.encode(len(raw_cid) + len(data)) + raw_cid + data)
            count += 1
    os.replace(tmp, target)
    return count


def _read_varint(stream: BinaryIO) -> int | None:
    value, shift = 0, 0
    for i in range(10):
        byte = stream.read(1)
        if not byte:
            if i == 0:
                return None
            raise CarFormatError("CAR file ends inside a length prefix")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    raise CarFormatError("CAR length prefix is too long")


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise CarFormatError(f"CAR file ends inside {what}")
    return data


def read_car(path: str | os.PathLike[str]) -> tuple[list[str], Iterator[tuple[str, bytes]]]:
    """Open a CAR v1 file: its roots, and an iterator of (CID, bytes) per block.

    Every block is checked against its CID as it is read (``CorruptBlockError`` naming it);
    anything but a raw sha2-256 CIDv1 block, or a malformed file, raises ``CarFormatError``.
    """
    stream = open(path, "rb")
    try:
        size = _read_varint(stream)
        if size is None or not 0 < size <= MAX_HEADER_BYTES:
            raise CarFormatError("CAR file has no valid header")
        roots = decode_header(_read_exact(stream, size, "the header"))
    except BaseException:
        stream.close()
        raise

    def blocks() -> Iterator[tuple[str, bytes]]:
        with stream:
            while (length := _read_varint(stream)) is not None:
                if not _CID_RAW_BYTES < length <= MAX_SECTION_BYTES:
                    raise CarFormatError(f"CAR section of {length} bytes is out of bounds")
                section = _read_exact(stream, length, "a block")
                try:
                    cid = str(CID.decode(section[:_CID_RAW_BYTES]).set(base="base32"))
                    parse_cid(cid)
                except Exception as exc:
                    raise CarFormatError("CAR block is not CIDv1/raw/sha2-256") from exc
                data = section[_CID_RAW_BYTES:]
                if not cid_matches(cid, data):
                    raise CorruptBlockError(cid, what="CAR block", found=cid_for_bytes(data))
                yield cid, data

    return roots, blocks()


# ----------------------------------------------------------------- a model as a CAR file


@dataclass(frozen=True)
class CarExport:
    """What :func:`export_car` wrote: the file, its first root (the ghost CID), its blocks and size."""

    car: str
    ghost_cid: str
    blocks: int
    bytes: int

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json``."""
        return {"car": self.car, "ghostCid": self.ghost_cid, "blocks": self.blocks, "bytes": self.bytes}


def export_car(model_dir: str | os.PathLike[str], car_path: str | os.PathLike[str]) -> CarExport:
    """Write the ghost file and every chunk of ``model_dir`` as the CAR v1 file ``car_path``.

    The roots are the ghost CID, then every chunk's CID. Every chunk is checked against its CID
    first (CorruptBlockError names the first that differs); ModelError or GhostFileError when
    the directory has no valid ghost file with a chunk table.
    """
    ghost_bytes, ghost = read_chunked_ghost(model_dir)
    ghost_cid = cid_for_bytes(ghost_bytes)
    roots = [ghost_cid] + [c.cid for c in ghost.header.chunks]
    chunks = (data for _, data in local_chunks(model_dir, ghost))
    count = write_car(car_path, roots, itertools.chain([ghost_bytes], chunks))
    return CarExport(str(car_path), ghost_cid, count, Path(car_path).stat().st_size)


@dataclass(frozen=True)
class CarImport:
    """What :func:`import_car` stored: the file's roots, how many blocks, and the store's kind."""

    roots: tuple[str, ...]
    blocks: int
    store: str

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` (the first root only: the ghost CID)."""
        return {"roots": list(self.roots[:1]), "blocks": self.blocks, "store": self.store}


def import_car(car_path: str | os.PathLike[str], open_store: Callable[[], BlockStore]) -> CarImport:
    """Store every block of the CAR v1 file ``car_path`` in the store ``open_store()`` opens.

    The header is read before the store is opened (a file that is not a CAR v1 raises
    CarFormatError without touching any store); every block is checked against its CID as it
    is read (:func:`read_car`), and the store is closed when done.
    """
    roots, blocks = read_car(car_path)
    count = 0
    with open_store() as store:
        for _, data in blocks:
            store.put(data)
            count += 1
    return CarImport(tuple(roots), count, store.kind)
