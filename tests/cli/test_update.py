"""``ghostproof model trainable`` and ``ghostproof model update``: the directory is trained in
place, the proof file verifies against the old and new ghost files, ``model publish`` then
stores only the changed chunks, and every failure is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostproof.protocol.ghost import parse_ghost
from ghostproof.protocol.update import loads_update, verify_update
from ghostproof.prover.modeldir import write_model_dir
from ghostproof.prover.presets import synthetic_model
from tests.fixtures.cli import one_error, run


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    fm = synthetic_model(n=9000, d=256, layers=1, k=8, seed=2, kind="structured", n_samples=8)
    write_model_dir(tmp_path / "m", fm, index=False)
    return tmp_path / "m"


def test_trainable_update_verify_publish(model_dir: Path, tmp_path: Path, capsys):
    code, out, err = run(capsys, "model", "update", model_dir, "--examples", tmp_path / "none.json")
    assert code == 2 and one_error(err)
    code, out, _ = run(capsys, "model", "trainable", model_dir, "--json")
    assert code == 0 and json.loads(out)["rule"] == {"rule": "sgd-v1", "lrK": 65536, "lrV": 262144}
    store = tmp_path / "store"
    code, out, _ = run(capsys, "model", "publish", model_dir, "--store-path", store, "--json")
    assert code == 0
    chunks = json.loads(out)["chunks"]
    old = (model_dir / "ghost.json").read_bytes()
    examples = tmp_path / "ex.json"
    examples.write_text(json.dumps({"examples": [{"sample": 0, "label": 3}, {"sample": 1, "label": 5},
                                                 {"input": [1.0] * 256, "target": [0] * 256}]}))
    code, out, err = run(capsys, "model", "update", model_dir, "--examples", examples,
                         "-o", tmp_path / "u.json", "--json")
    assert code == 0, err
    info = json.loads(out)
    proof = loads_update((tmp_path / "u.json").read_bytes())
    result = verify_update(proof, parse_ghost(old), parse_ghost((model_dir / "ghost.json").read_bytes()))
    assert result.examples == 3 and info["positions"] == len(proof.positions)
    code, out, _ = run(capsys, "model", "publish", model_dir, "--store-path", store, "--json")
    report = json.loads(out)
    assert code == 0 and report["chunks"] == chunks
    assert report["chunksStored"] == info["chunksChanged"] >= 1
    assert info["chunksChanged"] < chunks


def test_update_refuses_an_untrainable_model(model_dir: Path, tmp_path: Path, capsys):
    examples = tmp_path / "ex.json"
    examples.write_text(json.dumps({"examples": [{"sample": 0, "label": 3}]}))
    code, _, err = run(capsys, "model", "update", model_dir, "--examples", examples)
    assert code == 2 and one_error(err) and "trainable" in err
