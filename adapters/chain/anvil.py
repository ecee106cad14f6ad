"""Finding, starting and stopping Anvil as a local JSON-RPC node.

Used by ``ghostproof chain up`` and the tests. :func:`find_anvil` looks for the binary in
``$GHOSTPROOF_ANVIL``, then on PATH, then in the project's npm install
(@foundry-rs/anvil-linux-amd64, under the checkout or the current directory). The node
listens on 127.0.0.1 only, on a free port unless one is given, with chain id 31337 (unless
another is given) and Anvil's dev accounts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import requests

from ghostproof.protocol.errors import AnvilError

from .compile import checkout_root
from .provider import LOCAL_CHAIN_ID

ANVIL_ENV = "GHOSTPROOF_ANVIL"
NPM_ANVIL = Path("node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil")
START_TIMEOUT_S = 20.0


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_anvil() -> Path:
    """The Anvil binary: ``$GHOSTPROOF_ANVIL`` (a path) if set, else ``anvil`` on PATH, else the
    npm install's ``node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`` under the checkout
    or the current directory.

    Raises AnvilError when ``$GHOSTPROOF_ANVIL`` is set to something that is not an
    executable file, or when none of the three has one (the message names all three).
    """
    configured = os.environ.get(ANVIL_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not _executable(path):
            raise AnvilError(f"{ANVIL_ENV}={configured} is not an executable file")
        return path
    on_path = shutil.which("anvil")
    if on_path is not None:
        return Path(on_path)
    roots = [root for root in (checkout_root(), Path.cwd()) if root is not None]
    for root in roots:
        if _executable(root / NPM_ANVIL):
            return root / NPM_ANVIL
    looked = " and ".join(str(root) for root in dict.fromkeys(roots))
    raise AnvilError(
        f"Anvil not found: set {ANVIL_ENV} to its path, put `anvil` on PATH (Foundry), or "
        f"`npm install @foundry-rs/anvil-linux-amd64@1.7.1` (`make install` in a checkout); "
        f"looked for {NPM_ANVIL} under {looked}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Anvil:
    """A running Anvil process; use as a context manager, or call :meth:`stop`."""

    def __init__(
        self, port: int | None = None, binary: Path | None = None, chain_id: int = LOCAL_CHAIN_ID
    ) -> None:
        """Start Anvil (``binary``, default :func:`find_anvil`) on ``port`` (default: a free
        one) with ``chain_id`` (default 31337; another id stands in for a testnet: no
        dev-account conveniences there). Raises AnvilError if it is missing or does not answer."""
        binary = find_anvil() if binary is None else binary
        if not _executable(binary):
            raise AnvilError(f"Anvil is not an executable file at {binary}")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [
                str(binary),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--chain-id", str(chain_id),
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise AnvilError(f"Anvil exited with {self._proc.returncode}: {err.strip()[-200:]}")
            try:
                if requests.post(self.url, json=body, timeout=1).ok:
                    return
            except requests.exceptions.RequestException:
                pass
            time.sleep(0.1)
        raise AnvilError(f"Anvil did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    @property
    def pid(self) -> int:
        """The Anvil process id."""
        return self._proc.pid

    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc.poll() is None

    def wait(self) -> int:
        """Block until Anvil exits; return its exit code."""
        return self._proc.wait()

    def stop(self) -> None:
        """Terminate Anvil (kill it if it does not exit within 5 s)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
