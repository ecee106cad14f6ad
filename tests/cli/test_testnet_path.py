"""README's testnet path, end to end, as a new user runs it: a chain that is not the local
31337 (Anvil started with chain id 11155111, Sepolia's, so no dev-account conveniences
apply), one encrypted keystore for every signature, and the commands in README order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import PASSWORD_ENV, write_keystore
from ghostproof.adapters.chain.anvil import Anvil
from ghostproof.cli.main import main
from tests.fixtures.cli import run

pytestmark = pytest.mark.anvil
TESTNET_CHAIN_ID = 11155111
NONCE = "0x" + "7e" * 32


@pytest.fixture(scope="module")
def testnet() -> Iterator[Anvil]:
    """Anvil standing in for a testnet: chain id 11155111."""
    with Anvil(chain_id=TESTNET_CHAIN_ID) as node:
        yield node


def fund_from_faucet(node: Anvil, address: str, eth: int) -> None:
    """What a testnet faucet does: give ``address`` some ETH."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance", "params": [address, hex(eth * 10**18)]}
    assert requests.post(node.url, json=body, timeout=5).json().get("error") is None


@dataclass
class Committed:
    """What the README's testnet steps leave behind: a funded keystore, a deployment, and a
    model committed with that keystore."""

    node: Anvil
    account: LocalAccount
    keystore: Path
    deployment: Path
    model: Path
    anchor: dict


@pytest.fixture(scope="module")
def committed(testnet: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Committed]:
    """A new user's steps up to ``model commit``, all signed by one keystore (its password in
    the environment, as a script would pass it)."""
    base = tmp_path_factory.mktemp("testnet")
    account = Account.create()
    keystore, dep, model = base / "key.json", base / "deployment.json", base / "model"
    write_keystore(keystore, account, "correct horse")
    fund_from_faucet(testnet, account.address, 5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, "correct horse")
        for argv in (
            ("deploy", "--rpc", testnet.url, "--keystore", keystore, "--deployment", dep),
            ("chain", "buy", "--credits", "100", "--keystore", keystore, "--deployment", dep),
            ("model", "build", "--preset", "synthetic", "--n", "64", "--d", "8", "--k", "4", "-o", model),
            ("model", "commit", model, "--keystore", keystore, "--deployment", dep),
        ):
            with pytest.raises(SystemExit) as info:
                main([str(a) for a in argv])
            assert info.value.code in (0, None), argv[:2]
        anchor = json.loads((model / "anchor.json").read_text())
        yield Committed(testnet, account, keystore, dep, model, anchor)


def test_testnet_commit_is_anchored_to_the_keystore(committed: Committed) -> None:
    assert committed.anchor["chainId"] == TESTNET_CHAIN_ID
    assert committed.anchor["prover"] == committed.account.address


def test_testnet_prove_and_verify(committed: Committed, tmp_path: Path, capsys) -> None:
    c = committed
    answer, request = tmp_path / "answer.json", tmp_path / "request.json"
    code, _, err = run(capsys, "prove", c.model, "--sample", "0", "--nonce", NONCE, "-o", answer,
                       "--request-out", request, "--keystore", c.keystore)
    assert code == 0, err
    x = tmp_path / "x.npy"
    np.save(x, np.load(c.model / "samples.npy")[0])
    base = ("verify", answer, "--ghost", c.model / "ghost.json", "--rpc", c.node.url,
            "--deployment", c.deployment, "--model-id", c.anchor["modelId"])
    code, out, err = run(capsys, *base, "--input", x, "--nonce", NONCE, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["prover"] == c.account.address and summary["boundToRequest"] is True
    code, _, err = run(capsys, *base, "--request", request)
    assert code == 0, err


def test_invalid_testnet_prove_with_model_key_refused(committed: Committed, tmp_path: Path, capsys) -> None:
    """After committing with a keystore, ``prove`` without it (DIR/prover.key) would sign
    answers every `verify --rpc` rejects: refused up front, one line, exit 2, nothing written."""
    answer = tmp_path / "answer.json"
    code, _, err = run(capsys, "prove", committed.model, "--sample", "0", "-o", answer)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("error: ") == 1 and "Traceback" not in err
    assert "registered prover" in err and committed.account.address in err
    assert not answer.exists()
