"""``ghostproof serve`` as a process on Anvil: refusing to start, and killed with SIGKILL in
the middle of a stream of paid queries, then restarted: every answered query is redeemed
on-chain exactly once, and a client retrying the reply it lost is not charged twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account
from ghostproof.adapters.chain.anvil import Anvil, free_port
from ghostproof.adapters.chain.deployment import Deployment, contract, deploy_all, save_deployment
from ghostproof.adapters.chain.escrow import channel, deposit
from ghostproof.adapters.chain.provider import Chain, connect
from ghostproof.adapters.chain.registry import mint_credits
from ghostproof.adapters.chain.tx import send_eth
from ghostproof.protocol.errors import NotRegisteredProverError, RootMismatchError
from ghostproof.prover.node.boot import open_node

from .conftest import DEPOSIT, PayingClient, build_model_dir, register

pytestmark = pytest.mark.anvil
GHOSTPROOF = str(Path(sys.executable).with_name("ghostproof"))


@dataclass
class AnvilModel:
    anvil: Anvil
    chain: Chain
    deployment: Deployment
    deployment_file: Path
    model_dir: Path
    model_id: int
    tmp: Path


@pytest.fixture(scope="module")
def anvil_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilModel]:
    tmp = tmp_path_factory.mktemp("anvil-node")
    with Anvil() as anvil:
        chain = connect(anvil.url)
        owner = dev_account(chain, 0)
        dep, _ = deploy_all(chain, owner)
        save_deployment(tmp / "deployment.json", dep)
        model_dir = build_model_dir(tmp / "model")
        model_id = register(chain, dep, owner, dev_account(chain, 1), model_dir)
        yield AnvilModel(anvil, chain, dep, tmp / "deployment.json", model_dir, model_id, tmp)


def _serve(m: AnvilModel, port: int, *extra: str, rpc: str | None = None) -> subprocess.Popen:
    args = [GHOSTPROOF, "serve", str(m.model_dir), "--model-id", str(m.model_id), "--rpc",
            rpc or m.anvil.url, "--deployment", str(m.deployment_file), "--port", str(port),
            "--db", str(m.tmp / "node.sqlite"), *extra]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("node did not become ready")


def _start(m: AnvilModel, port: int) -> subprocess.Popen:
    """``ghostproof serve`` with dev account 1 (the registered prover) on ``port``, once it is
    ready (killed if it never is)."""
    proc = _serve(m, port, "--dev-account", "1")
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def test_invalid_start_chain_unreachable(anvil_model: AnvilModel):
    proc = _serve(anvil_model, free_port(), "--dev-account", "1", rpc=f"http://127.0.0.1:{free_port()}")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert err.strip().count("\n") == 0 and "not reachable" in err, err


def test_invalid_start_key_not_the_registered_prover(anvil_model: AnvilModel):
    m = anvil_model
    with pytest.raises(NotRegisteredProverError):
        open_node(m.model_dir, m.model_id, m.chain, m.deployment, dev_account(m.chain, 2))


def test_invalid_start_ghost_root_not_the_registered_one(anvil_model: AnvilModel):
    m = anvil_model
    other = build_model_dir(m.tmp / "other", seed=1)
    with pytest.raises(RootMismatchError):
        open_node(other, m.model_id, m.chain, m.deployment, dev_account(m.chain, 1))


def _fund_channel(m: AnvilModel, account: LocalAccount) -> None:
    """1 ETH and DEPOSIT credits to ``account``, the credits deposited in its channel to the
    prover (dev account 1)."""
    owner = dev_account(m.chain, 0)
    send_eth(m.chain, owner, account.address, 10**18)
    mint_credits(m.chain, m.deployment, owner, account.address, DEPOSIT)
    deposit(m.chain, m.deployment, account, dev_account(m.chain, 1).address, DEPOSIT)


def _funded_client(m: AnvilModel, url: str) -> PayingClient:
    acct = Account.create()
    _fund_channel(m, acct)
    client = PayingClient(url, acct)
    client.fetch_terms(m.model_id)
    return client


def _stream(client: PayingClient, answered: list[int], stop: threading.Event) -> None:
    """Paid queries one after another until the node goes away (``client.last`` is then the
    request whose reply was lost)."""
    while not stop.is_set():
        try:
            r = client.pay()
        except httpx.TransportError:
            return
        assert r.status_code == 200, r.text
        answered.append(client.accepted)


def _redeemed_events(m: AnvilModel, client: str) -> list[int]:
    escrow = contract(m.chain, "CreditEscrow", m.deployment.escrow)
    logs = escrow.events.Redeemed().get_logs(argument_filters={"client": client},
                                             from_block=m.deployment.block)
    return [int(log["args"]["cumulativeAmount"]) for log in logs]


def test_sigkill_mid_stream_then_restart_redeems_every_answer_once(anvil_model: AnvilModel):
    m = anvil_model
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(m, port)
    try:
        client = _funded_client(m, url)
        answered: list[int] = []
        stop = threading.Event()
        thread = threading.Thread(target=_stream, args=(client, answered, stop))
        thread.start()
        while len(answered) < 4:
            assert thread.is_alive()
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        thread.join()
        before_kill = client.accepted
        proc = _start(m, port)
        # restarted: what was accepted before the kill is redeemed (reconciliation)
        assert channel(m.chain, m.deployment, client.account.address,
                       client.terms.prover).redeemed >= before_kill
        request, headers = client.last  # the reply lost to the kill: same voucher, same request
        retried = client.post(request, headers)
        assert retried.status_code == 200, retried.text
        client.accepted += client.terms.price
        for _ in range(2):
            assert client.pay().status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = channel(m.chain, m.deployment, client.account.address, client.terms.prover)
    assert state.redeemed == client.accepted
    events = _redeemed_events(m, client.account.address)
    assert events == sorted(set(events)) and events[-1] == client.accepted
    assert events[0] >= before_kill


def test_the_wallet_pays_and_verifies_against_the_real_node(anvil_model: AnvilModel, tmp_path: Path):
    """The wallet's client (ghostproof.verifier.wallet) against ``ghostproof serve``."""
    from ghostproof.verifier.wallet import Wallet

    m = anvil_model
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(m, port)
    try:
        wallet = Wallet.create(tmp_path / "home", "pw")
        _fund_channel(m, wallet.account)
        client = wallet.client(url, rpc=m.anvil.url, deployment=m.deployment_file)
        for i in range(3):
            x = np.arange(16, dtype=np.float32) + i + 1
            answer = client.query(m.model_id, x)
            assert answer.cumulative == answer.settlement.accepted == (i + 1) * 10
        wallet.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert channel(m.chain, m.deployment, wallet.address, dev_account(m.chain, 1).address).redeemed == 30
