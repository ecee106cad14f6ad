"""Hostile ghost and response files through the real CLI (issue 9, items 4 and 5).

Ghost files arrive from anyone (``model fetch``), responses from any prover. Each file
below crashed the old CLI (SIGSEGV, exit 139: a nesting bomb hidden by UTF-16/32 from the
depth check) or kept it busy for seconds to hours (escaped quotes made the check
quadratic). Now each is refused with exit 2, one ``error:`` line, no traceback, and the
command's own work (after the interpreter has started) takes under a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.response_json import dumps_response

# Runs the CLI and writes how long main() took (imports excluded) to $GHOSTPROOF_TEST_ELAPSED.
TIMED_CLI = """
import os, sys, time
from ghostproof.cli.main import main
start = time.perf_counter()
try:
    main(sys.argv[1:])
finally:
    with open(os.environ["GHOSTPROOF_TEST_ELAPSED"], "w") as fh:
        fh.write(repr(time.perf_counter() - start))
"""


def bomb(encoding: str, levels: int) -> bytes:
    """``{"∀":[[[…`` in UTF-16/32: ∀ puts a quote byte where a UTF-8 byte scan sees the
    start of a string, hiding every bracket from it; ``json.loads(bytes)`` sees them all."""
    return ('{"∀":' + "[" * levels + "∀").encode(encoding)


def escaped_quotes(prefix: bytes, size: int) -> bytes:
    """An unterminated string of escaped quotes, ``size`` bytes in all."""
    return prefix + b'"' + b'\\"' * ((size - len(prefix) - 1) // 2)


HOSTILE_GHOSTS = {
    "utf16 nesting bomb (600 KB)": bomb("utf-16-le", 300_000),
    "utf16be nesting bomb": bomb("utf-16-be", 100_000),
    "utf32 nesting bomb": bomb("utf-32-le", 100_000),
    "1 MiB of escaped quotes": escaped_quotes(b'{"header":', MAX_CHUNK_BYTES),
    "deep brackets": b"[" * 100_000,
    "one byte over 1 MiB": b" " * MAX_CHUNK_BYTES + b"{",
}
HOSTILE_RESPONSES = {
    "utf16 nesting bomb (600 KB)": bomb("utf-16-le", 300_000),
    "1 MiB of escaped quotes": escaped_quotes(b'{"format":', 1 << 20),
    "4 MiB of escaped quotes": escaped_quotes(b'{"format":', 4 << 20),
    "deep brackets": b"[" * 100_000,
}


def run_timed(tmp_path: Path, *args: object) -> tuple[subprocess.CompletedProcess, float]:
    elapsed = tmp_path / "elapsed"
    env = {**os.environ, "GHOSTPROOF_TEST_ELAPSED": str(elapsed)}
    proc = subprocess.run(
        [sys.executable, "-c", TIMED_CLI, *map(str, args)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    return proc, float(elapsed.read_text()) if elapsed.exists() else float("nan")


def assert_refused(proc: subprocess.CompletedProcess, elapsed: float, names: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and names in lines[0], proc.stderr
    assert elapsed < 1.0, f"took {elapsed:.2f} s"


@pytest.fixture(scope="module")
def valid(small, tmp_path_factory) -> dict[str, Path | str]:
    """A valid ghost file and response, to pair with a hostile one."""
    directory = tmp_path_factory.mktemp("valid")
    (directory / "ghost.json").write_bytes(small.model.ghost.to_bytes())
    (directory / "response.json").write_text(dumps_response(small.response))
    return {
        "ghost": directory / "ghost.json",
        "response": directory / "response.json",
        "root": to_hex(small.model.ghost.ghost_root),
    }


@pytest.mark.parametrize("data", HOSTILE_GHOSTS.values(), ids=HOSTILE_GHOSTS.keys())
def test_invalid_hostile_ghost_file_model_info_exits_2(tmp_path, data):
    path = tmp_path / "ghost.json"
    path.write_bytes(data)
    assert_refused(*run_timed(tmp_path, "model", "info", path), "ghost file")


@pytest.mark.parametrize("name", ["utf16 nesting bomb (600 KB)", "1 MiB of escaped quotes"])
def test_invalid_hostile_ghost_file_verify_exits_2(tmp_path, valid, name):
    path = tmp_path / "ghost.json"
    path.write_bytes(HOSTILE_GHOSTS[name])
    proc = run_timed(tmp_path, "verify", valid["response"], "--ghost", path, "--root", valid["root"])
    assert_refused(*proc, "ghost file")


@pytest.mark.parametrize("data", HOSTILE_RESPONSES.values(), ids=HOSTILE_RESPONSES.keys())
def test_invalid_hostile_response_verify_exits_2(tmp_path, valid, data):
    path = tmp_path / "response.json"
    path.write_bytes(data)
    proc = run_timed(tmp_path, "verify", path, "--ghost", valid["ghost"], "--root", valid["root"])
    assert_refused(*proc, "response")


def test_invalid_ghost_file_with_byte_order_mark_exits_2(tmp_path, valid):
    path = tmp_path / "ghost.json"
    path.write_bytes(b"\xef\xbb\xbf" + valid["ghost"].read_bytes())
    assert_refused(*run_timed(tmp_path, "model", "info", path), "byte-order mark")


def test_valid_ghost_file_model_info_exits_0(tmp_path, valid):
    proc, _ = run_timed(tmp_path, "model", "info", valid["ghost"], "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ghostRoot"] == valid["root"]


# ---------------------------------------------------------------- other readers

READERS = """
import sys
from pathlib import Path
import eth_account  # raises the recursion limit to 100000, as in the CLI
from ghostproof.adapters.chain.accounts import load_keystore
from ghostproof.adapters.chain.deployment import load_deployment
from ghostproof.protocol.errors import AccountError, DeploymentError
from ghostproof.adapters.storage.store import _rpc_message

path = Path(sys.argv[1])
try:
    load_keystore(path, "pw")
except AccountError as exc:
    print("keystore refused:", str(exc)[:60])
try:
    load_deployment(path)
except DeploymentError as exc:
    print("deployment refused:", str(exc)[:60])
print("rpc error reply:", _rpc_message(500, path.read_bytes()[: 64 * 1024])[:30])
"""


def test_invalid_nesting_bomb_in_other_readers_is_refused(tmp_path):
    # In a subprocess, so that a regression crashes it rather than pytest: the old keystore
    # and deployment readers had no depth check; json.loads of 150 000 brackets overflows
    # the C stack.
    path = tmp_path / "bomb.json"
    path.write_bytes(b"[" * 150_000)
    proc = subprocess.run([sys.executable, "-c", READERS, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "keystore refused" in proc.stdout and "deployment refused" in proc.stdout
    assert "rpc error reply: HTTP 500" in proc.stdout
