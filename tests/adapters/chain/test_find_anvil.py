"""Where Anvil is found: $GHOSTPROOF_ANVIL, then PATH, then the npm install; one error otherwise.
And the contract artifacts come from the package, not the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostproof.adapters.chain import anvil
from ghostproof.adapters.chain.anvil import ANVIL_ENV, NPM_ANVIL, find_anvil
from ghostproof.adapters.chain.contracts import DEPLOYABLE, artifacts_dir, load_artifact
from ghostproof.protocol.errors import AnvilError


def fake_binary(path: Path) -> Path:
    """An executable file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $GHOSTPROOF_ANVIL, an empty PATH, no checkout, the current directory empty."""
    monkeypatch.delenv(ANVIL_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(anvil, "checkout_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_env_var_comes_first(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_binary(nowhere / "bin" / "anvil")
    chosen = fake_binary(nowhere / "elsewhere" / "anvil")
    monkeypatch.setenv(ANVIL_ENV, str(chosen))
    assert find_anvil() == chosen


def test_path_comes_before_npm(nowhere: Path) -> None:
    on_path = fake_binary(nowhere / "bin" / "anvil")
    fake_binary(nowhere / NPM_ANVIL)
    assert find_anvil() == on_path


def test_npm_install_in_current_directory(nowhere: Path) -> None:
    binary = fake_binary(nowhere / NPM_ANVIL)
    assert find_anvil() == binary


def test_npm_install_in_checkout(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = nowhere / "checkout"
    binary = fake_binary(checkout / NPM_ANVIL)
    monkeypatch.setattr(anvil, "checkout_root", lambda: checkout)
    assert find_anvil() == binary


def test_invalid_env_var_not_a_file(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_binary(nowhere / NPM_ANVIL)
    monkeypatch.setenv(ANVIL_ENV, str(nowhere / "missing"))
    with pytest.raises(AnvilError, match=ANVIL_ENV):
        find_anvil()


def test_invalid_nowhere_names_all_three(nowhere: Path) -> None:
    with pytest.raises(AnvilError) as info:
        find_anvil()
    message = str(info.value)
    assert ANVIL_ENV in message and "PATH" in message and str(NPM_ANVIL) in message
    assert str(nowhere) in message


def test_checkout_npm_anvil_is_found() -> None:
    assert find_anvil().is_file()  # make install put it in node_modules/


def test_artifacts_come_from_the_package() -> None:
    folder = artifacts_dir()
    assert folder.is_dir()
    for name in DEPLOYABLE:
        artifact = load_artifact(name)
        assert artifact["contractName"] == name
        assert str(artifact["bytecode"]).startswith("0x")
