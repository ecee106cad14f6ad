"""``ghostproof query`` and the Python API against a node over real HTTP on 127.0.0.1 (the
stand-in of standin.py: real vouchers, real answers) and a real Anvil chain: a verified
answer is kept; a tampered one is rejected (exit 1, kept as evidence, the prover no longer
paid); the voucher is in the ledger before it is sent (the client killed mid-request never
signs a lower amount afterwards); a corrective 402 is followed; a lying node is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import PASSWORD_ENV
from ghostproof.adapters.chain.deployment import ONE_CREDIT
from ghostproof.protocol.errors import PaymentError
from ghostproof.verifier.wallet import ChannelKey, Wallet
from tests.fixtures.cli import one_error, run

from .conftest import PASSWORD, PRICE, World, funded_wallet

pytestmark = pytest.mark.anvil


def _query_args(world: World, url: str, home: Path, *extra: object) -> list[object]:
    return ["query", "--node", url, "--model-id", world.model_id, "--sample", 0,
            "--samples-from", world.md.path, "--home", home, *world.chain_args(), *extra]


def _key(world: World, wallet: Wallet, epoch: int = 0) -> ChannelKey:
    dep = world.env.deployment
    return ChannelKey(dep.chain_id, dep.escrow, wallet.address, world.prover.address, epoch)


def _signed(world: World, home: Path) -> int:
    with Wallet.open(home, PASSWORD) as wallet:
        return wallet.ledger.signed(_key(world, wallet))


def test_query_verifies_and_keeps_the_answer(
    world: World, standin, tmp_path: Path, capsys, password_env
) -> None:
    node, url = standin
    home = tmp_path / "home"
    funded_wallet(world, home).close()
    code, out, err = run(capsys, *_query_args(world, url, home, "--json"))
    assert code == 0, err
    answer = json.loads(out)
    expected = node.prover.prove(world.md.sample(0))
    assert answer["valid"] is True and answer["output"] == [int(v) for v in expected.output]
    assert answer["prover"] == world.prover.address
    assert (answer["price"], answer["cumulative"]) == (str(PRICE), str(PRICE))
    kept = Path(answer["answer"])
    assert kept.parent == home / "answers"
    assert sorted(p.name for p in kept.iterdir()) == ["payment.json", "request.json", "response.json"]
    record = json.loads((kept / "payment.json").read_text())
    assert record["verified"] is True and record["voucher"]["cumulativeAmount"] == str(PRICE)
    assert record["settlement"]["accepted"] == str(PRICE)
    assert node.paid == [PRICE]
    # what was kept is checked again by `verify`, against the chain and the request sent
    ghost = home / "ghosts" / ("0x" + world.md.ghost.ghost_root.hex() + ".json")
    code, out, err = run(capsys, "verify", kept / "response.json", "--ghost", ghost, "--request",
                         kept / "request.json", *world.chain_args(), "--json")
    assert code == 0, err
    assert json.loads(out)["boundToRequest"] is True
    # the ledger and the chain, as `credits status` shows them
    code, out, _ = run(capsys, "credits", "status", "--home", home, *world.chain_args(), "--json")
    (row,) = json.loads(out)["channels"]
    assert (row["signed"], row["accepted"], row["left"]) == (str(PRICE), str(PRICE),
                                                           str(ONE_CREDIT // 100 - PRICE))


def test_query_binary_input_file(world: World, standin, tmp_path: Path, capsys, password_env) -> None:
    node, url = standin
    home = tmp_path / "home"
    funded_wallet(world, home).close()
    x = tmp_path / "x.npy"
    np.save(x, world.md.sample(1))
    code, out, err = run(capsys, "query", "--node", url, "--model-id", world.model_id, "--input", x,
                         "--binary", "--home", home, *world.chain_args())
    assert code == 0, err
    assert "verified" in out
    (kept,) = (home / "answers").glob("0x*")
    assert (kept / "response.bin").read_bytes()[:3] == b"GPR"
    for _ in range(2):  # cumulative vouchers, one price each
        assert run(capsys, "query", "--node", url, "--model-id", world.model_id, "--input", x,
                   "--home", home, *world.chain_args())[0] == 0
    assert node.paid == [PRICE, 2 * PRICE, 3 * PRICE]


def test_tampered_answer_is_rejected_kept_and_the_prover_no_longer_paid(
    world: World, standin, tmp_path: Path, capsys, password_env
) -> None:
    node, url = standin
    node.tamper = True
    home = tmp_path / "home"
    funded_wallet(world, home).close()
    code, out, err = run(capsys, *_query_args(world, url, home))
    assert code == 1 and one_error(err), err
    assert "answer rejected (ProofError: claimed output differs" in err
    assert "no longer pays prover" in err and out == ""
    (evidence,) = (home / "answers" / "rejected").iterdir()
    record = json.loads((evidence / "payment.json").read_text())
    assert record["verified"] is False and record["reason"].startswith("ProofError")
    assert (evidence / "response.json").exists() and (evidence / "request.json").exists()
    assert not list((home / "answers").glob("0x*"))
    # the next query is refused before any voucher is signed
    node.tamper = False
    code, _, err = run(capsys, *_query_args(world, url, home))
    assert code == 2 and one_error(err) and "stopped paying prover" in err
    assert node.paid == [PRICE]
    code, out, _ = run(capsys, "credits", "status", "--home", home, *world.chain_args(), "--json")
    assert json.loads(out)["channels"][0]["blocked"] is True


def _ghostproof() -> str:
    return str(Path(sys.executable).parent / "ghostproof")


def _killed_mid_request(world: World, node, url: str, home: Path) -> None:
    """Run `ghostproof query` in a subprocess and SIGKILL it once the node holds its voucher."""
    env = {**os.environ, PASSWORD_ENV: PASSWORD}
    proc = subprocess.Popen([_ghostproof(), *map(str, _query_args(world, url, home))], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert node.received.wait(60), proc.stderr.read() if proc.poll() is not None else "no voucher"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    node.hang = node.accept_then_hang = False
    node.release.set()


def test_killed_before_the_answer_never_signs_lower(
    world: World, standin, tmp_path: Path, password_env
) -> None:
    node, url = standin
    home = tmp_path / "home"
    wallet = funded_wallet(world, home)
    wallet.client(url, rpc=world.rpc, deployment=world.deployment).query(world.model_id, world.md.sample(0))
    wallet.close()
    node.hang = True  # the node gets the voucher for 2·price, never answers
    _killed_mid_request(world, node, url, home)
    assert node.paid == [PRICE, 2 * PRICE]
    assert _signed(world, home) == 2 * PRICE  # recorded before it was sent
    with Wallet.open(home, PASSWORD) as wallet:
        client = wallet.client(url, rpc=world.rpc, deployment=world.deployment)
        answer = client.query(world.model_id, world.md.sample(1))
    assert answer.cumulative == 2 * PRICE  # the same amount again (never accepted), never lower
    assert node.paid == [PRICE, 2 * PRICE, 2 * PRICE]


def test_killed_after_the_node_accepted_resyncs(world: World, standin, tmp_path: Path, password_env) -> None:
    node, url = standin
    home = tmp_path / "home"
    funded_wallet(world, home).close()
    node.accept_then_hang = True  # the node accepts price, answers into a dead connection
    _killed_mid_request(world, node, url, home)
    assert _signed(world, home) == PRICE
    with Wallet.open(home, PASSWORD) as wallet:
        client = wallet.client(url, rpc=world.rpc, deployment=world.deployment)
        answer = client.query(world.model_id, world.md.sample(1))
    # price again (not lower) is refused as a replay; the corrective 402 says price: 2·price
    assert node.paid == [PRICE, PRICE, 2 * PRICE]
    assert answer.cumulative == 2 * PRICE


def test_corrective_402_resynchronises(world: World, standin, tmp_path: Path, password_env) -> None:
    node, url = standin
    first = funded_wallet(world, tmp_path / "a")
    client = first.client(url, rpc=world.rpc, deployment=world.deployment)
    for i in range(2):
        client.query(world.model_id, world.md.sample(i))
    # the same key in a second wallet folder: its ledger knows nothing of the two vouchers
    second = Wallet.import_key(tmp_path / "b", first.account.key.hex(), PASSWORD)
    answer = second.client(url, rpc=world.rpc, deployment=world.deployment).query(
        world.model_id, world.md.sample(2))
    assert node.paid == [PRICE, 2 * PRICE, PRICE, 3 * PRICE]
    assert answer.cumulative == 3 * PRICE
    assert second.ledger.channel(_key(world, second)).accepted == 3 * PRICE


def test_node_claiming_more_than_was_signed_is_refused(
    world: World, standin, tmp_path: Path, password_env
) -> None:
    node, url = standin
    wallet = funded_wallet(world, tmp_path / "home")
    client = wallet.client(url, rpc=world.rpc, deployment=world.deployment)
    client.query(world.model_id, world.md.sample(0))
    node.lie_last = 5 * PRICE  # the wallet signed only one price
    with pytest.raises(PaymentError, match="signed at most"):
        client.query(world.model_id, world.md.sample(1))
    assert node.paid == [PRICE]
    assert wallet.ledger.signed(_key(world, wallet)) == PRICE


def test_settlement_claiming_more_is_not_believed(world: World, standin, tmp_path: Path) -> None:
    node, url = standin
    node.claim_accepted = 50 * PRICE
    wallet = funded_wallet(world, tmp_path / "home")
    client = wallet.client(url, rpc=world.rpc, deployment=world.deployment)
    client.query(world.model_id, world.md.sample(0))
    assert wallet.ledger.channel(_key(world, wallet)).accepted == PRICE
    assert client.query(world.model_id, world.md.sample(1)).cumulative == 2 * PRICE


def test_busy_node_is_retried(world: World, standin, tmp_path: Path, password_env) -> None:
    node, url = standin
    node.busy = 2
    wallet = funded_wallet(world, tmp_path / "home")
    answer = wallet.client(url, rpc=world.rpc, deployment=world.deployment).query(
        world.model_id, world.md.sample(0))
    assert answer.cumulative == PRICE and node.busy == 0


def test_invalid_empty_channel_is_refused_before_signing(
    world: World, standin, tmp_path: Path, capsys, password_env
) -> None:
    node, url = standin
    home = tmp_path / "home"
    funded_wallet(world, home, deposited=0).close()
    code, _, err = run(capsys, *_query_args(world, url, home))
    assert code == 2 and one_error(err) and "credits deposit" in err
    assert node.paid == [] and _signed(world, home) == 0


def test_invalid_node_down_is_exit_3(world: World, tmp_path: Path, capsys, password_env) -> None:
    from ghostproof.adapters.chain.anvil import free_port

    home = tmp_path / "home"
    funded_wallet(world, home).close()
    code, _, err = run(capsys, *_query_args(world, f"http://127.0.0.1:{free_port()}", home))
    assert code == 3 and one_error(err) and "not reachable" in err


def test_python_api_in_three_lines(world: World, standin, tmp_path: Path) -> None:
    node, url = standin
    funded_wallet(world, tmp_path / "home").close()
    x = world.md.sample(3)

    wallet = Wallet.open(tmp_path / "home", PASSWORD)
    client = wallet.client(url, rpc=world.rpc, deployment=world.deployment)
    answer = client.query(world.model_id, x)

    assert answer.top1 == int(np.argmax(node.prover.prove(x).output))
    assert answer.path.is_dir() and answer.settlement is not None
    assert answer.settlement.deposit_left == ONE_CREDIT // 100 - PRICE
