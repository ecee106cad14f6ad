"""prover/update.py: a batch computed in memory gives the root a full recommit gives, its proof
verifies, the model directory is updated in place (matrices, tree caches, HNSW index, ghost
file) and a crash at any stage leaves the old or the new model after recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ghostproof.adapters.storage.layout import index_path
from ghostproof.protocol.errors import InputError
from ghostproof.protocol.ghost import UpdateRule
from ghostproof.protocol.layer import quantise_query
from ghostproof.protocol.update import Example, one_hot_target, verify_update
from ghostproof.prover.commit import commit_model, quantise_layer
from ghostproof.prover.index import ExactRetriever, HnswRetriever
from ghostproof.prover.modeldir import load_model_dir, write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.update import (
    JOURNAL_FILE,
    apply_update,
    compute_update,
    declare_update_rule,
    parse_examples,
    refresh_retrievers,
)

RULE = UpdateRule("sgd-v1", 1 << 16, 4 << 16)
ROOT = Path(__file__).resolve().parents[2]


def _model(n: int = 500, d: int = 16, seed: int = 0, rule: UpdateRule | None = RULE):
    fm = synthetic_model(n=n, d=d, layers=1, k=8, seed=seed, kind="structured")
    lay = quantise_layer(fm.layers[0].keys, fm.layers[0].values, fm.layers[0].beta, 8)
    lay = replace(lay, spec=replace(lay.spec, update=rule))
    return commit_model("t", [lay]), fm.samples


def _examples(samples, n: int = 5, d_out: int = 16) -> list[Example]:
    return [Example(np.asarray(samples[i % len(samples)], dtype=np.float32),
                    one_hot_target(i % d_out, d_out)) for i in range(n)]


def test_batch_root_equals_a_full_recommit_and_verifies():
    model, samples = _model()
    examples = _examples(samples, 6)
    examples.append(examples[0])  # a repeat: its second step sees the first's weights
    step = compute_update(model, examples)
    lay = model.layers[0]
    keys, values = np.array(lay.keys), np.array(lay.values)
    keys[step.positions] = step.new_keys
    values[step.positions] = step.new_values
    full = commit_model("t", [replace(lay, keys=keys, values=values)])
    assert full.ghost.ghost_root == step.new_ghost.ghost_root  # trees *and* chunk CIDs
    result = verify_update(step.proof, step.old_ghost, step.new_ghost)
    assert result.changed_values > 0
    assert len(step.proof.selections) == 7


def test_selection_is_exact_on_the_current_weights():
    """After example 0 changes its columns, example 1 (the same input) is selected on the new
    keys: the same as an exact search over the updated matrix."""
    model, samples = _model()
    ex = _examples(samples, 1)
    step = compute_update(model, ex * 2)
    one = compute_update(model, ex)
    lay = model.layers[0]
    k2 = np.array(lay.keys)
    k2[one.positions] = one.new_keys
    exact = ExactRetriever(k2, use_torch=False)
    ids, _ = exact.search(quantise_query(ex[0].x), 8)
    assert step.proof.selections[1] == tuple(sorted(ids.tolist()))


def test_refuses_untrainable_models_and_bad_examples():
    model, samples = _model(rule=None)
    with pytest.raises(InputError, match="no update rule"):
        compute_update(model, _examples(samples, 1))
    fm = synthetic_model(n=64, d=8, layers=2, k=4, seed=1)
    two = commit_model("two", [quantise_layer(f.keys, f.values, f.beta, 4) for f in fm.layers])
    with pytest.raises(InputError, match="one-layer"):
        compute_update(two, [Example(fm.samples[0], np.zeros(8, np.int8))])
    model, samples = _model()
    with pytest.raises(InputError):
        compute_update(model, [Example(np.zeros(16, np.float32), one_hot_target(0, 16))])
    with pytest.raises(InputError, match="target"):
        compute_update(model, [Example(samples[0], np.zeros(3, np.int8))])


def test_parse_examples():
    samples = np.ones((2, 4), np.float32)
    obj = {"examples": [{"input": [1, 2, 3, 4], "label": 1}, {"sample": 1, "target": [1, -2, 3]},
                        {"input": [1, 0, 0, 0], "output": [0.5, 1.0, -9.0]}]}
    ex = parse_examples(obj, 4, 3, 0.5, samples)
    assert [e.target.tolist() for e in ex] == [[0, 127, 0], [1, -2, 3], [1, 2, -18]]
    for bad in ({"examples": []}, {"examples": [{"input": [1, 2, 3, 4]}]},
                {"examples": [{"sample": 5, "label": 0}]}, {"examples": [{"input": [1], "label": 0}]},
                {"examples": [{"input": [1, 2, 3, 4], "target": [300, 0, 0]}]}):
        with pytest.raises(InputError):
            parse_examples(bad, 4, 3, 0.5, samples)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    fm = synthetic_model(n=400, d=16, layers=1, k=8, seed=3, kind="structured")
    write_model_dir(tmp_path / "m", fm, index=True, index_params={"M": 8, "ef_construction": 40})
    declare_update_rule(tmp_path / "m")
    return tmp_path / "m"


def _consistent(directory: Path) -> bytes:
    """Load (recovering), and check that the matrices on disk give ghost.json's roots."""
    md = load_model_dir(directory)
    lay = md.model.layers[0]
    copy = replace(lay, keys=np.array(lay.keys), values=np.array(lay.values))
    full = commit_model(md.ghost.header.name, [copy])
    assert full.ghost.roots == md.ghost.roots
    assert full.ghost.header.chunks == md.ghost.header.chunks
    assert not (directory / JOURNAL_FILE).exists()
    return md.ghost.ghost_root


