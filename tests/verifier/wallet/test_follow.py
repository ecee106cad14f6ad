"""The wallet follows a model's versions only after verifying them: paid training through the
real node (``serve --train``'s app over HTTP on 127.0.0.1, the embedded chain), the new version
verified from the node's version endpoints against the registered CIDs before any answer under
it is accepted, and a tampered archived proof refused (evidence kept, the prover no longer
paid, nothing more signed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import fund_from_tester
from ghostproof.adapters.chain.escrow import deposit
from ghostproof.adapters.chain.provider import serialized
from ghostproof.adapters.chain.registry import mint_credits, read_model
from ghostproof.adapters.storage.layout import archived_update_path
from ghostproof.protocol.errors import InputError, PaymentError, ProofError
from ghostproof.verifier.wallet import Wallet
from ghostproof.verifier.wallet.client import Client
from ghostproof.verifier.wallet.follow import followed_version
from tests.prover.node.conftest import Node
from tests.prover.node.test_training import start_trainable_node

PASSWORD = "follow the versions"


@pytest.fixture
def trained_node(tmp_path: Path) -> Iterator[Node]:
    node = start_trainable_node(tmp_path / "node")
    try:
        yield node
    finally:
        node.server.stop()


def wallet_client(node: Node, home: Path, credits: int = 1000) -> Client:
    """A fresh wallet with ``credits`` deposited to the node's prover, and its client."""
    wallet = Wallet.create(home, PASSWORD)
    with node.service.view.lock:
        fund_from_tester(node.chain, wallet.address, 10**18)
        mint_credits(node.chain, node.deployment, node.owner, wallet.address, credits)
        deposit(node.chain, node.deployment, wallet.account, node.prover.address, credits)
    return wallet.client(node.url, chain=serialized(node.chain, node.service.view.lock),
                         deployment=node.deployment)


def samples(node: Node) -> np.ndarray:
    return np.load(node.model_dir / "samples.npy")


def test_train_then_follow_the_new_version(trained_node: Node, tmp_path: Path) -> None:
    node, x = trained_node, samples(trained_node)[0]
    trainer = wallet_client(node, tmp_path / "a")
    before = trainer.query(node.model_id, x)
    assert before.followed == ()
    label = (before.top1 + 1) % before.output.shape[0]
    done = trainer.train(node.model_id, [{"sample": 0, "label": label}])  # lrV 4.0: one step does it
    assert done.version == 1 and len(done.followed) == 1
    line = done.followed[0].line()
    assert line.startswith(f"following model {node.model_id} version 1 (update verified: 1 examples, ")
    assert done.transaction is not None and done.cumulative == 2 * done.price
    home = trainer.home
    assert followed_version(home, node.deployment.chain_id, node.deployment.registry, node.model_id) == 1
    after = trainer.query(node.model_id, x)  # already followed: nothing more to verify
    assert after.followed == () and after.top1 == label
    assert after.response.ghost_root == done.ghost_root
    # a second wallet, at version 0, verifies the rotation before it accepts an answer
    other = wallet_client(node, tmp_path / "b")
    seen = other.query(node.model_id, x)
    assert [f.verified.rotation.version for f in seen.followed] == [1] and seen.top1 == label
    assert seen.to_json()["followed"][0]["version"] == 1


def test_training_refused_when_off_is_not_charged(tmp_path: Path) -> None:
    node = start_trainable_node(tmp_path / "node", train=False)
    try:
        client = wallet_client(node, tmp_path / "w")
        with pytest.raises(InputError, match="403"):
            client.train(node.model_id, [{"sample": 0, "label": 1}])
        key = client._channel(node.prover.address)[1]
        assert client.ledger.signed(key) == 0
        assert node.service.ledger.last_accepted(client.account.address, 0) is None
    finally:
        node.server.stop()


def test_tampered_archived_proof_is_not_followed(trained_node: Node, tmp_path: Path) -> None:
    node, x = trained_node, samples(trained_node)[0]
    trainer = wallet_client(node, tmp_path / "a")
    done = trainer.train(node.model_id, [{"sample": 1, "label": 2}, {"sample": 2, "label": 3}])
    path = archived_update_path(node.model_dir, done.ghost_root)
    proof = json.loads(path.read_bytes())
    proof["examples"][0]["tau"] += 1  # what the node now serves is not what the chain registered
    path.write_text(json.dumps(proof))
    victim = wallet_client(node, tmp_path / "b")
    key = victim._channel(node.prover.address)[1]
    with pytest.raises(ProofError, match=r"version 1 of model \d+ does not verify"):
        victim.query(node.model_id, x)
    assert victim.ledger.signed(key) == 0  # nothing paid for an answer under an unverified root
    assert followed_version(victim.home, node.deployment.chain_id, node.deployment.registry,
                            node.model_id) == 0
    evidence = list((victim.home.root / "versions" / "rejected").iterdir())
    assert len(evidence) == 1 and "CorruptBlockError" in json.loads(evidence[0].read_text())["reason"]
    with pytest.raises(PaymentError, match="stopped paying"):
        victim.query(node.model_id, x)
    with node.service.view.lock:
        assert read_model(node.chain, node.deployment, node.model_id).version == 1
