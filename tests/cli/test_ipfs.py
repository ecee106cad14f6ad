"""The IPFS CLI: publish, fetch, audit, CAR export/import, through the local store, a Kubo
node and a model id read from a real Anvil chain; each failure one line and its exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from ghostproof.adapters.storage.layout import matrix_file
from ghostproof.adapters.storage.store import KuboStore
from ghostproof.protocol.chunks import cid_for_bytes
from tests.fixtures.cli import run
from tests.fixtures.storage import Model, make_model


def one_error(err: str) -> bool:
    """The last thing on stderr is exactly one error line, with no traceback."""
    return err.count("error: ") == 1 and "Traceback" not in err


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ~/.ghostproof (default local store and Kubo repo)."""
    monkeypatch.setenv("GHOSTPROOF_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def publish_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code, out, err = run(capsys, "model", "publish", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_publish_fetch_audit_local(model: Model, tmp_path: Path, capsys) -> None:
    report = publish_json(capsys, str(model.path))
    assert report["ghostCid"] == cid_for_bytes(model.ghost_bytes)
    code, _, err = run(capsys, "model", "fetch", str(report["ghostCid"]), "-o", str(tmp_path / "out"))
    assert code == 0, err
    root = "0x" + model.ghost.ghost_root.hex()
    code, out, err = run(capsys, "audit", str(tmp_path / "out"), "--root", root)
    assert code == 0, err
    assert out.count(": OK") == 4 and root in out


def test_publish_rerun_reports_everything_present(model: Model, capsys) -> None:
    publish_json(capsys, str(model.path))
    again = publish_json(capsys, str(model.path))
    assert again["chunksStored"] == 0 and again["chunksAlreadyPresent"] == again["chunks"]


def test_audit_by_cid_json(model: Model, capsys) -> None:
    cid = str(publish_json(capsys, str(model.path))["ghostCid"])
    code, out, err = run(capsys, "audit", cid, "--root", "0x" + model.ghost.ghost_root.hex(), "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True


def test_export_car_then_import_into_a_fresh_store(model: Model, tmp_path: Path, capsys) -> None:
    car = tmp_path / "m.car"
    assert run(capsys, "model", "export-car", str(model.path), "-o", str(car))[0] == 0
    code, _, err = run(capsys, "model", "import-car", str(car), "--store-path", str(tmp_path / "s2"))
    assert code == 0, err
    code, _, err = run(
        capsys,
        "model",
        "fetch",
        cid_for_bytes(model.ghost_bytes),
        "-o",
        str(tmp_path / "out"),
        "--store-path",
        str(tmp_path / "s2"),
    )
    assert code == 0, err


def test_kubo_store_publish_then_fetch_from_a_peer(model: Model, tmp_path: Path, capsys) -> None:
    code, out, err = run(
        capsys,
        "model",
        "publish",
        str(model.path),
        "--store",
        "kubo",
        "--store-path",
        str(tmp_path / "repo"),
        "--json",
    )
    assert code == 0, err
    cid = json.loads(out)["ghostCid"]
    seeder = KuboStore(tmp_path / "repo")  # the published repo, back online as a peer
    try:
        code, _, err = run(
            capsys,
            "model",
            "fetch",
            cid,
            "-o",
            str(tmp_path / "out"),
            "--store",
            "kubo",
            "--store-path",
            str(tmp_path / "leecher"),
            "--peer",
            seeder.addresses[0],
            "--timeout",
            "20",
        )
    finally:
        seeder.close()
    assert code == 0, err
    assert (tmp_path / "out" / "ghost.json").read_bytes() == model.ghost_bytes


def test_invalid_audit_tampered_dir_exits_1(model: Model, tmp_path: Path, capsys) -> None:
    shutil.copytree(model.path, tmp_path / "bad")
    array = np.load(tmp_path / "bad" / matrix_file(1, "K"))
    array[0, 0] ^= 1
    np.save(tmp_path / "bad" / matrix_file(1, "K"), array)
    code, out, err = run(
        capsys, "audit", str(tmp_path / "bad"), "--root", "0x" + model.ghost.ghost_root.hex()
    )
    first = model.ghost.header.chunks[[c.layer for c in model.ghost.header.chunks].index(1)]
    assert code == 1 and one_error(err)
    assert "layer 1 K: MISMATCH first mismatching chunk " + first.cid in " ".join(out.split())
    assert "layer 0 K: OK" in out


def test_invalid_fetch_unknown_cid_exits_3(tmp_path: Path, capsys) -> None:
    cid = cid_for_bytes(b"unknown")
    code, _, err = run(capsys, "model", "fetch", cid, "-o", str(tmp_path / "out"))
    assert code == 3 and one_error(err) and cid in err
    assert not (tmp_path / "out").exists()


def test_invalid_fetch_malformed_cid_exits_2(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "model", "fetch", "bafy-not-a-cid", "-o", str(tmp_path / "out"))
    assert code == 2 and one_error(err)


def test_invalid_fetch_corrupted_chunk_exits_2(model: Model, home: Path, tmp_path: Path, capsys) -> None:
    cid = str(publish_json(capsys, str(model.path))["ghostCid"])
    ref = model.ghost.header.chunks[0]
    (home / "blocks" / "blocks" / ref.cid[-2:] / ref.cid).write_bytes(b"rot")
    code, _, err = run(capsys, "model", "fetch", cid, "-o", str(tmp_path / "out"))
    assert code == 2 and one_error(err) and ref.cid in err and "layer 0 K columns 0..2047" in err
    assert not (tmp_path / "out").exists()


def test_invalid_rpc_store_unreachable_exits_3(model: Model, tmp_path: Path, capsys) -> None:
    code, _, err = run(
        capsys, "model", "publish", str(model.path), "--store", "rpc", "--ipfs-api", "http://127.0.0.1:9"
    )
    assert code == 3 and one_error(err) and "unreachable" in err


@pytest.mark.anvil
@pytest.mark.timeout(180)
def test_fetch_and_audit_by_model_id(anvil_node, tmp_path: Path, capsys) -> None:
    model = make_model(tmp_path / "m", seed=5, n=1000, dims=(64, 8))
    deployment = tmp_path / "deployment.json"
    code, _, err = run(
        capsys, "deploy", "--rpc", anvil_node.url, "--dev-account", "0", "--deployment", str(deployment)
    )
    assert code == 0, err
    account = Account.create()
    (model.path / "prover.key").write_text(account.key.hex())
    (model.path / "prover.key").chmod(0o600)
    assert run(capsys, "chain", "faucet", account.address, "--deployment", str(deployment))[0] == 0
    code, _, err = run(capsys, "model", "commit", str(model.path), "--deployment", str(deployment))
    assert code == 0, err
    model_id = str(json.loads((model.path / "anchor.json").read_text())["modelId"])
    publish_json(capsys, str(model.path))
    code, _, err = run(
        capsys, "model", "fetch", model_id, "-o", str(tmp_path / "out"), "--deployment", str(deployment)
    )
    assert code == 0, err
    code, out, err = run(capsys, "audit", model_id, "--deployment", str(deployment))
    assert code == 0, err
    assert f"chain (model {model_id})" in out
