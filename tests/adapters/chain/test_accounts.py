"""ghostproof/chain/accounts.py: key files and keystores fail with one AccountError line
that never quotes the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostproof.adapters.chain.accounts import load_key_file
from ghostproof.protocol.errors import AccountError

KEY = bytes(range(0x80, 0xA0))  # 32 bytes, none of them valid UTF-8 on its own


def test_invalid_key_file_binary_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "prover.key"
    path.write_bytes(KEY)
    path.chmod(0o600)
    with pytest.raises(AccountError, match="does not hold a hex private key") as info:
        load_key_file(path)
    text = str(info.value)
    assert "0x80" not in text and "codec" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_invalid_key_file_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "prover.key"
    path.write_text("0x" + "11" * 32)
    path.chmod(0o644)
    with pytest.raises(AccountError, match="readable by others"):
        load_key_file(path)
