"""The chain CLI against a real Anvil node: deploy, fund, commit, read back; and every bad
input (RPC down, missing deployment, wrong chain, unfunded account, unknown model, root
mismatch) as one line on stderr, a non-zero exit, and no file half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from ghostproof.adapters.chain.accounts import write_keystore
from ghostproof.adapters.chain.anvil import Anvil, free_port
from tests.fixtures.chain import make_ghost
from tests.fixtures.cli import one_error, run


def _model_dir(tmp_path: Path, seed: int = 0, funded_key: bool = True) -> tuple[Path, str]:
    model = tmp_path / f"model{seed}"
    model.mkdir()
    (model / "ghost.json").write_bytes(make_ghost(2, seed).to_bytes())
    acct = Account.create()
    key = model / "prover.key"
    key.write_text(acct.key.hex())
    key.chmod(0o600)
    return model, acct.address


@pytest.fixture()
def deployed(anvil_node: Anvil, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    dep = tmp_path / "deployment.json"
    code, _, err = run(capsys, "deploy", "--rpc", anvil_node.url, "--dev-account", "0",
                       "--deployment", str(dep))
    assert code == 0, err
    return dep


def test_deploy_writes_deployment(deployed: Path) -> None:
    doc = json.loads(deployed.read_text())
    assert doc["chainId"] == 31337
    assert set(doc["contracts"]) == {"GhostCredit", "GhostRegistry", "CreditEscrow", "GhostAttestations"}


def test_model_commit_registers(deployed: Path, tmp_path: Path, capsys) -> None:
    model, address = _model_dir(tmp_path)
    assert run(capsys, "chain", "faucet", address, "--deployment", str(deployed))[0] == 0
    code, out, err = run(capsys, "model", "commit", str(model), "--deployment", str(deployed))
    assert code == 0, err
    root = "0x" + make_ghost(2, 0).ghost_root.hex()
    assert root in out and "model id" in out
    anchor = json.loads((model / "anchor.json").read_text())
    assert anchor["ghostRoot"] == root
    code, out, _ = run(capsys, "model", "onchain", str(anchor["modelId"]), "--deployment",
                       str(deployed), "--ghost", str(model / "ghost.json"))
    assert code == 0 and "matches" in out


def test_invalid_deploy_rpc_down(tmp_path: Path, capsys) -> None:
    dep = tmp_path / "deployment.json"
    code, _, err = run(capsys, "deploy", "--rpc", f"http://127.0.0.1:{free_port()}",
                         "--dev-account", "0", "--deployment", str(dep))
    assert code == 3 and "not reachable" in err and one_error(err)
    assert not dep.exists()


def test_invalid_commit_missing_deployment(tmp_path: Path, capsys) -> None:
    model, _ = _model_dir(tmp_path)
    code, _, err = run(capsys, "model", "commit", str(model), "--deployment",
                       str(tmp_path / "none.json"))
    assert code == 2 and "no deployment file" in err
    assert not (model / "anchor.json").exists()


def test_invalid_commit_wrong_chain(deployed: Path, tmp_path: Path, capsys) -> None:
    doc = json.loads(deployed.read_text())
    doc["chainId"] = 1
    deployed.write_text(json.dumps(doc))
    model, _ = _model_dir(tmp_path)
    code, _, err = run(capsys, "model", "commit", str(model), "--deployment", str(deployed))
    assert code == 2 and "chain 31337" in err and "chain 1" in err
    assert not (model / "anchor.json").exists()


def test_invalid_commit_unfunded_account(deployed: Path, tmp_path: Path, capsys) -> None:
    model, _ = _model_dir(tmp_path)
    code, _, err = run(capsys, "model", "commit", str(model), "--deployment", str(deployed))
    assert code == 3 and "credits" in err and one_error(err)
    assert not (model / "anchor.json").exists()


def test_invalid_deploy_unfunded_keystore(
    anvil_node: Anvil, tmp_path: Path, capsys, monkeypatch
) -> None:
    keystore = tmp_path / "key.json"
    write_keystore(keystore, Account.create(), "pw")
    dep = tmp_path / "deployment.json"
    monkeypatch.setenv("GHOSTPROOF_KEYSTORE_PASSWORD", "pw")
    code, _, err = run(capsys, "deploy", "--rpc", anvil_node.url, "--keystore", str(keystore),
                       "--deployment", str(dep))
    assert code == 3 and "fund it first" in err
    assert not dep.exists()


def test_invalid_keystore_wrong_password(anvil_node: Anvil, tmp_path: Path, capsys, monkeypatch) -> None:
    keystore = tmp_path / "key.json"
    write_keystore(keystore, Account.create(), "pw")
    monkeypatch.setenv("GHOSTPROOF_KEYSTORE_PASSWORD", "wrong")
    code, _, err = run(capsys, "deploy", "--rpc", anvil_node.url, "--keystore", str(keystore),
                       "--deployment", str(tmp_path / "d.json"))
    assert code == 2 and "cannot decrypt" in err


def test_invalid_onchain_unknown_model(deployed: Path, capsys) -> None:
    code, _, err = run(capsys, "model", "onchain", "999", "--deployment", str(deployed))
    assert code == 2 and "model 999 is not registered" in err


def test_invalid_onchain_root_mismatch(deployed: Path, tmp_path: Path, capsys) -> None:
    model, address = _model_dir(tmp_path)
    run(capsys, "chain", "faucet", address, "--deployment", str(deployed))
    assert run(capsys, "model", "commit", str(model), "--deployment", str(deployed))[0] == 0
    model_id = json.loads((model / "anchor.json").read_text())["modelId"]
    other = tmp_path / "other.json"
    other.write_bytes(make_ghost(2, 7).to_bytes())
    code, _, err = run(capsys, "model", "onchain", str(model_id), "--deployment", str(deployed),
                       "--ghost", str(other))
    assert code == 1 and "differs from model" in err  # a root mismatch is a failed check, as in verify


def test_invalid_deploy_no_receipt(tmp_path: Path, capsys, monkeypatch) -> None:
    """A node that takes the transaction but never mines it: one line, exit 3, no file."""
    import requests

    from ghostproof.adapters.chain import tx

    monkeypatch.setattr(tx, "RECEIPT_TIMEOUT_S", 1)
    dep = tmp_path / "deployment.json"
    with Anvil() as node:
        body = {"jsonrpc": "2.0", "id": 1, "method": "evm_setAutomine", "params": [False]}
        assert requests.post(node.url, json=body, timeout=5).ok
        code, _, err = run(capsys, "deploy", "--rpc", node.url, "--dev-account", "0",
                           "--deployment", str(dep))
    assert code == 3 and "not in the chain" in err and one_error(err), err
    assert not dep.exists()


@pytest.mark.parametrize("price", ["1e11", "nan", "inf", "79228162514.264337593543950336"])
def test_invalid_commit_price_out_of_range(deployed: Path, tmp_path: Path, capsys, price) -> None:
    """A price that does not fit the registry's uint96 (or is no number): exit 2, one line."""
    model, _ = _model_dir(tmp_path)
    code, _, err = run(capsys, "model", "commit", str(model), "--deployment", str(deployed),
                       "--price", price)
    assert code == 2 and "--price" in err and one_error(err), err
    assert not (model / "anchor.json").exists()


