"""The entry points other packages call: embedded_anchor and read_registered_model; the
Anvil launcher's lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostproof.adapters.chain import check_ghost_root, read_registered_model
from ghostproof.adapters.chain.anvil import Anvil, free_port
from ghostproof.adapters.chain.deployment import save_deployment
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import (
    AnvilError,
    ChainUnreachableError,
    DeploymentError,
    RootMismatchError,
    UnknownModelError,
)
from ghostproof.prover.anchor import embedded_anchor
from tests.fixtures.chain import Env, make_ghost


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory):
    model = tmp_path_factory.mktemp("model")
    (model / "ghost.json").write_bytes(make_ghost(3, 4).to_bytes())
    return embedded_anchor(model)


def _read(anchored, model_id: int):
    return read_registered_model(None, None, model_id, chain=anchored.chain, deployment=anchored.deployment)


def test_embedded_anchor_registers_model(anchored) -> None:
    ghost = make_ghost(3, 4)
    model = _read(anchored, anchored.model_id)
    assert model.ghost_root == anchored.ghost_root == ghost.ghost_root
    assert model.ghost_cid == cid_for_bytes(ghost.to_bytes())
    assert model.prover == anchored.prover.address and model.active


def test_embedded_anchor_reports_gas(anchored) -> None:
    assert 0 < anchored.gas["register"] <= 150_000
    assert anchored.gas["deploy GhostRegistry"] > 0


def test_invalid_read_unknown_model(anchored) -> None:
    with pytest.raises(UnknownModelError, match="not registered"):
        _read(anchored, anchored.model_id + 1)


def test_invalid_root_mismatch(anchored) -> None:
    model = _read(anchored, anchored.model_id)
    with pytest.raises(RootMismatchError):
        check_ghost_root(model, make_ghost(3, 5))


def test_read_registered_model_over_rpc(anvil_env: Env, tmp_path: Path) -> None:
    from ghostproof.adapters.chain.registry import register_model
    from tests.fixtures.chain import PARAMS

    ghost = make_ghost(1, 11)
    prover = anvil_env.new_account(credits=PARAMS.min_stake)
    reg = register_model(anvil_env.chain, anvil_env.deployment, prover, ghost.to_bytes(), ghost,
                         price=1, margin=2, stake=PARAMS.min_stake)
    dep_file = tmp_path / "deployment.json"
    save_deployment(dep_file, anvil_env.deployment)
    model = read_registered_model(anvil_env.chain.rpc_url, dep_file, reg.model_id)
    assert model.ghost_root == ghost.ghost_root and model.margin == 2


def test_invalid_read_rpc_down(anvil_env: Env, tmp_path: Path) -> None:
    dep_file = tmp_path / "deployment.json"
    save_deployment(dep_file, anvil_env.deployment)
    with pytest.raises(ChainUnreachableError):
        read_registered_model(f"http://127.0.0.1:{free_port()}", dep_file, 1)


def test_invalid_read_missing_deployment(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="no deployment file"):
        read_registered_model("http://127.0.0.1:1", tmp_path / "missing.json", 1)


def test_anvil_stops_cleanly() -> None:
    node = Anvil()
    assert node.running()
    node.stop()
    assert not node.running()


def test_invalid_anvil_binary_missing(tmp_path: Path) -> None:
    with pytest.raises(AnvilError, match="not an executable file"):
        Anvil(binary=tmp_path / "anvil")
