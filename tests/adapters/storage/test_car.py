"""CAR v1 export and import: a model written here round-trips; malformed files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiformats import varint

from ghostproof.adapters.storage.car import decode_header, encode_header, read_car, write_car
from ghostproof.adapters.storage.store import LocalStore
from ghostproof.adapters.storage.transfer import fetch, local_chunks
from ghostproof.cli.main import main
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import CarFormatError, CorruptBlockError
from ghostproof.verifier.audit import audit_store
from tests.fixtures.storage import Model


def export(model: Model, path: Path) -> list[str]:
    ghost_cid = cid_for_bytes(model.ghost_bytes)
    roots = [ghost_cid] + [c.cid for c in model.ghost.header.chunks]
    blocks = [model.ghost_bytes] + [data for _, data in local_chunks(model.path, model.ghost)]
    write_car(path, roots, blocks)
    return roots


def test_header_is_dag_cbor_roots_then_version() -> None:
    cid = cid_for_bytes(b"a")
    header = encode_header([cid])
    # map(2) "roots" array(1) tag(42) bytes(37) 0x00 <cid> "version" 1 — the CAR v1 spec's layout.
    assert header[:9] == bytes([0xA2, 0x65]) + b"roots" + bytes([0x81, 0xD8])
    assert header[9:12] == bytes([0x2A, 0x58, 37])
    assert header.endswith(bytes([0x67]) + b"version" + bytes([0x01]))
    assert decode_header(header) == [cid]


def test_car_roundtrip_restores_every_block(model: Model, tmp_path: Path) -> None:
    roots = export(model, tmp_path / "m.car")
    read_roots, blocks = read_car(tmp_path / "m.car")
    got = dict(blocks)
    assert read_roots == roots
    assert set(got) == set(roots)
    assert got[roots[0]] == model.ghost_bytes


def test_car_imported_model_fetches_and_audits(model: Model, tmp_path: Path) -> None:
    roots = export(model, tmp_path / "m.car")
    store = LocalStore(tmp_path / "fresh")
    for _, data in read_car(tmp_path / "m.car")[1]:
        store.put(data)
    fetch(roots[0], store, tmp_path / "out")
    assert audit_store(roots[0], store, expected_ghost_root=model.ghost.ghost_root).ok


def test_invalid_car_flipped_block_byte(model: Model, tmp_path: Path) -> None:
    export(model, tmp_path / "m.car")
    data = bytearray((tmp_path / "m.car").read_bytes())
    data[-5] ^= 0xFF  # inside the last block
    (tmp_path / "m.car").write_bytes(bytes(data))
    with pytest.raises(CorruptBlockError, match=model.ghost.header.chunks[-1].cid):
        dict(read_car(tmp_path / "m.car")[1])


def test_invalid_car_truncated(model: Model, tmp_path: Path) -> None:
    export(model, tmp_path / "m.car")
    data = (tmp_path / "m.car").read_bytes()
    (tmp_path / "m.car").write_bytes(data[:-100])
    with pytest.raises(CarFormatError, match="ends inside"):
        dict(read_car(tmp_path / "m.car")[1])


def test_invalid_car_version_2_header(tmp_path: Path) -> None:
    header = encode_header([cid_for_bytes(b"a")])[:-1] + bytes([0x02])
    (tmp_path / "v2.car").write_bytes(bytes([len(header)]) + header)
    with pytest.raises(CarFormatError, match="not a CAR v1"):
        read_car(tmp_path / "v2.car")


def test_invalid_car_not_a_car(tmp_path: Path) -> None:
    (tmp_path / "x.car").write_bytes(b"\x00garbage")
    with pytest.raises(CarFormatError):
        read_car(tmp_path / "x.car")


def test_invalid_car_header_nested_too_deep(tmp_path: Path, capsys) -> None:
    # 100 000 nested one-element arrays: refused as a bad CAR (exit 2), not a RecursionError.
    header = b"\x81" * 100_000 + b"\x00"
    (tmp_path / "deep.car").write_bytes(varint.encode(len(header)) + header)
    with pytest.raises(CarFormatError, match="nests deeper"):
        read_car(tmp_path / "deep.car")
    with pytest.raises(SystemExit) as info:
        main(["model", "import-car", str(tmp_path / "deep.car"), "--store-path", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err and err.count("error: ") == 1