def test_largest_uint96_credit_amount_is_exact() -> None:
    from ghostproof.cli.chain import _credits

    # 29 significant digits: more than Decimal's default precision of 28 (no silent rounding)
    assert _credits("79228162514.264337593543950335", "--stake", 96) == (1 << 96) - 1


def test_invalid_deploy_min_stake_out_of_range(anvil_node: Anvil, tmp_path: Path, capsys) -> None:
    dep = tmp_path / "deployment.json"
    code, _, err = run(capsys, "deploy", "--rpc", anvil_node.url, "--dev-account", "0",
                       "--deployment", str(dep), "--min-stake", "1e11")
    assert code == 2 and "--min-stake" in err and one_error(err), err
    assert not dep.exists()


def test_invalid_deploy_unwritable_file_names_addresses(
    anvil_node: Anvil, tmp_path: Path, capsys
) -> None:
    """The contracts are deployed (and paid for) before the file is written: if it cannot be
    written, the one error line still says where they are."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    dep = blocker / "deployment.json"
    code, _, err = run(capsys, "deploy", "--rpc", anvil_node.url, "--dev-account", "0",
                       "--deployment", str(dep))
    assert code == 2 and "cannot write deployment file" in err and one_error(err), err
    for name in ("GhostCredit 0x", "GhostRegistry 0x", "CreditEscrow 0x"):
        assert name in err
    assert list(tmp_path.iterdir()) == [blocker]


def test_invalid_deploy_rpc_not_http(tmp_path: Path, capsys) -> None:
    """A malformed --rpc is the user's input (exit 2), not an unreachable node (exit 3)."""
    dep = tmp_path / "deployment.json"
    code, _, err = run(capsys, "deploy", "--rpc", "127.0.0.1:8545", "--dev-account", "0",
                       "--deployment", str(dep))
    assert code == 2 and "must start with http" in err and one_error(err), err
    assert not dep.exists()
