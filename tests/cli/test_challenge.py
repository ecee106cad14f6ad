"""``ghostproof challenge`` and ``ghostproof audit --watch`` against Anvil: the watcher finds the
cheated answer among honest ones and slashes it once; a restarted watcher re-checks nothing;
weights come from a directory or a block store; every refusal is one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import dev_account, load_key_file
from ghostproof.adapters.chain.deployment import save_deployment
from ghostproof.adapters.chain.registry import read_model
from ghostproof.adapters.storage.answers import write_response
from ghostproof.adapters.storage.store import LocalStore
from ghostproof.adapters.storage.transfer import publish
from ghostproof.prover.modeldir import write_model_dir
from ghostproof.prover.presets import synthetic_model
from tests.fixtures.chain import Env
from tests.fixtures.cheat import cheating_prover
from tests.fixtures.cli import one_error, run

pytestmark = pytest.mark.anvil
CHALLENGER = 5  # an Anvil dev account


@dataclass
class Setup:
    """A model on Anvil with two honest answers and one cheated, kept as the wallet keeps them."""

    env: Env
    deployment: Path
    model: Path
    answers: Path
    cheated: Path
    model_id: int

    def chain_args(self) -> list[str]:
        """--rpc and --deployment of this chain."""
        return ["--rpc", self.env.chain.rpc_url, "--deployment", str(self.deployment)]


@pytest.fixture
def setup(anvil_env: Env, tmp_path: Path) -> Setup:
    """A fresh model and its answers on the shared Anvil deployment."""
    deployment = tmp_path / "deployment.json"
    save_deployment(deployment, anvil_env.deployment)
    md = write_model_dir(tmp_path / "model", synthetic_model(200, 16, layers=2, k=4, seed=11), index=False)
    key = load_key_file(md.path / "prover.key")
    anvil_env.send_eth(key.address, 10**18)
    model_id = anvil_env.register(md.path, key)
    kw = {"model_id": model_id, "chain_id": anvil_env.chain.chain_id,
          "registry": anvil_env.deployment.registry}
    honest = cheating_prover(md.model, key, cheat_layers=(), **kw)
    cheat = cheating_prover(md.model, key, **kw)
    answers = tmp_path / "answers"
    paths = []
    for i, prover in enumerate([honest, cheat, honest]):
        response = prover.prove(np.asarray(md.sample(i), dtype=np.float32), nonce=bytes([i + 1]) * 32)
        path = answers / f"0x{response.request.hash.hex()}" / ("response.bin" if i == 2 else "response.json")
        path.parent.mkdir(parents=True)
        write_response(path, response, binary=i == 2)
        paths.append(path)
    (answers / "rejected" / "0xdead").mkdir(parents=True)  # evidence folders are not receipts
    (answers / "rejected" / "0xdead" / "response.json").write_text("{}")
    return Setup(anvil_env, deployment, md.path, answers, paths[1].parent, model_id)


def test_challenge_dry_run_then_watch_slashes_once(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "challenge", setup.cheated, "--model", setup.model, *setup.chain_args(),
                         "--dry-run")
    assert code == 0, err
    assert "WRONG layer 0" in out and "would send challenge" in out and "nothing sent" in out
    assert read_model(setup.env.chain, setup.env.deployment, setup.model_id).stake > 0  # dry: nothing sent

    code, out, err = run(capsys, "audit", "--watch", setup.answers, "--once", "--model", setup.model,
                         *setup.chain_args(), "--dev-account", CHALLENGER)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4, out  # three answers and the summary; rejected/ is skipped
    assert sum(line.startswith("slashed ") for line in lines) == 1
    assert sum(line.startswith("ok ") for line in lines) == 2
    assert "checked 3 answers (2 ok, 1 slashed)" in lines[-1]
    model = read_model(setup.env.chain, setup.env.deployment, setup.model_id)
    assert model.slashed and model.stake == 0

    code, out, _ = run(capsys, "audit", "--watch", setup.answers, "--once", "--model", setup.model,
                       *setup.chain_args(), "--dev-account", CHALLENGER)
    assert code == 0 and "checked 0 answers (none new)" in out  # the state file remembers

    code, _, err = run(capsys, "challenge", setup.cheated, "--model", setup.model, *setup.chain_args(),
                       "--dev-account", CHALLENGER)
    assert code == 2 and one_error(err) and "already slashed" in err


def test_honest_answer_is_refused_in_one_line(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    honest = sorted(p for p in setup.answers.iterdir() if p.name.startswith("0x") and p != setup.cheated)[0]
    code, out, err = run(capsys, "challenge", honest, "--model", setup.model, *setup.chain_args(),
                         "--dev-account", CHALLENGER)
    assert code == 2 and one_error(err) and "selection stands" in err, err
    assert out.count("ok    layer") == 2


def test_challenge_weights_from_a_store(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "blocks"
    publish(setup.model, LocalStore(store))
    code, out, err = run(capsys, "challenge", setup.cheated, *setup.chain_args(), "--store-path", store,
                         "--dry-run", "--json")
    assert code == 0, err
    assert '"gas"' in out and '"columnProof"' in out


def test_invalid_challenge_usage(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "challenge", setup.cheated, "--model", setup.model, *setup.chain_args())
    assert code == 2 and "--keystore or --dev-account" in err
    code, _, err = run(capsys, "challenge", tmp_path, "--model", setup.model, *setup.chain_args(),
                       "--dry-run")
    assert code == 2 and "no response.json" in err
    other = write_model_dir(tmp_path / "other", synthetic_model(64, 16, layers=2, k=4, seed=12), index=False)
    code, _, err = run(capsys, "challenge", setup.cheated, "--model", other.path, *setup.chain_args(),
                       "--store-path", tmp_path / "empty", "--timeout", "1", "--dry-run")
    assert code in (2, 3) and one_error(err), err  # not its weights: fetched from an empty store
    assert dev_account(setup.env.chain, CHALLENGER).address  # the dev account exists on this chain
