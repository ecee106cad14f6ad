"""Paid training through the node (``serve --train``) and the version endpoints, over real
HTTP on 127.0.0.1 against the embedded chain: a training is paid like a query, moves the model
to a new version registered on-chain before any later answer, and is refused — and not
charged — when the node does not train; archived versions are served by root, 404 otherwise;
a directory trained but not rotated is rotated when the node starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account import Account

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester
from ghostproof.adapters.chain.deployment import deploy_all
from ghostproof.adapters.chain.escrow import deposit
from ghostproof.adapters.chain.registry import mint_credits, read_model, read_rotations
from ghostproof.adapters.chain.tx import send_eth
from ghostproof.adapters.storage.layout import archived_update_path
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.payment import PAYMENT_REQUIRED_HEADER, PAYMENT_SIGNATURE_HEADER, Payment, Terms
from ghostproof.protocol.payment import decode_payment_required as decode_terms
from ghostproof.protocol.update import loads_update
from ghostproof.protocol.voucher import Voucher, sign_voucher
from ghostproof.prover.modeldir import load_model_dir, write_model_dir
from ghostproof.prover.node.boot import NodeThread, open_node
from ghostproof.prover.node.config import NodeConfig
from ghostproof.prover.node.training import train_request_hash
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.update import apply_update, declare_update_rule, parse_examples

from .conftest import DEPOSIT, Node, register

D = 16


def trainable_model_dir(path: Path, seed: int = 3) -> Path:
    """A one-layer model (n = 200, d = 16, k = 4) declaring the rule sgd-v1, exact search."""
    fm = synthetic_model(n=200, d=D, layers=1, k=4, seed=seed, kind="structured")
    write_model_dir(path, fm, order=False, index=False)
    declare_update_rule(path)
    return path


def start_trainable_node(tmp: Path, *, train: bool = True, seed: int = 3) -> Node:
    """A fresh embedded chain, a trainable model registered, its node (training on or off)."""
    from ghostproof.adapters.chain.provider import embedded_chain

    chain = embedded_chain()
    owner, prover = dev_account(chain, 0), dev_account(chain, 1)
    fund_from_tester(chain, owner.address, 10**22)
    fund_from_tester(chain, prover.address, 10**20)
    dep, _ = deploy_all(chain, owner)
    model_dir = trainable_model_dir(tmp / "model", seed)
    model_id = register(chain, dep, owner, prover, model_dir)
    service = open_node(model_dir, model_id, chain, dep, prover, NodeConfig(watch_every=0.2, train=train),
                        tmp / "node.sqlite", exact=True)
    return Node(chain, dep, owner, prover, model_id, model_dir, service, NodeThread(service))


@dataclass
class Trainee:
    """A paying client of a training node (vouchers by hand, as conftest's PayingClient)."""

    node: Node
    account: object
    terms: Terms
    accepted: int = 0

    def train(self, body: bytes, *, pay: bool = True) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if pay:
            t = self.terms
            amount = self.accepted + t.price
            v = Voucher(self.account.address, t.prover, t.epoch, amount, t.chain_id, t.escrow)
            payment = Payment(t, v, sign_voucher(v, self.account.key),
                              train_request_hash(self.node.model_id, body))
            headers[PAYMENT_SIGNATURE_HEADER] = payment.to_header()
        r = httpx.post(f"{self.node.url}/v1/models/{self.node.model_id}/train", content=body,
                       headers=headers, timeout=60)
        if r.status_code == 200 and pay:
            self.accepted += self.terms.price
        return r


def trainee(node: Node) -> Trainee:
    acct = Account.create()
    with node.service.view.lock:
        send_eth(node.chain, node.owner, acct.address, 10**18)
        mint_credits(node.chain, node.deployment, node.owner, acct.address, DEPOSIT)
        deposit(node.chain, node.deployment, acct, node.prover.address, DEPOSIT)
    r = httpx.post(f"{node.url}/v1/models/{node.model_id}/train", content=examples_body(1),
                   headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code in (402, 403, 409), r.text
    if r.status_code == 402:
        terms, _ = decode_terms(r.headers[PAYMENT_REQUIRED_HEADER])
    else:
        terms = node.client().terms  # the query's terms are the training's
    return Trainee(node, acct, terms)


def examples_body(n: int = 3, label: int = 5) -> bytes:
    return json.dumps({"examples": [{"sample": i, "label": label} for i in range(n)]}).encode()


@pytest.fixture(scope="module")
def tnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_trainable_node(tmp_path_factory.mktemp("train-node"))
    try:
        yield n
    finally:
        n.server.stop()


def test_training_rotates_and_later_answers_are_under_the_new_root(tnode: Node) -> None:
    client = trainee(tnode)
    old = tnode.service.registered
    r = client.train(examples_body())
    assert r.status_code == 200, r.text
    result = r.json()
    with tnode.service.view.lock:
        model = read_model(tnode.chain, tnode.deployment, tnode.model_id)
        rotations = read_rotations(tnode.chain, tnode.deployment, tnode.model_id)
    assert model.version == result["version"] == 1 and result["examples"] == 3
    assert "0x" + model.ghost_root.hex() == result["ghostRoot"] != "0x" + old.ghost_root.hex()
    assert rotations[-1].update_proof_cid == result["updateProofCid"]
    assert result["rotation"]["transaction"].startswith("0x")
    proof_bytes = archived_update_path(tnode.model_dir, model.ghost_root).read_bytes()
    assert cid_for_bytes(proof_bytes) == result["updateProofCid"]
    assert json.loads(proof_bytes) == result["updateProof"]
    # the version endpoints serve both versions' ghost files and the proof, by root
    base = f"{tnode.url}/v1/models/{tnode.model_id}/versions"
    new_ghost = httpx.get(f"{base}/{result['ghostRoot']}/ghost", timeout=10)
    assert cid_for_bytes(new_ghost.content) == model.ghost_cid
    assert httpx.get(f"{base}/{result['oldGhostRoot']}/ghost", timeout=10).status_code == 200
    assert httpx.get(f"{base}/{result['ghostRoot']}/update", timeout=10).content == proof_bytes
    # a paid query afterwards is signed under the new root
    payer = tnode.client()
    q = payer.pay()
    assert q.status_code == 200, q.text
    assert q.json()["ghostRoot"] == result["ghostRoot"]
    # the same voucher and body again: the stored reply, nothing trained or charged twice
    client.accepted -= client.terms.price
    again = client.train(examples_body())
    assert again.status_code == 200 and again.json() == result
    with tnode.service.view.lock:
        assert read_model(tnode.chain, tnode.deployment, tnode.model_id).version == 1


def test_version_endpoints_validate_and_404(tnode: Node) -> None:
    base = f"{tnode.url}/v1/models/{tnode.model_id}/versions"
    unknown = "0x" + "ab" * 32
    assert httpx.get(f"{base}/{unknown}/ghost", timeout=10).status_code == 404
    assert httpx.get(f"{base}/{unknown}/update", timeout=10).status_code == 404
    assert httpx.get(f"{base}/0x1234/ghost", timeout=10).status_code == 400
    assert httpx.get(f"{base}/..%2F..%2Fghost.json/ghost", timeout=10).status_code in (400, 404)
    root = "0x" + tnode.service.registered.ghost_root.hex()
    assert httpx.get(f"{base}/{root}/other", timeout=10).status_code == 404
    assert httpx.get(f"{tnode.url}/v1/models/99/versions/{root}/ghost", timeout=10).status_code == 404


def test_bad_training_bodies_are_refused_free(tnode: Node) -> None:
    client = trainee(tnode)
    too_many = json.dumps({"examples": [{"sample": 0, "label": 1}] * 65}).encode()
    assert client.train(too_many).status_code == 422
    assert client.train(b'{"examples": [{"input": [0, 0], "label": 1}]}').status_code == 422
    assert client.train(b"not json").status_code == 400
    assert client.accepted == 0


def test_training_off_is_refused_and_not_charged(tmp_path: Path) -> None:
    node = start_trainable_node(tmp_path, train=False)
    try:
        client = trainee(node)
        r = client.train(examples_body())
        assert r.status_code == 403 and "--train" in r.json()["message"]
        assert node.service.ledger.last_accepted(client.account.address, 0) is None
        with node.service.view.lock:
            assert read_model(node.chain, node.deployment, node.model_id).version == 0
    finally:
        node.server.stop()


def test_a_directory_ahead_of_the_chain_is_rotated_at_start(tmp_path: Path) -> None:
    node = start_trainable_node(tmp_path, train=False)
    node.server.stop()
    md = load_model_dir(node.model_dir)
    spec = md.model.layers[0].spec
    examples = parse_examples(json.loads(examples_body(2)), spec.d_in, spec.d_out, spec.s_v, md.samples)
    outcome = apply_update(md, examples, exact=True)  # trained offline: the chain is behind
    service = open_node(node.model_dir, node.model_id, node.chain, node.deployment, node.prover,
                        NodeConfig(watch_every=0.2), tmp_path / "node2.sqlite", exact=True)
    try:
        assert service.registered.ghost_root == outcome.step.new_ghost.ghost_root
        assert service.registered.version == 1
        rotation = read_rotations(node.chain, node.deployment, node.model_id)[0]
        proof = archived_update_path(node.model_dir, rotation.new_root).read_bytes()
        assert rotation.update_proof_cid == cid_for_bytes(proof)
        assert loads_update(proof).new_ghost_root == rotation.new_root
    finally:
        service.ledger.close()
    assert np.asarray(md.samples).shape[1] == D
