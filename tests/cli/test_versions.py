"""Model versions end to end on Anvil (DESIGN §10): train a committed model, ``model rotate``
registers the new version (changed chunks, ghost files and proof published first), ``model
verify-update`` checks it from the chain and the store, an answer signed under the old version
still verifies (and would still be challengeable), and a rotation naming a proof that does not
lead to its root fails verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import load_key_file
from ghostproof.adapters.chain.deployment import save_deployment
from ghostproof.adapters.chain.registry import mint_credits, read_model, rotate_root
from ghostproof.adapters.storage.answers import write_request, write_response
from ghostproof.adapters.storage.layout import archived_ghost_path, archived_update_path, read_ghost_bytes
from ghostproof.adapters.storage.store import LocalStore
from ghostproof.prover.modeldir import load_model_dir, write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.prove import Prover
from ghostproof.prover.update import declare_update_rule
from tests.fixtures.chain import PARAMS, Env
from tests.fixtures.cli import one_error, run

pytestmark = pytest.mark.anvil


def _examples(path: Path, labels: list[int]) -> Path:
    path.write_text(json.dumps({"examples": [{"sample": i, "label": c} for i, c in enumerate(labels)]}))
    return path


def _committed(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list, Any, int]:
    """A trainable model committed with the CLI: (directory, chain options, prover key, id)."""
    dep = tmp_path / "deployment.json"
    save_deployment(dep, env.deployment)
    chain = ["--rpc", env.chain.rpc_url, "--deployment", dep]
    float_model = synthetic_model(300, 16, layers=1, k=4, seed=8, n_samples=8)
    md_path = write_model_dir(tmp_path / "m", float_model, index=False).path
    declare_update_rule(md_path)
    key = load_key_file(md_path / "prover.key")
    env.send_eth(key.address, 10**18)
    mint_credits(env.chain, env.deployment, env.owner, key.address, PARAMS.min_stake)
    code, out, err = run(capsys, "model", "commit", md_path, *chain, "--margin", 0, "--json")
    assert code == 0, err
    return md_path, chain, key, json.loads(out)["modelId"]


def test_train_rotate_verify(anvil_env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = anvil_env
    md_path, chain, key, model_id = _committed(env, tmp_path, capsys)
    store = tmp_path / "store"
    assert run(capsys, "model", "publish", md_path, "--store-path", store)[0] == 0
    code, out, err = run(capsys, "model", "info", md_path, *chain)
    assert code == 0, err
    assert "this ghost file is the version registered on-chain (version 0)" in out and "slashed" in out

    md = load_model_dir(md_path)  # an answer signed under version 0, kept by a client
    prover = Prover(md.model, key.key, model_id=model_id, chain_id=env.chain.chain_id,
                    verifying_contract=env.deployment.registry)
    old_answer = prover.prove(np.asarray(md.sample(5), dtype=np.float32))
    write_response(tmp_path / "old.json", old_answer)
    write_request(tmp_path / "old-request.json", old_answer.request)
    v0_root = md.ghost.ghost_root

    code, out, err = run(capsys, "model", "rotate", md_path, *chain, "--store-path", store)
    assert code == 2 and one_error(err) and "already at the registered version" in err
    examples = _examples(tmp_path / "e.json", [1, 2])
    code, out, err = run(capsys, "model", "update", md_path, "--examples", examples, "--exact", "--json")
    assert code == 0, err
    code, out, err = run(capsys, "model", "info", md_path, *chain, "--json")
    assert code == 0 and json.loads(out)["matchesRegistered"] is False  # trained, not rotated yet
    code, out, err = run(capsys, "model", "rotate", md_path, *chain, "--store-path", store)
    assert code == 0, err
    assert ("version 1: ghostRoot" in out and "published 1 changed chunks" in out) or "changed chunks" in out
    model = read_model(env.chain, env.deployment, model_id)
    assert model.version == 1 and model.ghost_root == read_ghost_bytes(md_path)[1].ghost_root
    assert json.loads((md_path / "anchor.json").read_text())["ghostRoot"] == "0x" + model.ghost_root.hex()

    code, out, err = run(capsys, "model", "verify-update", model_id, "--version", 1, *chain,
                         "--store-path", store)
    assert code == 0, err
    assert out.startswith("version 1 verified: 0x" + v0_root.hex())

    code, out, err = run(capsys, "verify", tmp_path / "old.json", "--ghost",
                         archived_ghost_path(md_path, v0_root), *chain,
                         "--request", tmp_path / "old-request.json")
    assert code == 0, err
    assert "superseded by version 1" in out

    # a second update, rotated on-chain naming the FIRST proof: it does not lead to the new root
    code, _, err = run(capsys, "model", "update", md_path, "--examples", _examples(tmp_path / "f.json", [3]),
                       "--exact")
    assert code == 0, err
    ghost_bytes, ghost = read_ghost_bytes(md_path)
    opened = LocalStore(store)
    opened.put(ghost_bytes)
    wrong_proof = opened.put(archived_update_path(md_path, model.ghost_root).read_bytes())
    rotate_root(env.chain, env.deployment, key, model_id, ghost_bytes, ghost, wrong_proof)
    code, _, err = run(capsys, "model", "verify-update", model_id, "--version", 2, *chain,
                       "--store-path", store)
    assert code == 1 and one_error(err), err
    code, _, err = run(capsys, "model", "verify-update", model_id, "--version", 3, *chain,
                       "--store-path", store)
    assert code == 2 and one_error(err) and "no version 3" in err
