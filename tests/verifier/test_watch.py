"""The watcher on the embedded chain: it finds the cheated answer among honest ones and slashes
it, reports what it cannot use, skips evidence folders, and a restarted watcher (a new
process reading the same state file) re-checks nothing; a dry watcher only reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.chain.accounts import load_key_file
from ghostproof.adapters.chain.registry import read_model
from ghostproof.adapters.storage.answers import write_response
from ghostproof.prover.modeldir import write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.verifier.challenge import ModelWeights
from ghostproof.verifier.watch import (
    ERROR,
    NOT_CHALLENGEABLE,
    OK,
    SLASHED,
    WOULD_SLASH,
    Watcher,
    answer_files,
    watch,
)
from tests.fixtures.chain import Env
from tests.fixtures.cheat import cheating_prover


@pytest.fixture
def folder(embedded_env: Env, tmp_path: Path) -> tuple[Path, Path, int]:
    """(answers folder, model dir, model id): answers 0 and 2 honest, 1 cheated, plus an
    unreadable file and a rejected evidence folder."""
    md = write_model_dir(tmp_path / "model", synthetic_model(150, 8, layers=1, k=3, seed=21), index=False)
    key = load_key_file(md.path / "prover.key")
    embedded_env.send_eth(key.address, 10**18)
    model_id = embedded_env.register(md.path, key)
    kw = {"model_id": model_id, "chain_id": embedded_env.chain.chain_id,
          "registry": embedded_env.deployment.registry}
    answers = tmp_path / "answers"
    for i in range(3):
        prover = cheating_prover(md.model, key, cheat_layers=(0,) if i == 1 else (), **kw)
        response = prover.prove(np.asarray(md.sample(i), dtype=np.float32), nonce=bytes([i + 7]) * 32)
        path = answers / f"{i}" / "response.json"
        path.parent.mkdir(parents=True)
        write_response(path, response)
    (answers / "9").mkdir()
    (answers / "9" / "response.json").write_text("{not json")
    (answers / "rejected" / "x").mkdir(parents=True)
    (answers / "rejected" / "x" / "response.json").write_text("{}")
    return answers, md.path, model_id


def _watcher(env: Env, model_dir: Path, state: Path, *, dry: bool = False) -> Watcher:
    account = None if dry else env.new_account()
    return Watcher(env.chain, env.deployment, lambda _m, _r: ModelWeights.from_dir(model_dir), account, state)


def test_watcher_slashes_the_cheat_and_remembers(embedded_env: Env, folder: tuple[Path, Path, int],
                                                 tmp_path: Path) -> None:
    answers, model_dir, model_id = folder
    assert [p.parent.name for p in answer_files(answers)] == ["0", "1", "2", "9"]
    seen = []
    watcher = _watcher(embedded_env, model_dir, tmp_path / "state.sqlite")
    summary = watch(watcher, answers, once=True, on_verdict=seen.append)
    watcher.close()
    by_name = {Path(v.path).parent.name: v for v in seen}
    assert {n: v.verdict for n, v in by_name.items()} == {"0": OK, "1": SLASHED, "2": OK, "9": ERROR}
    assert by_name["1"].tx and "50 credits to" in by_name["1"].detail
    assert summary.counts == {OK: 2, SLASHED: 1, ERROR: 1}
    assert read_model(embedded_env.chain, embedded_env.deployment, model_id).slashed

    restarted = _watcher(embedded_env, model_dir, tmp_path / "state.sqlite")  # same state file
    assert restarted.pending(answers) == [answers / "9" / "response.json"]  # only the error again
    assert watch(restarted, answers, once=True).counts == {ERROR: 1}
    restarted.close()

    fresh = _watcher(embedded_env, model_dir, tmp_path / "other.sqlite")  # no memory: re-checks
    again = {Path(v.path).parent.name: v.verdict for v in fresh.check(list(answer_files(answers)))}
    fresh.close()
    assert again["1"] == NOT_CHALLENGEABLE  # already slashed: reported, nothing sent


def test_dry_watcher_only_reports(embedded_env: Env, folder: tuple[Path, Path, int], tmp_path: Path) -> None:
    answers, model_dir, model_id = folder
    watcher = _watcher(embedded_env, model_dir, tmp_path / "dry.sqlite", dry=True)
    verdicts = {Path(v.path).parent.name: v for v in watcher.check(list(answer_files(answers)))}
    watcher.close()
    assert verdicts["1"].verdict == WOULD_SLASH and "gas" in verdicts["1"].detail
    assert not read_model(embedded_env.chain, embedded_env.deployment, model_id).slashed
    again = _watcher(embedded_env, model_dir, tmp_path / "dry.sqlite")  # the same state, an account now
    assert answers / "1" / "response.json" in again.pending(answers)  # a dry verdict is not final
    assert {Path(v.path).parent.name: v.verdict for v in again.check(again.pending(answers))}["1"] == SLASHED
    again.close()
