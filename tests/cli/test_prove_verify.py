"""``prove`` and ``verify --rpc`` against a real Anvil node: the answer is checked against the
model id's registry entry (active, registered prover as the *signer*, chain id, registry)
and against the request the client sent; ``prove`` refuses a key that is not the registered
prover. Every failure is one line and a non-zero exit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account, write_keystore
from ghostproof.adapters.chain.registry import (
    credit_balance,
    retire_model,
)
from ghostproof.adapters.storage.answers import write_response
from ghostproof.prover.modeldir import ModelDir, make_prover
from tests.fixtures.chain import Env, small_model_on
from tests.fixtures.cli import one_error, run

pytestmark = pytest.mark.anvil
NONCE = "0x" + "c3" * 32


@dataclass
class World:
    """One model directory registered three times under the same ghostRoot: by its own key
    (A, anchored in DIR/anchor.json), by B, and by C (then retired)."""

    env: Env
    deployment: Path
    md: ModelDir
    a: LocalAccount
    b: LocalAccount
    c: LocalAccount
    id_a: int
    id_b: int
    id_c: int

    def answer(self, path: Path, key: LocalAccount, model_id: int, contract: str | None = None,
               nonce: bytes | None = None) -> Path:
        """An answer to sample 0 signed by ``key`` for ``model_id`` on this chain."""
        prover = make_prover(self.md, exact=True, model_id=model_id, chain_id=self.env.deployment.chain_id,
                             verifying_contract=contract or self.env.deployment.registry,
                             private_key=bytes(key.key))
        write_response(path, prover.prove(self.md.sample(0), nonce))
        return path

    def verify(self, capsys, answer: Path, model_id: int, *extra: object) -> tuple[int, str, str]:
        """``verify ANSWER --rpc … --model-id ID``."""
        return run(capsys, "verify", answer, "--ghost", self.md.path / "ghost.json", "--rpc",
                   self.env.chain.rpc_url, "--deployment", self.deployment, "--model-id", model_id,
                   *extra)


@pytest.fixture(scope="module")
def world(anvil_env: Env, tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("prove-verify")
    deployment, md, a = small_model_on(anvil_env, base)
    id_a = anvil_env.register(md.path, a)
    anchor = {"chainId": anvil_env.deployment.chain_id, "registry": anvil_env.deployment.registry,
              "modelId": id_a, "prover": a.address, "ghostRoot": "0x" + md.ghost.ghost_root.hex()}
    (md.path / "anchor.json").write_text(json.dumps(anchor))
    b, c = anvil_env.new_account(), anvil_env.new_account()
    id_b, id_c = anvil_env.register(md.path, b), anvil_env.register(md.path, c)
    retire_model(anvil_env.chain, anvil_env.deployment, c, id_c)
    return World(anvil_env, deployment, md, a, b, c, id_a, id_b, id_c)


def test_verify_rpc_bound_to_request(world: World, tmp_path: Path, capsys) -> None:
    answer, request = tmp_path / "a.json", tmp_path / "req.json"
    code, _, err = run(capsys, "prove", world.md.path, "--sample", "0", "--nonce", NONCE, "-o", answer,
                       "--request-out", request)
    assert code == 0, err
    code, out, err = world.verify(capsys, answer, world.id_a, "--request", request, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["boundToRequest"] is True
    assert summary["prover"] == world.a.address
    assert summary["rootSource"] == f"chain 31337 (model {world.id_a})"


def test_verify_rpc_takes_model_id_from_request(world: World, tmp_path: Path, capsys) -> None:
    answer, request = tmp_path / "a.json", tmp_path / "req.json"
    code, _, err = run(capsys, "prove", world.md.path, "--sample", "1", "-o", answer,
                       "--request-out", request)
    assert code == 0, err
    code, out, err = run(capsys, "verify", answer, "--ghost", world.md.path / "ghost.json",
                         "--deployment", world.deployment, "--rpc", world.env.chain.rpc_url,
                         "--request", request)
    assert code == 0, err
    assert "answers your request" in out


def test_invalid_verify_rpc_other_nonce_exits_1(world: World, tmp_path: Path, capsys) -> None:
    answer = world.answer(tmp_path / "a.json", world.a, world.id_a, nonce=bytes(32))
    x = tmp_path / "x.npy"
    np.save(x, world.md.sample(0))
    code, _, err = world.verify(capsys, answer, world.id_a, "--input", x, "--nonce", NONCE)
    assert code == 1 and one_error(err) and "nonce" in err, err


def test_invalid_other_prover_of_the_same_root_exits_1(world: World, tmp_path: Path, capsys) -> None:
    """B registered A's ghostRoot under its own id and signs for A's model id: rejected, and
    the line names both the signer and the registered prover."""
    answer = world.answer(tmp_path / "b-for-a.json", world.b, world.id_a)
    code, _, err = world.verify(capsys, answer, world.id_a)
    assert code == 1 and one_error(err), err
    assert world.a.address in err and world.b.address in err


def test_invalid_other_provers_own_answer_exits_1(world: World, tmp_path: Path, capsys) -> None:
    """B's honest answer for its own model id, shown as an answer of A's model: the line
    names the signer and A's registered prover."""
    answer = world.answer(tmp_path / "b.json", world.b, world.id_b)
    assert world.verify(capsys, answer, world.id_b)[0] == 0  # valid for B's own model id
    code, _, err = world.verify(capsys, answer, world.id_a)
    assert code == 1 and one_error(err), err
    assert world.a.address in err and world.b.address in err


