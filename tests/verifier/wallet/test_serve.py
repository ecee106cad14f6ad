"""The wallet against the real node: ``ghostproof serve`` as a process on 127.0.0.1, on a real
Anvil chain. A query is paid and verified; a second wallet folder for the same key is
resynchronised by the node's corrective 402; an answer altered in transit (a proxy between
wallet and node) is rejected and kept, and the prover is no longer paid; the node redeems
what the wallet signed when it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response

from ghostproof.adapters.chain.accounts import PASSWORD_ENV, write_keystore
from ghostproof.adapters.chain.anvil import free_port
from ghostproof.adapters.chain.escrow import channel
from ghostproof.protocol.errors import PaymentError
from ghostproof.verifier.wallet import Wallet
from tests.fixtures.cli import one_error, run

from .conftest import PASSWORD, PRICE, World, funded_wallet
from .standin import Server

pytestmark = pytest.mark.anvil


@dataclass
class Node:
    """A running ``ghostproof serve``."""

    proc: subprocess.Popen[bytes]
    url: str


def _wait_ready(node: Node, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise RuntimeError(f"ghostproof serve exited: {node.proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(node.url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("ghostproof serve did not become ready")


@pytest.fixture(scope="module")
def served(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    base = tmp_path_factory.mktemp("serve")
    keystore = base / "prover.json"
    write_keystore(keystore, world.prover, PASSWORD)
    port = free_port()
    ghostproof = str(Path(sys.executable).parent / "ghostproof")
    proc = subprocess.Popen(
        [ghostproof, "serve", str(world.md.path), "--model-id", str(world.model_id), *world.chain_args(),
         "--keystore", str(keystore), "--port", str(port), "--db", str(base / "node.sqlite")],
        env={**os.environ, PASSWORD_ENV: PASSWORD}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    node = Node(proc, f"http://127.0.0.1:{port}")
    try:
        _wait_ready(node)
        yield node
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()


def test_query_the_real_node(world: World, served: Node, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    wallet = funded_wallet(world, home)
    wallet.close()
    code, out, err = run(capsys, "query", "--node", served.url, "--model-id", world.model_id,
                         "--sample", 0, "--samples-from", world.md.path, "--home", home,
                         *world.chain_args(), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["valid"] is True and answer["cumulative"] == str(PRICE)
    assert answer["prover"] == world.prover.address
    with Wallet.open(home, PASSWORD) as again:
        client = again.client(served.url, rpc=world.rpc, deployment=world.deployment, binary=True)
        second = client.query(world.model_id, world.md.sample(1))
    assert second.cumulative == 2 * PRICE and (second.path / "response.bin").exists()
    assert second.settlement is not None and second.settlement.accepted == 2 * PRICE


def test_real_node_corrective_402_resynchronises(world: World, served: Node, tmp_path: Path) -> None:
    first = funded_wallet(world, tmp_path / "a")
    client = first.client(served.url, rpc=world.rpc, deployment=world.deployment)
    for i in range(2):
        client.query(world.model_id, world.md.sample(i))
    second = Wallet.import_key(tmp_path / "b", first.account.key.hex(), PASSWORD)
    answer = second.client(served.url, rpc=world.rpc, deployment=world.deployment).query(
        world.model_id, world.md.sample(2))
    assert answer.cumulative == 3 * PRICE
    # the refused voucher (price: a replay), then 3·price
    rows = second.ledger._db.execute("SELECT amount, status FROM vouchers ORDER BY id").fetchall()
    assert rows == [(str(PRICE), "refused"), (str(3 * PRICE), "accepted")]


def _tampering_proxy(target: str) -> FastAPI:
    """Forwards to ``target``; adds 1 to the first output element of every JSON answer."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, http: HttpRequest) -> Response:
        headers = {k: v for k, v in http.headers.items() if k.lower() not in ("host", "content-length")}
        async with httpx.AsyncClient() as client:
            reply = await client.request(http.method, f"{target}/{path}", content=await http.body(),
                                         headers=headers, timeout=60)
        body = reply.content
        if reply.status_code == 200 and path.endswith("/query"):
            obj = json.loads(body)
            obj["output"][0] += 1
            body = json.dumps(obj).encode()
        keep = {k: v for k, v in reply.headers.items()
                if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")}
        return Response(body, status_code=reply.status_code, headers=keep)

    return app


def test_answer_altered_in_transit_is_rejected(
    world: World, served: Node, tmp_path: Path, capsys, password_env
) -> None:
    proxy = Server(_tampering_proxy(served.url))
    try:
        home = tmp_path / "home"
        funded_wallet(world, home).close()
        args = ["query", "--node", proxy.url, "--model-id", world.model_id, "--sample", 0,
                "--samples-from", world.md.path, "--home", home, *world.chain_args()]
        code, _, err = run(capsys, *args)
        assert code == 1 and one_error(err) and "claimed output differs" in err
        (evidence,) = (home / "answers" / "rejected").iterdir()
        assert json.loads((evidence / "payment.json").read_text())["verified"] is False
        code, _, err = run(capsys, *args)
        assert code == 2 and "stopped paying prover" in err
        with Wallet.open(home, PASSWORD) as wallet, pytest.raises(PaymentError, match="stopped"):
            wallet.client(served.url, rpc=world.rpc, deployment=world.deployment).query(
                world.model_id, world.md.sample(0))
    finally:
        proxy.stop()


def test_stopped_node_redeemed_what_was_signed(world: World, served: Node, tmp_path: Path) -> None:
    wallet = funded_wallet(world, tmp_path / "home")
    wallet.client(served.url, rpc=world.rpc, deployment=world.deployment).query(
        world.model_id, world.md.sample(0))
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    state = channel(world.env.chain, world.env.deployment, wallet.address, world.prover.address)
    assert state.redeemed == PRICE
