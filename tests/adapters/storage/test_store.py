"""BlockStore contract on the local folder store, and the RPC store's failure when unreachable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ghostproof.adapters.storage.store import LocalStore, RpcStore, open_store
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import (
    BlockNotFoundError,
    CorruptBlockError,
    FormatError,
    StoreUnreachableError,
)


def test_put_then_get_returns_the_bytes(store: LocalStore) -> None:
    cid = store.put(b"hello chunk")
    assert store.get(cid) == b"hello chunk"


def test_put_returns_the_raw_sha256_cidv1(store: LocalStore) -> None:
    # `ipfs block put --cid-codec raw` of these bytes gives this CID (DESIGN §4).
    assert store.put(b"hello chunk") == cid_for_bytes(b"hello chunk")
    assert cid_for_bytes(b"").startswith("bafkrei")


def test_put_twice_keeps_one_block(store: LocalStore) -> None:
    store.put(b"x" * 100)
    store.put(b"x" * 100)
    assert len(store.cids()) == 1


def test_has_is_false_before_put(store: LocalStore) -> None:
    cid = cid_for_bytes(b"later")
    assert not store.has(cid)
    store.put(b"later")
    assert store.has(cid)


def test_invalid_get_unknown_cid_names_it(store: LocalStore) -> None:
    cid = cid_for_bytes(b"never stored")
    with pytest.raises(BlockNotFoundError, match=cid) as info:
        store.get(cid)
    assert info.value.cid == cid


def test_invalid_get_corrupted_block_names_it(store: LocalStore) -> None:
    cid = store.put(b"original bytes")
    store.path_for(cid).write_bytes(b"tampered bytes")
    with pytest.raises(CorruptBlockError, match=cid) as info:
        store.get(cid, what="chunk (layer 0 K columns 0..9)")
    assert "layer 0 K columns 0..9" in str(info.value)
    assert info.value.found == cid_for_bytes(b"tampered bytes")


def test_invalid_get_malformed_cid(store: LocalStore) -> None:
    with pytest.raises(FormatError):
        store.get("not-a-cid")


def test_invalid_get_dag_pb_cid(store: LocalStore) -> None:
    # A CIDv0 (dag-pb) names a UnixFS node, never a chunk.
    with pytest.raises(FormatError, match="raw"):
        store.get("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")


def test_invalid_local_store_on_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnreachableError):
        LocalStore(blocker)


def test_invalid_rpc_store_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnreachableError, match=str(port)):
        RpcStore(f"http://127.0.0.1:{port}", timeout=2)


def test_invalid_unknown_store_kind(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="unknown store"):
        open_store("s3", path=tmp_path)


def test_invalid_put_block_over_1_mib(store: LocalStore) -> None:
    with pytest.raises(FormatError, match="over the"):
        store.put(b"\x01" * ((1 << 20) + 1))


def test_invalid_get_block_over_1_mib_is_not_returned(store: LocalStore) -> None:
    # A planted block larger than any chunk or ghost file, named by its own (matching) CID.
    big = b"\x02" * (3 << 20)
    cid = cid_for_bytes(big)
    store.path_for(cid).parent.mkdir(parents=True, exist_ok=True)
    store.path_for(cid).write_bytes(big)
    with pytest.raises(CorruptBlockError, match="more than"):
        store.get(cid)
