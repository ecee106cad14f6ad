"""``wallet new | import | address``: an encrypted keystore (0600) in the wallet folder, the
password from the environment or a prompt, the key never on the command line or printed."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

from eth_account import Account

from ghostproof.verifier.wallet import Wallet
from ghostproof.verifier.wallet.home import WalletHome
from tests.fixtures.cli import one_error, run

from .conftest import PASSWORD


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_writes_an_encrypted_keystore_0600(tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    code, out, err = run(capsys, "wallet", "new", "--home", home, "--json")
    assert code == 0, err
    shown = json.loads(out)
    keystore = home / "keystore.json"
    assert shown["keystore"] == str(keystore)
    assert _mode(keystore) == 0o600 and _mode(home) == 0o700
    assert Wallet.open(home, PASSWORD).address == shown["address"]
    code, out, _ = run(capsys, "wallet", "address", "--home", home)
    assert code == 0 and out.strip() == shown["address"]


def test_home_defaults_to_ghostproof_home(tmp_path: Path, capsys, password_env, monkeypatch) -> None:
    monkeypatch.setenv("GHOSTPROOF_HOME", str(tmp_path / "gh"))
    code, _, err = run(capsys, "wallet", "new")
    assert code == 0, err
    assert (tmp_path / "gh" / "keystore.json").exists()


def test_new_refuses_to_overwrite(tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    assert run(capsys, "wallet", "new", "--home", home)[0] == 0
    before = (home / "keystore.json").read_bytes()
    code, _, err = run(capsys, "wallet", "new", "--home", home)
    assert code == 2 and one_error(err) and "already exists" in err
    assert (home / "keystore.json").read_bytes() == before


def test_import_reads_the_key_from_stdin_and_never_prints_it(
    tmp_path: Path, capsys, password_env, monkeypatch
) -> None:
    account = Account.create()
    key = account.key.hex()
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    home = tmp_path / "home"
    code, out, err = run(capsys, "wallet", "import", "--home", home)
    assert code == 0, err
    assert account.address in out
    assert key.removeprefix("0x") not in out + err
    assert key.removeprefix("0x") not in (home / "keystore.json").read_text()
    assert _mode(home / "keystore.json") == 0o600
    assert Wallet.open(home, PASSWORD).address == account.address


def test_invalid_import_key_is_one_line_without_the_key(
    tmp_path: Path, capsys, password_env, monkeypatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0xnot-a-key-deadbeef\n"))
    code, out, err = run(capsys, "wallet", "import", "--home", tmp_path / "home")
    assert code == 2 and one_error(err)
    assert "deadbeef" not in out + err
    assert not (tmp_path / "home" / "keystore.json").exists()


def test_import_takes_no_key_argument(tmp_path: Path, capsys, password_env) -> None:
    code, _, err = run(capsys, "wallet", "import", "0x" + "11" * 32, "--home", tmp_path / "home")
    assert code == 2 and one_error(err)
    assert "11" * 32 not in err


def test_address_without_a_wallet_is_one_line(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "wallet", "address", "--home", tmp_path / "nowhere")
    assert code == 2 and one_error(err) and "wallet new" in err


def test_wallet_home_paths(tmp_path: Path) -> None:
    home = WalletHome.at(tmp_path)
    assert home.ledger == tmp_path / "ledger.sqlite"
    assert home.answer(b"\x01" * 32, rejected=True) == tmp_path / "answers" / "rejected" / ("0x" + "01" * 32)
    folder = home.folder(home.answer(b"\x02" * 32))
    assert _mode(folder) == 0o700 and _mode(folder.parent) == 0o700