def test_invalid_named_prover_is_not_the_signer_exits_1(world: World, tmp_path: Path, capsys) -> None:
    """B signs for A's model id and writes A's address as the prover: the *recovered* signer
    is compared, so the line still names B."""
    answer = world.answer(tmp_path / "b-as-a.json", world.b, world.id_a)
    obj = json.loads(answer.read_text())
    obj["prover"] = world.a.address
    answer.write_text(json.dumps(obj))
    code, _, err = world.verify(capsys, answer, world.id_a)
    assert code == 1 and one_error(err), err
    assert world.b.address in err and world.a.address in err


def test_invalid_retired_model_exits_1(world: World, tmp_path: Path, capsys) -> None:
    answer = world.answer(tmp_path / "c.json", world.c, world.id_c)
    code, _, err = world.verify(capsys, answer, world.id_c)
    assert code == 1 and one_error(err) and "retired" in err, err


def test_verify_retired_model_allowed(world: World, tmp_path: Path, capsys) -> None:
    answer = world.answer(tmp_path / "c.json", world.c, world.id_c)
    code, _, err = world.verify(capsys, answer, world.id_c, "--allow-retired")
    assert code == 0, err


def test_invalid_receipt_for_other_registry_exits_1(world: World, tmp_path: Path, capsys) -> None:
    answer = world.answer(tmp_path / "other-registry.json", world.a, world.id_a,
                          contract=world.env.deployment.escrow)
    code, _, err = world.verify(capsys, answer, world.id_a)
    assert code == 1 and one_error(err) and "verifying contract" in err, err


def test_invalid_receipt_for_no_chain_exits_1(world: World, tmp_path: Path, capsys) -> None:
    """An answer signed for model 0 on no chain (a model id prove does not know)."""
    answer = tmp_path / "unanchored.json"
    assert run(capsys, "prove", world.md.path, "--sample", "0", "--model-id", "999", "-o", answer)[0] == 0
    code, _, err = world.verify(capsys, answer, world.id_a)
    assert code == 1 and one_error(err), err


def test_invalid_prove_rpc_key_not_registered_prover_exits_2(world: World, tmp_path: Path, capsys) -> None:
    """DIR/prover.key is A; model id_b's registered prover is B: refused before proving."""
    out = tmp_path / "refused.json"
    code, _, err = run(capsys, "prove", world.md.path, "--sample", "0", "-o", out, "--rpc",
                       world.env.chain.rpc_url, "--deployment", world.deployment, "--model-id", world.id_b)
    assert code == 2 and one_error(err), err
    assert f"not model {world.id_b}'s registered prover" in err and world.b.address in err
    assert not out.exists()


def test_prove_rpc_signs_for_the_chain(world: World, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rpc.json"
    code, _, err = run(capsys, "prove", world.md.path, "--sample", "2", "-o", out, "--rpc",
                       world.env.chain.rpc_url, "--deployment", world.deployment, "--model-id", world.id_a)
    assert code == 0, err
    assert world.verify(capsys, out, world.id_a)[0] == 0


def test_invalid_verify_root_and_rpc_exits_2(world: World, tmp_path: Path, capsys) -> None:
    answer = world.answer(tmp_path / "a.json", world.a, world.id_a)
    code, _, err = world.verify(capsys, answer, world.id_a, "--root", "0x" + "ab" * 32)
    assert code == 2 and one_error(err), err


def test_chain_buy_credits(world: World, capsys) -> None:
    buyer = dev_account(world.env.chain, 7)
    before = credit_balance(world.env.chain, world.env.deployment, buyer.address)
    code, out, err = run(capsys, "chain", "buy", "--credits", "2.5", "--dev-account", "7",
                         "--deployment", world.deployment, "--json")
    assert code == 0, err
    assert json.loads(out)["credits"] == str(25 * 10**17)
    after = credit_balance(world.env.chain, world.env.deployment, buyer.address)
    assert after - before == 25 * 10**17


def test_invalid_chain_buy_unfunded_exits_3(world: World, tmp_path: Path, capsys, monkeypatch) -> None:
    keystore = tmp_path / "key.json"
    write_keystore(keystore, Account.create(), "pw")
    monkeypatch.setenv("GHOSTPROOF_KEYSTORE_PASSWORD", "pw")
    code, _, err = run(capsys, "chain", "buy", "--credits", "1", "--keystore", keystore,
                       "--deployment", world.deployment)
    assert code == 3 and one_error(err) and "fund it first" in err, err
