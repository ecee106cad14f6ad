"""Starting and stopping Anvil (npm @foundry-rs/anvil-linux-amd64) as a local JSON-RPC node.

Used by ``ghostproof chain up`` and the tests. The node listens on 127.0.0.1 only, on a
free port unless one is given, with chain id 31337 (unless another is given) and Anvil's
dev accounts.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import requests

from .compile import REPO_ROOT
from .errors import AnvilError
from .provider import LOCAL_CHAIN_ID

ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Anvil:
    """A running Anvil process; use as a context manager, or call :meth:`stop`."""

    def __init__(
        self, port: int | None = None, binary: Path = ANVIL_BIN, chain_id: int = LOCAL_CHAIN_ID
    ) -> None:
        """Start Anvil on ``port`` (default: a free one) with ``chain_id`` (default 31337;
        another id stands in for a testnet: no dev-account conveniences there)."""
        if not binary.is_file():
            raise AnvilError(f"Anvil is not installed at {binary}: run `make install`")
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