def test_apply_update_in_place(model_dir: Path, tmp_path: Path):
    md = load_model_dir(model_dir)
    examples = _examples(md.samples, 4)
    outcome = apply_update(md, examples, proof_path=tmp_path / "p.json")
    step = outcome.step
    assert _consistent(model_dir) == step.new_ghost.ghost_root
    verify_update(step.proof, step.old_ghost, step.new_ghost)
    index = HnswRetriever.load(index_path(model_dir, 0), 400, 16)
    stored = index._index.get_items(step.positions.tolist())
    assert np.array_equal(np.asarray(stored), step.new_keys.astype(np.float32))
    assert json.loads((tmp_path / "p.json").read_text())["format"] == "ghostproof/update/1"
    assert len(step.changed_chunk_refs) <= 2  # one chunk per matrix at this size


def test_refresh_retrievers_exact_numpy():
    model, samples = _model()
    step = compute_update(model, _examples(samples, 2))
    r = ExactRetriever(model.layers[0].keys, use_torch=False)
    refresh_retrievers([r], step)
    assert np.array_equal(r._keys_np[step.positions], step.new_keys.astype(np.float32))


_CHILD = """
import os, signal, sys
from pathlib import Path
import numpy as np
import ghostproof.prover.update as U
from ghostproof.protocol.update import Example, one_hot_target
stage = sys.argv[2]
def kill(name):
    if name == stage:
        os.kill(os.getpid(), signal.SIGKILL)
U._stage = kill
from ghostproof.prover.modeldir import load_model_dir
md = load_model_dir(Path(sys.argv[1]))
ex = [Example(np.asarray(md.samples[i], np.float32), one_hot_target(i, 16)) for i in range(3)]
U.apply_update(md, ex)
"""


@pytest.mark.parametrize("stage", ["journal", "index", "patched", "committed", "renamed"])
def test_sigkill_leaves_old_or_new(model_dir: Path, stage: str):
    old_root = load_model_dir(model_dir).ghost.ghost_root
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir), stage], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert (model_dir / JOURNAL_FILE).exists()
    root = _consistent(model_dir)
    if stage in ("journal", "index", "patched"):
        assert root == old_root
        assert not index_path(model_dir, 0).with_name("layer0.hnsw.next").exists()
    else:
        assert root != old_root
