"""The Kubo RPC store against a hostile daemon: a small HTTP server on 127.0.0.1 that speaks
just enough of Kubo's RPC API (``version``, ``block/get``) to flood, trickle or answer garbage.
No Kubo daemon can be installed here (docs/IPFS.md), so this is the RPC store's only live peer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ghostproof.adapters.storage import store as store_module
from ghostproof.adapters.storage.store import MAX_BLOCK_BYTES, RpcStore
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import BlockNotFoundError, CorruptBlockError, StoreRejectedError

BIG = MAX_BLOCK_BYTES * 4


class Daemon(ThreadingHTTPServer):
    daemon_threads = True
    version_reply = b'{"Version": "0.0.0-hostile"}'
    get_mode = "flood"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies end when the connection closes

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, Daemon)
        self.send_response(200)
        self.end_headers()
        try:
            if self.path.startswith("/api/v0/version"):
                self.wfile.write(server.version_reply)
            elif server.get_mode == "flood":
                self.wfile.write(b"\x00" * BIG)
            else:  # trickle: one byte every 50 ms, for as long as the client listens
                for _ in range(2000):
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    time.sleep(0.05)
        except OSError:
            pass


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    server = Daemon(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: Daemon) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_invalid_rpc_block_larger_than_a_chunk_is_cut_off(daemon: Daemon) -> None:
    cid = cid_for_bytes(b"wanted")
    with RpcStore(url(daemon), timeout=5) as rpc, pytest.raises(CorruptBlockError, match="more than"):
        rpc.get(cid, timeout=5, what="chunk (layer 0 K columns 0..9)")


def test_invalid_rpc_block_trickled_forever_times_out(daemon: Daemon, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "RPC_GRACE_S", 0.5)
    daemon.get_mode = "trickle"
    cid = cid_for_bytes(b"wanted")
    started = time.monotonic()
    with RpcStore(url(daemon), timeout=5) as rpc, pytest.raises(BlockNotFoundError, match=cid):
        rpc.get(cid, timeout=0.5)
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("reply", [b"<html>not kubo</html>", b"[1, 2]", b"\x00" * BIG])
def test_invalid_rpc_version_reply_is_refused(daemon: Daemon, reply: bytes) -> None:
    daemon.version_reply = reply
    with pytest.raises(StoreRejectedError, match="unexpected version reply"):
        RpcStore(url(daemon), timeout=5)
