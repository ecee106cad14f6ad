"""A ghost file whose chunk table is tampered with, one field of one entry at a time.

Each tampered file is stored as a block and fetched by its CID: the fetch must fail with an
error naming the entry, and write nothing. (A tampered table also changes headerHash, hence
the ghostRoot, so an audit against the chain rejects it even when the table is well-formed.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ghostproof.adapters.storage.store import LocalStore
from ghostproof.adapters.storage.transfer import fetch, publish
from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes
from ghostproof.protocol.errors import BlockNotFoundError, GhostFileError
from ghostproof.verifier.audit import audit_store
from tests.fixtures.storage import Model, with_chunks

SECOND = 1  # the second chunk: layer 0 K columns 2048..4095


def tampered_fetch(model: Model, store: LocalStore, tmp_path: Path, **change: object) -> None:
    publish(model.path, store)
    chunks = list(model.ghost.header.chunks)
    chunks[SECOND] = dataclasses.replace(chunks[SECOND], **change)
    ghost_cid = store.put(with_chunks(model.ghost, chunks).to_bytes())
    try:
        fetch(ghost_cid, store, tmp_path / "out")
    except Exception:
        assert not (tmp_path / "out").exists()
        raise


def test_untampered_table_fetches(model: Model, store: LocalStore, tmp_path: Path) -> None:
    tampered_fetch(model, store, tmp_path)  # no change: the baseline the others differ from
    assert (tmp_path / "out" / "ghost.json").read_bytes() == model.ghost_bytes


def test_invalid_entry_first_overlapping(model: Model, store: LocalStore, tmp_path: Path) -> None:
    first = model.ghost.header.chunks[SECOND].first
    with pytest.raises(GhostFileError, match=f"overlaps column {first}"):
        tampered_fetch(model, store, tmp_path, first=first - 1)


def test_invalid_entry_first_leaving_a_gap(model: Model, store: LocalStore, tmp_path: Path) -> None:
    first = model.ghost.header.chunks[SECOND].first
    with pytest.raises(GhostFileError, match=f"leaves a gap before column {first}"):
        tampered_fetch(model, store, tmp_path, first=first + 1)


def test_invalid_entry_count_too_small(model: Model, store: LocalStore, tmp_path: Path) -> None:
    count = model.ghost.header.chunks[SECOND].count
    with pytest.raises(GhostFileError, match="gap"):
        tampered_fetch(model, store, tmp_path, count=count - 1)


def test_invalid_entry_count_over_a_chunk(model: Model, store: LocalStore, tmp_path: Path) -> None:
    count = model.ghost.header.chunks[SECOND].count
    with pytest.raises(GhostFileError, match="bad column count"):
        tampered_fetch(model, store, tmp_path, count=count + 1)


def test_invalid_entry_layer_nonexistent(model: Model, store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(GhostFileError, match="layer 9, which does not exist"):
        tampered_fetch(model, store, tmp_path, layer=9)


def test_invalid_entry_layer_other(model: Model, store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(GhostFileError, match="layer 1"):
        tampered_fetch(model, store, tmp_path, layer=1)


def test_invalid_entry_matrix(model: Model, store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(GhostFileError, match="layer 0 V"):
        tampered_fetch(model, store, tmp_path, matrix="V")


def test_invalid_entry_cid_unknown(model: Model, store: LocalStore, tmp_path: Path) -> None:
    cid = cid_for_bytes(b"not a chunk of this model")
    with pytest.raises(BlockNotFoundError, match=f"layer 0 K columns 2048..4095.*{cid}"):
        tampered_fetch(model, store, tmp_path, cid=cid)


def test_invalid_entry_cid_of_wrong_size_block(model: Model, store: LocalStore, tmp_path: Path) -> None:
    cid = store.put(b"\x01" * 100)  # present and intact, but not 2048 columns of 512 bytes
    with pytest.raises(GhostFileError, match=f"layer 0 K columns 2048..4095.*{cid}.*100 bytes"):
        tampered_fetch(model, store, tmp_path, cid=cid)


def test_invalid_entry_changes_the_ghost_root(model: Model, store: LocalStore) -> None:
    # Replace an entry's CID with that of other same-size bytes: a well-formed table, but the
    # audit against the anchored ghostRoot fails (the header hash changed).
    publish(model.path, store)
    chunks = list(model.ghost.header.chunks)
    ref = chunks[SECOND]
    other = store.put(bytes(ref.count * 512))
    chunks[SECOND] = ChunkRef(ref.layer, ref.matrix, ref.first, ref.count, other)
    ghost_cid = store.put(with_chunks(model.ghost, chunks).to_bytes())
    report = audit_store(ghost_cid, store, expected_ghost_root=model.ghost.ghost_root)
    assert not report.ok
    assert report.rebuilt_ghost_root != "0x" + model.ghost.ghost_root.hex()
