"""Publish, fetch and audit through the local store: round trip, resumability, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.storage.layout import GHOST_FILE, matrix_file
from ghostproof.adapters.storage.store import LocalStore
from ghostproof.adapters.storage.transfer import chunk_label, fetch, publish
from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes
from ghostproof.protocol.errors import (
    BlockNotFoundError,
    CorruptBlockError,
    ModelError,
    RootMismatchError,
)
from ghostproof.verifier.audit import audit_dir, audit_store
from tests.fixtures.storage import Model, make_model, with_chunks


def copy_model(model: Model, dest: Path) -> Model:
    shutil.copytree(model.path, dest)
    return Model(dest, model.ghost)


def flip_byte(path: Path, row: int) -> None:
    array = np.load(path)
    array[row, 0] ^= 1
    np.save(path, array)


def test_fetch_writes_the_published_matrices(model: Model, store: LocalStore, tmp_path: Path) -> None:
    report = publish(model.path, store)
    fetch(report.ghost_cid, store, tmp_path / "out")
    for name in (matrix_file(0, "K"), matrix_file(0, "V"), matrix_file(1, "K"), matrix_file(1, "V")):
        assert np.array_equal(np.load(tmp_path / "out" / name), np.load(model.path / name))
    assert (tmp_path / "out" / GHOST_FILE).read_bytes() == model.ghost_bytes


def test_publish_names_the_ghost_file_by_its_cid(model: Model, store: LocalStore) -> None:
    report = publish(model.path, store)
    assert report.ghost_cid == cid_for_bytes(model.ghost_bytes)
    assert report.chunks == len(model.ghost.header.chunks) > 4


def test_publish_rerun_stores_nothing(model: Model, store: LocalStore) -> None:
    publish(model.path, store)
    again = publish(model.path, store)
    assert (again.chunks_stored, again.bytes_stored) == (0, 0)


def test_publish_resumes_with_only_the_missing_chunks(model: Model, store: LocalStore) -> None:
    publish(model.path, store)
    lost = [model.ghost.header.chunks[1].cid, model.ghost.header.chunks[3].cid]
    for cid in lost:
        store.path_for(cid).unlink()
    again = publish(model.path, store)
    assert again.chunks_stored == 2
    assert all(store.has(cid) for cid in lost)


def test_audit_dir_of_a_fetched_model_is_ok(model: Model, store: LocalStore, tmp_path: Path) -> None:
    report = publish(model.path, store)
    fetch(report.ghost_cid, store, tmp_path / "out")
    audit = audit_dir(tmp_path / "out", expected_ghost_root=model.ghost.ghost_root)
    assert audit.ok
    assert [m.ok for m in audit.matrices] == [True] * 4


def test_audit_store_rebuilds_the_ghost_root(model: Model, store: LocalStore) -> None:
    report = publish(model.path, store)
    audit = audit_store(report.ghost_cid, store, expected_ghost_root=model.ghost.ghost_root)
    assert audit.ok
    assert audit.rebuilt_ghost_root == "0x" + model.ghost.ghost_root.hex()


def test_invalid_audit_wrong_expected_root(model: Model) -> None:
    audit = audit_dir(model.path, expected_ghost_root=bytes(32))
    assert all(m.ok for m in audit.matrices)
    assert not audit.ok


def test_invalid_audit_tampered_column_names_the_first_bad_chunk(model: Model, tmp_path: Path) -> None:
    bad = copy_model(model, tmp_path / "bad")
    flip_byte(bad.path / matrix_file(0, "K"), row=2500)  # inside the second K chunk of layer 0
    audit = audit_dir(bad.path)
    second_k0 = [c for c in model.ghost.header.chunks if (c.layer, c.matrix) == (0, "K")][1]
    failed = [m for m in audit.matrices if not m.ok]
    assert [(m.layer, m.matrix, m.first_bad_chunk) for m in failed] == [(0, "K", second_k0.cid)]
    assert chunk_label(second_k0) in failed[0].detail
    assert not audit.ok


def test_invalid_audit_chunks_that_match_their_cids_but_not_the_root(model: Model, store: LocalStore) -> None:
    # A ghost file whose chunk table names other (well-formed) bytes for one chunk: every block
    # matches its CID, but the matrix no longer rebuilds the committed root.
    chunks = list(model.ghost.header.chunks)
    ref = chunks[0]
    other = bytes(ref.count * 512)
    chunks[0] = ChunkRef(ref.layer, ref.matrix, ref.first, ref.count, store.put(other))
    publish(model.path, store)
    lying = with_chunks(model.ghost, chunks)
    audit = audit_store(store.put(lying.to_bytes()), store, expected_ghost_root=model.ghost.ghost_root)
    failed = [m for m in audit.matrices if not m.ok]
    assert [(m.layer, m.matrix) for m in failed] == [(0, "K")]
    assert "every chunk matches its CID" in failed[0].detail
    assert not audit.ok


def test_invalid_publish_tampered_matrix_names_the_chunk(
    model: Model, store: LocalStore, tmp_path: Path
) -> None:
    bad = copy_model(model, tmp_path / "bad")
    flip_byte(bad.path / matrix_file(1, "V"), row=10)
    v1 = next(c for c in model.ghost.header.chunks if (c.layer, c.matrix) == (1, "V"))
    with pytest.raises(CorruptBlockError, match=r"layer 1 V columns 0\.\.") as info:
        publish(bad.path, store)
    assert info.value.cid == v1.cid
    assert not store.has(cid_for_bytes(model.ghost_bytes))  # no ghost file: nothing to fetch


def test_invalid_publish_wrong_matrix_shape(model: Model, store: LocalStore, tmp_path: Path) -> None:
    bad = copy_model(model, tmp_path / "bad")
    np.save(bad.path / matrix_file(0, "V"), np.zeros((10, 300), dtype=np.int8))
    with pytest.raises(ModelError, match=r"layer0\.V\.npy"):
        publish(bad.path, store)


def test_invalid_publish_missing_ghost_file(store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=GHOST_FILE):
        publish(tmp_path, store)


def test_invalid_fetch_corrupted_chunk_writes_nothing(
    model: Model, store: LocalStore, tmp_path: Path
) -> None:
    report = publish(model.path, store)
    ref = model.ghost.header.chunks[2]
    store.path_for(ref.cid).write_bytes(b"\x00" * 10)
    with pytest.raises(CorruptBlockError, match=ref.cid) as info:
        fetch(report.ghost_cid, store, tmp_path / "out")
    assert chunk_label(ref) in str(info.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "store"]  # no output, no staging left


def test_invalid_fetch_missing_chunk_names_it(model: Model, store: LocalStore, tmp_path: Path) -> None:
    report = publish(model.path, store)
    ref = model.ghost.header.chunks[-1]
    store.path_for(ref.cid).unlink()
    with pytest.raises(BlockNotFoundError, match=ref.cid) as info:
        fetch(report.ghost_cid, store, tmp_path / "out")
    assert chunk_label(ref) in str(info.value)
    assert not (tmp_path / "out").exists()


def test_invalid_fetch_unknown_ghost_cid(store: LocalStore, tmp_path: Path) -> None:
    cid = cid_for_bytes(b"no such ghost file")
    with pytest.raises(BlockNotFoundError, match=f"ghost file block {cid}"):
        fetch(cid, store, tmp_path / "out")


def test_invalid_fetch_over_an_old_model_leaves_it_untrusted(
    model: Model, store: LocalStore, tmp_path: Path
) -> None:
    # A fetch that fails never leaves an old ghost.json beside new matrices, nor new beside old.
    old = copy_model(model, tmp_path / "out")
    report = publish(model.path, store)
    store.path_for(model.ghost.header.chunks[0].cid).unlink()
    with pytest.raises(BlockNotFoundError):
        fetch(report.ghost_cid, store, old.path)
    assert (old.path / GHOST_FILE).read_bytes() == model.ghost_bytes  # untouched: nothing written


def test_fetch_replaces_an_existing_model(model: Model, store: LocalStore, tmp_path: Path) -> None:
    other = make_model(tmp_path / "other", seed=7, n=300, dims=(16, 4))
    report = publish(model.path, store)
    fetch(report.ghost_cid, store, other.path)
    assert (other.path / GHOST_FILE).read_bytes() == model.ghost_bytes
    assert audit_dir(other.path, expected_ghost_root=model.ghost.ghost_root).ok


def test_invalid_fetch_other_ghost_root_than_anchored_writes_nothing(
    model: Model, store: LocalStore, tmp_path: Path
) -> None:
    # fetch by model id: a ghost file that is not the anchored one must not land in the directory.
    report = publish(model.path, store)
    with pytest.raises(RootMismatchError, match="ghostRoot"):
        fetch(report.ghost_cid, store, tmp_path / "out", expected_ghost_root=bytes(32))
    assert not (tmp_path / "out").exists()


def test_invalid_fetch_other_ghost_root_keeps_the_old_model(
    model: Model, store: LocalStore, tmp_path: Path
) -> None:
    old = make_model(tmp_path / "old", seed=7, n=300, dims=(16, 4))
    report = publish(model.path, store)
    with pytest.raises(RootMismatchError):
        fetch(report.ghost_cid, store, old.path, expected_ghost_root=old.ghost.ghost_root)
    assert (old.path / GHOST_FILE).read_bytes() == old.ghost_bytes
    assert audit_dir(old.path, expected_ghost_root=old.ghost.ghost_root).ok


def test_fetch_with_the_anchored_ghost_root(model: Model, store: LocalStore, tmp_path: Path) -> None:
    report = publish(model.path, store)
    fetch(report.ghost_cid, store, tmp_path / "out", expected_ghost_root=model.ghost.ghost_root)
    assert (tmp_path / "out" / GHOST_FILE).read_bytes() == model.ghost_bytes
