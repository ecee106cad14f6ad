"""``ghostproof attest`` against a real Anvil node: two auditors register their BLS keys, audit a
registered model (one from its directory, one from a local block store it was published to),
sign, and one submission records "2 of N" that `model onchain` then shows; each failure — a
tampered model, a swapped signature, a stale epoch, a second registration, a missing file, no
key — is one line and its exit code, with no signature file written for a failed audit."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import write_keystore
from ghostproof.adapters.chain.deployment import save_deployment
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.adapters.storage.layout import GHOST_FILE, matrix_file, read_ghost_bytes
from ghostproof.verifier.attest import bls_secret_key
from tests.fixtures.chain import PARAMS, Env
from tests.fixtures.cli import one_error, run
from tests.fixtures.storage import make_model


@dataclass(frozen=True)
class Setup:
    """A deployment file, a registered model directory and its id, two auditor keystores."""

    deployment: Path
    model_dir: Path
    model_id: int
    other_model_id: int
    keystores: tuple[Path, Path]
    auditors: tuple[LocalAccount, LocalAccount]
    env: Env


@pytest.fixture(scope="module")
def setup(anvil_env: Env, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    base = tmp_path_factory.mktemp("attest")
    deployment = base / "deployment.json"
    save_deployment(deployment, anvil_env.deployment)
    model = make_model(base / "model", seed=11, n=300, dims=(16, 8, 4))
    prover = anvil_env.new_account()
    ghost_bytes, ghost = read_ghost_bytes(model.path / GHOST_FILE)
    ids = []
    for _ in range(2):  # the same weights registered twice: the refusals use the second id
        mint_credits(anvil_env.chain, anvil_env.deployment, anvil_env.owner, prover.address,
                     PARAMS.min_stake)
        ids.append(register_model(anvil_env.chain, anvil_env.deployment, prover, ghost_bytes, ghost,
                                  price=1, margin=0, stake=PARAMS.min_stake).model_id)
    accounts, keystores = [], []
    for i in range(2):
        acct = Account.create()
        anvil_env.send_eth(acct.address, 10**18)
        write_keystore(base / f"auditor{i}.json", acct, "pw")
        accounts.append(acct)
        keystores.append(base / f"auditor{i}.json")
    return Setup(deployment, model.path, ids[0], ids[1], (keystores[0], keystores[1]),
                 (accounts[0], accounts[1]), anvil_env)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GHOSTPROOF_KEYSTORE_PASSWORD", "pw")
    monkeypatch.setenv("GHOSTPROOF_HOME", str(tmp_path / "home"))


def _register(capsys, s: Setup, i: int) -> tuple[int, str, str]:
    return run(capsys, "attest", "register", "--keystore", s.keystores[i], "--deployment", s.deployment,
               "--json")


def _sign(capsys, s: Setup, i: int, out: Path, *extra: object, model_id: int | None = None
          ) -> tuple[int, str, str]:
    return run(capsys, "attest", str(model_id or s.model_id), "--keystore", s.keystores[i], "--deployment",
               s.deployment, "-o", out, *extra)


def test_attest_register_sign_submit_and_show(setup: Setup, tmp_path: Path, capsys) -> None:
    s = setup
    for i in range(2):
        code, out, err = _register(capsys, s, i)
        assert code == 0, err
        assert json.loads(out)["auditor"] == s.auditors[i].address
    # A second registration of the same auditor: one line, exit 2.
    code, _, err = _register(capsys, s, 0)
    assert code == 2 and one_error(err) and "already has the registered BLS key" in err
    # Auditor 0 audits the directory; auditor 1 the blocks it published to a local store.
    sig0, sig1 = tmp_path / "sig0.json", tmp_path / "sig1.json"
    code, out, err = _sign(capsys, s, 0, sig0, "--dir", s.model_dir)
    assert code == 0, err
    assert "signed for epoch" in out
    store = tmp_path / "blocks"
    assert run(capsys, "model", "publish", s.model_dir, "--store-path", store)[0] == 0
    code, out, err = _sign(capsys, s, 1, sig1, "--store-path", store, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["audit"]["ok"] and doc["auditor"] == s.auditors[1].address
    assert json.loads(sig1.read_text())["signature"] == doc["signature"]
    # The BLS key in the file is the one derived from the keystore's account.
    from ghostproof.protocol.bls import g1_to_json, public_key_g1

    assert doc["pubkeyG1"] == g1_to_json(public_key_g1(bls_secret_key(s.auditors[1])))
    # Submit both (anyone may: dev account 0 pays).
    code, out, err = run(capsys, "attest", "submit", sig0, sig1, "--dev-account", "0", "--deployment",
                         s.deployment, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["signers"] == 2 and result["modelId"] == s.model_id
    assert result["auditors"] == result["signers"] + result["nonSigners"]
    code, out, err = run(capsys, "model", "onchain", str(s.model_id), "--deployment", s.deployment)
    assert code == 0, err
    assert f"2 of {result['auditors']} auditors attested in epoch {result['epoch']} (current)" in out
    code, out, _ = run(capsys, "model", "onchain", str(s.model_id), "--deployment", s.deployment, "--json")
    assert json.loads(out)["attestation"]["signers"] == 2
    # The same two again: not more signers than recorded, one line, exit 3 (the chain refused).
    code, _, err = run(capsys, "attest", "submit", sig0, sig1, "--dev-account", "0", "--deployment",
                       s.deployment)
    assert code == 3 and one_error(err) and "GhostAttestationsNotMore" in err


def _signed_pair(capsys, s: Setup, tmp_path: Path) -> tuple[Path, Path]:
    """Two valid signature files (the auditors registered by the first test, or now)."""
    for i in range(2):
        _register(capsys, s, i)  # already registered when the first test ran first: refused, fine
    paths = (tmp_path / "a.json", tmp_path / "b.json")
    for i, path in enumerate(paths):
        code, _, err = _sign(capsys, s, i, path, "--dir", s.model_dir, model_id=s.other_model_id)
        assert code == 0, err
    return paths


def test_invalid_submit_swapped_signature_names_the_auditor(setup: Setup, tmp_path: Path, capsys) -> None:
    a, b = _signed_pair(capsys, setup, tmp_path)
    doc = json.loads(b.read_text())
    doc["signature"] = json.loads(a.read_text())["signature"]  # b's file, a's signature
    b.write_text(json.dumps(doc))
    code, _, err = run(capsys, "attest", "submit", a, b, "--dev-account", "0", "--deployment",
                       setup.deployment)
    assert code == 2 and one_error(err) and f"bad signature from {setup.auditors[1].address}" in err


def test_invalid_submit_stale_epoch(setup: Setup, tmp_path: Path, capsys) -> None:
    a, _ = _signed_pair(capsys, setup, tmp_path)
    doc = json.loads(a.read_text())
    doc["epoch"] -= 1
    a.write_text(json.dumps(doc))
    code, _, err = run(capsys, "attest", "submit", a, "--dev-account", "0", "--deployment", setup.deployment)
    assert code == 2 and one_error(err) and "stale" in err


def test_invalid_attest_tampered_model_exits_1_and_writes_nothing(setup: Setup, tmp_path: Path,
                                                                  capsys) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(setup.model_dir, bad)
    array = np.load(bad / matrix_file(0, "K"))
    array[0, 0] ^= 1
    np.save(bad / matrix_file(0, "K"), array)
    out_file = tmp_path / "sig.json"
    code, _, err = _sign(capsys, setup, 0, out_file, "--dir", bad)
    assert code == 1 and err.count("error: ") == 1 and "Traceback" not in err  # after the progress bar
    assert "first mismatching chunk" in err
    assert not out_file.exists()


def test_invalid_inputs_are_one_line(setup: Setup, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "attest", "submit", tmp_path / "missing.json", "--dev-account", "0",
                       "--deployment", setup.deployment)
    assert code == 2 and one_error(err) and "missing.json" in err
    junk = tmp_path / "junk.json"
    junk.write_text('{"kind": "something"}')
    code, _, err = run(capsys, "attest", "submit", junk, "--dev-account", "0", "--deployment",
                       setup.deployment)
    assert code == 2 and one_error(err) and "not a ghostproof attestation" in err
    code, _, err = run(capsys, "attest", str(setup.model_id), "--deployment", setup.deployment,
                       "--dir", setup.model_dir)
    assert code == 2 and one_error(err)  # no signing key given
    code, _, err = run(capsys, "attest", "999999", "--dev-account", "3", "--deployment", setup.deployment,
                       "--dir", setup.model_dir)
    assert code == 2 and one_error(err) and "not registered" in err
