"""prover/projection.py: HNSW over a projection of the key columns, with real hnswlib on
structured data; the model directory's opt-in (model.json ``index.dims``) and the CLI flag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.layer import int_scores, quantise_keys, quantise_query, top_k
from ghostproof.prover.index import HnswRetriever, Retriever, select_candidates, select_top_k
from ghostproof.prover.projection import (
    DEFAULT_ENERGY,
    ProjectedHnswRetriever,
    fit_projection,
    kept_energy,
    parse_dims,
    projection_path,
)
from ghostproof.prover.synthetic import noisy_queries, structured_patterns, uniform_patterns

N, D, K, INTRINSIC = 3000, 64, 16, 8


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    pats = structured_patterns(N, D, intrinsic_dim=INTRINSIC, seed=21)
    keys, _ = quantise_keys(pats)
    queries, _ = noisy_queries(pats, 40, noise=0.3, seed=22)
    return keys, np.stack([quantise_query(x) for x in queries])


@pytest.fixture(scope="module")
def projected(data) -> ProjectedHnswRetriever:
    progress: list[tuple[int, int]] = []
    r = ProjectedHnswRetriever.build(
        data[0], M=16, ef_construction=100, seed=1, num_threads=1, batch_size=1000,
        on_progress=lambda a, b: progress.append((a, b)),
    )
    assert progress == [(1000, N), (2000, N), (3000, N)]
    return r


def test_auto_keeps_the_energy_it_claims_in_the_intrinsic_dimension(data, projected) -> None:
    keys, _ = data
    assert isinstance(projected, Retriever)
    assert projected.dim == D and projected.rank == INTRINSIC  # int8 rounding is the rest
    assert projected.energy is not None and projected.energy >= DEFAULT_ENERGY
    assert kept_energy(keys, projected.projection) == pytest.approx(projected.energy, abs=1e-6)
    p = projected.projection.astype(np.float64)
    np.testing.assert_allclose(p.T @ p, np.eye(INTRINSIC), atol=1e-5)


def test_dims_and_energy_choose_the_rank(data) -> None:
    keys, _ = data
    proj, energy = fit_projection(keys, dims=4)
    assert proj.shape == (D, 4) and proj.dtype == np.float32
    assert 0.3 < energy < 0.7 and kept_energy(keys, proj) == pytest.approx(energy, abs=1e-6)
    proj, energy = fit_projection(keys, energy=0.4)
    assert energy >= 0.4 and fit_projection(keys, dims=proj.shape[1] - 1)[1] < 0.4
    full, energy = fit_projection(uniform_patterns_int8(), energy=0.995)
    assert full.shape[1] > 0.9 * D  # full-rank data: nothing to gain
    for bad in ({"dims": 0}, {"dims": D + 1}, {"energy": 0.0}, {"energy": 1.5}, {"dims": 4, "energy": 0.9}):
        with pytest.raises(ModelError):
            fit_projection(keys, **bad)


def uniform_patterns_int8() -> np.ndarray:
    return quantise_keys(uniform_patterns(2000, D, seed=3))[0]


def test_large_breadth_gives_the_exact_top_k(data, projected) -> None:
    keys, qs = data
    projected.ef = N
    try:
        for q in qs:
            sel = select_candidates(projected, q, keys, K, N)
            assert sel.exhaustive
            np.testing.assert_array_equal(sel.ids, top_k(int_scores(q, keys), K))
    finally:
        projected.ef = 128


def test_recall_at_the_default_breadth(data, projected) -> None:
    keys, qs = data
    recall = np.mean([
        np.intersect1d(select_top_k(projected, q, keys, K, 4 * K), top_k(int_scores(q, keys), K)).size / K
        for q in qs
    ])
    assert recall >= 0.95


def test_search_shape_scores_and_batch(data, projected) -> None:
    keys, qs = data
    ids, scores = projected.search(qs[0], 50)
    assert ids.dtype == np.int64 and scores.dtype == np.float64 and len(ids) == len(scores) == 50
    assert np.all(np.diff(scores) <= 1e-3)  # best-first
    approx = keys[ids].astype(np.float32) @ projected.projection @ projected.project(qs[0][None])[0]
    np.testing.assert_allclose(scores, approx, rtol=1e-4, atol=1e-2)
    batch = projected.search_batch(qs[:10], 50, num_threads=2)
    for i in range(10):
        np.testing.assert_array_equal(batch[i], projected.search(qs[i], 50)[0])
    with pytest.raises(InputError):
        projected.search(qs[0][:-1], 5)
    with pytest.raises(InputError):
        projected.search(qs[0].astype(np.float32), 5)
    with pytest.raises(InputError):
        projected.search_batch(qs[:2, :-1], 5)
    with pytest.raises(InputError):
        projected.ef = 0


def test_save_load_round_trip_gives_the_same_candidates(tmp_path: Path, data, projected) -> None:
    _, qs = data
    path = tmp_path / "layer0.hnsw"
    projected.save(path)
    assert path.is_file() and projection_path(path).is_file()
    loaded = ProjectedHnswRetriever.load(path, N, D)
    assert loaded.rank == projected.rank and loaded.energy is None
    np.testing.assert_array_equal(loaded.projection, projected.projection)
    for ef in (64, 256):
        loaded.ef = projected.ef = ef
        for q in qs:
            np.testing.assert_array_equal(loaded.search(q, 32)[0], projected.search(q, 32)[0])
    projected.ef = 128


def test_load_fails_with_model_error(tmp_path: Path, projected) -> None:
    path = tmp_path / "layer0.hnsw"
    projected.save(path)
    proj = projection_path(path)
    good = proj.read_bytes()
    with pytest.raises(ModelError, match=r"\(65, r\)"):
        ProjectedHnswRetriever.load(path, N, D + 1)  # the model's d differs
    with pytest.raises(ModelError):
        ProjectedHnswRetriever.load(path, N + 1, D)  # item count differs
    r = projected.rank
    for bad in (np.zeros((D, r + 1), np.float32), np.zeros((D, r), np.float64),
                np.zeros((D - 1, r), np.float32), np.full((D, r), np.nan, np.float32)):
        np.save(proj, bad)
        with pytest.raises(ModelError):
            ProjectedHnswRetriever.load(path, N, D)
    proj.write_bytes(b"not a numpy file")
    with pytest.raises(ModelError, match="cannot read"):
        ProjectedHnswRetriever.load(path, N, D)
    proj.unlink()
    with pytest.raises(ModelError, match="does not exist"):
        ProjectedHnswRetriever.load(path, N, D)
    proj.write_bytes(good)
    assert ProjectedHnswRetriever.load(path, N, D).rank == projected.rank
    with pytest.raises(ModelError):
        ProjectedHnswRetriever(HnswRetriever.load(path, N, projected.rank), np.zeros((D, 3), np.float32))


def test_parse_dims() -> None:
    assert parse_dims(None) is None and parse_dims("none") is None and parse_dims("OFF") is None
    assert parse_dims("auto") == "auto" and parse_dims("24") == 24 and parse_dims(5) == 5
    for bad in ("0", "-3", "x", "1.5"):
        with pytest.raises(InputError):
            parse_dims(bad)


# ---------------------------------------------------------------- model directory and CLI

CLI = [sys.executable, "-c", "from ghostproof.cli.main import main; main()"]


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_model_dir_records_and_loads_the_projection(tmp_path: Path) -> None:
    from ghostproof.prover.modeldir import index_model_dir, make_prover, write_model_dir
    from ghostproof.prover.presets import synthetic_model
    from ghostproof.verifier.verify import verify

    fm = synthetic_model(1500, 64, layers=2, k=8, seed=5, kind="structured")
    md = write_model_dir(tmp_path / "m", fm, index_params={"M": 12, "ef_construction": 60, "dims": "auto"})
    assert md.meta["index"]["dims"] == "auto"
    prover = make_prover(md)
    assert all(isinstance(r, ProjectedHnswRetriever) and r.rank < 64 for r in prover.retrievers)
    response = prover.prove(md.sample(0))
    verify(response, md.ghost, md.ghost.ghost_root)
    plain = index_model_dir(md.path, dims=None)  # back to plain HNSW: the projection file goes
    assert "dims" not in plain.meta["index"]
    assert not projection_path(md.path / "layer0.hnsw").exists()
    assert all(isinstance(r, HnswRetriever) for r in make_prover(plain).retrievers)
    again = index_model_dir(md.path, dims=12)
    assert again.meta["index"]["dims"] == 12
    assert [r.rank for r in make_prover(again).retrievers] == [12, 12]
    projection_path(md.path / "layer1.hnsw").unlink()
    with pytest.raises(ModelError, match="projection file"):
        make_prover(again)


def test_cli_dims_end_to_end(tmp_path: Path) -> None:
    """``model build --dims auto``, ``model index --dims R``, then prove and verify."""
    path = tmp_path / "m"
    proc = cli("model", "build", "--preset", "synthetic", "--n", 1200, "--d", 64, "--k", 8,
               "--dims", "auto", "-o", path, "--json")
    assert proc.returncode == 0, proc.stderr
    root = json.loads(proc.stdout)["ghostRoot"]
    assert json.loads((path / "model.json").read_text())["index"]["dims"] == "auto"
    assert projection_path(path / "layer0.hnsw").is_file()
    proc = cli("model", "index", path, "--dims", "16", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((path / "model.json").read_text())["index"]["dims"] == 16
    assert np.load(projection_path(path / "layer0.hnsw")).shape == (64, 16)
    answer = tmp_path / "r.json"
    proc = cli("prove", path, "--sample", "0", "-o", answer, "--json")
    assert proc.returncode == 0, proc.stderr
    proc = cli("verify", answer, "--ghost", path / "ghost.json", "--root", root)
    assert proc.returncode == 0, proc.stderr
    proc = cli("model", "index", path, "--dims", "zero")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
