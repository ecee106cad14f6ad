"""accounts.resolve_account: the one way deploy, model commit, chain buy and prove pick the
key they sign with."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from ghostproof.adapters.chain.accounts import (
    PASSWORD_ENV,
    dev_account,
    resolve_account,
    write_keystore,
)
from ghostproof.protocol.errors import AccountError, WrongChainError


def _no_prompt(path: Path) -> str:
    raise AssertionError(f"prompted for {path}")


def test_dev_account_by_chain_id() -> None:
    assert dev_account(31337, 1).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_invalid_dev_account_off_local_chain_id() -> None:
    with pytest.raises(WrongChainError, match="11155111"):
        dev_account(11155111, 1)


def test_keystore_password_from_environment(tmp_path: Path, monkeypatch) -> None:
    account = Account.create()
    write_keystore(tmp_path / "k.json", account, "pw")
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    got = resolve_account(1, keystore=tmp_path / "k.json", dev=None, key_file=None, password=_no_prompt)
    assert got.address == account.address


def test_keystore_password_from_prompt(tmp_path: Path, monkeypatch) -> None:
    account = Account.create()
    write_keystore(tmp_path / "k.json", account, "pw")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    got = resolve_account(1, keystore=tmp_path / "k.json", dev=None, key_file=None,
                          password=lambda path: "pw")
    assert got.address == account.address


def test_key_file_is_the_fallback(tmp_path: Path) -> None:
    account = Account.create()
    key = tmp_path / "prover.key"
    key.write_text(account.key.hex())
    key.chmod(0o600)
    got = resolve_account(11155111, keystore=None, dev=None, key_file=key, password=_no_prompt)
    assert got.address == account.address


def test_invalid_keystore_and_dev_account(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="not both"):
        resolve_account(31337, keystore=tmp_path / "k.json", dev=0, key_file=None, password=_no_prompt)


def test_invalid_no_account(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="no signing account"):
        resolve_account(31337, keystore=None, dev=None, key_file=tmp_path / "absent.key",
                        password=_no_prompt)
