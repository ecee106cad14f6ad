"""prover/margin.py and Prover's refusal: an honest node never signs a selection that a
challenge under the registered margin could beat (DESIGN §6, docs/SAFETY.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, UnsafeSelectionError
from ghostproof.protocol.layer import int_scores
from ghostproof.prover.commit import CommittedModel
from ghostproof.prover.index import ExactRetriever, Retriever, select_candidates
from ghostproof.prover.margin import (
    UINT32_MAX,
    Calibration,
    calibrate,
    calibrate_model_dir,
    calibration_inputs,
    check_selection,
    excess,
    layer_floors,
    margin_for_model_dir,
    score_scale,
)
from ghostproof.prover.modeldir import write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.prove import Prover
from tests.conftest import PROVER_KEY, build_small_model


class Shallow:
    """The exact top-k and nothing more: a retriever that gave up early (depth 0)."""

    def __init__(self, keys: np.ndarray, k: int):
        self._exact = ExactRetriever(keys)
        self.dim = self._exact.dim
        self.k = k

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._exact.search(q, self.k)


class Missing:
    """Exact candidates except the best column: what an HNSW miss looks like."""

    def __init__(self, keys: np.ndarray):
        self._exact = ExactRetriever(keys)
        self.dim = self._exact.dim

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self._exact.search(q, n + 1)
        return ids[1:], scores[1:]


@pytest.fixture(scope="module")
def setup() -> tuple[CommittedModel, np.ndarray]:
    return build_small_model()


def _prover(model: CommittedModel, retrievers: list[Retriever] | None = None, **kw) -> Prover:
    return Prover(model, PROVER_KEY, retrievers, **kw)


def test_refuses_a_shallow_candidate_set(setup) -> None:
    model, samples = setup
    shallow = [Shallow(layer.keys, layer.spec.k) for layer in model.layers]
    with pytest.raises(UnsafeSelectionError) as err:
        _prover(model, shallow, selection_margin=1).prove(samples[0])
    assert "layer 0" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("margin", [None, 0])
def test_no_margin_never_refuses(setup, margin: int | None) -> None:
    model, samples = setup
    shallow = [Shallow(layer.keys, layer.spec.k) for layer in model.layers]
    _prover(model, shallow, selection_margin=margin).prove(samples[0])


def test_exhaustive_search_never_refuses(setup) -> None:
    model, samples = setup
    prover = _prover(model, selection_margin=UINT32_MAX, candidates_factor=1000)  # n = N: exact
    for x in samples[:8]:
        prover.prove(x)


def test_default_prover_refuses_no_sample_at_its_calibrated_margin(setup) -> None:
    model, samples = setup
    prover = _prover(model)
    cal = calibrate(prover, samples[:16])
    prover.selection_margin = cal.margin
    for x in samples[16:48]:
        prover.prove(x)


class Beam(Shallow):
    """Records how many candidates the prover asked for; has an HNSW-like ``ef``."""

    def __init__(self, keys: np.ndarray, ef: int):
        super().__init__(keys, 0)
        self.ef = ef
        self.asked: list[int] = []

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        self.asked.append(n)
        return self._exact.search(q, n)


def test_prover_reranks_the_whole_search_beam(setup) -> None:
    model, samples = setup  # N = 300, k = 8
    wide, narrow = Beam(model.layers[0].keys, 100), Beam(model.layers[1].keys, 4)
    _prover(model, [wide, narrow], candidates_factor=2).prove(samples[0])
    assert wide.asked == [100] and narrow.asked == [16]  # max(ef, factor · k), at most N


def test_selection_reports_tau_and_depth(setup) -> None:
    model, samples = setup
    layer = model.layers[0]
    q = _prover(model).prove(samples[0], nonce=bytes(32)).layers[0].q
    sel = select_candidates(ExactRetriever(layer.keys), q, layer.keys, layer.spec.k, 3 * layer.spec.k)
    ids, _ = ExactRetriever(layer.keys).search(q, 3 * layer.spec.k)
    scores = int_scores(q, layer.keys[ids])
    assert sel.tau == int(int_scores(q, layer.keys[sel.ids]).min())
    assert sel.floor == int(scores.min()) and sel.depth == sel.tau - sel.floor >= 0
    assert sel.n_candidates == 3 * layer.spec.k and not sel.exhaustive
    check_selection(sel, sel.depth)
    with pytest.raises(UnsafeSelectionError):
        check_selection(sel, sel.depth + 1)


def test_excess_is_positive_exactly_when_a_better_column_is_left_out() -> None:
    scores = np.array([10, 9, 8, 7, 7, 1])
    assert excess(scores, [0, 1, 2], 8) == -1
    assert excess(scores, [0, 1, 3], 7) == 1
    assert excess(scores, [1, 2, 3], 7) == 3


def test_calibration_covers_the_excess_it_measured(setup) -> None:
    model, samples = setup
    lossy = _prover(model, [Missing(layer.keys) for layer in model.layers])
    cal = calibrate(lossy, samples[:16], safety=1.5, min_rel=0.0)
    assert isinstance(cal, Calibration) and cal.queries == 16
    assert min(cal.max_excess) > 0  # every query misses its best column
    assert cal.margin >= 1.5 * max(cal.max_excess)
    assert lossy.selection_margin is None  # measuring left the prover's own margin alone
    exact = [ExactRetriever(layer.keys) for layer in model.layers]
    for x in samples[:16]:  # no calibration answer is challengeable at the calibrated margin
        for i, lp in enumerate(lossy.prove(x).layers):
            assert excess(exact[i].all_scores(lp.q), lp.selected, lp.tau) <= cal.margin


def test_calibration_of_exact_search_is_the_floor(setup) -> None:
    model, samples = setup
    cal = calibrate(_prover(model), samples[:8], min_rel=0.05)
    assert max(cal.max_excess) <= 0
    assert cal.floors == tuple(int(np.ceil(0.05 * score_scale(layer.spec.s_k))) for layer in model.layers)
    assert cal.margin == max(cal.floors)


def test_calibrate_model_dir(tmp_path: Path) -> None:
    fm = synthetic_model(n=200, d=16, layers=1, k=4, seed=3, n_samples=4)
    write_model_dir(tmp_path / "m", fm, order=False, index=False)
    cal = calibrate_model_dir(tmp_path / "m", queries=12)
    assert cal.queries == 12 and 0 < cal.margin <= UINT32_MAX


def test_margin_for_a_ghost_file_alone_is_the_floor(tmp_path: Path) -> None:
    fm = synthetic_model(n=200, d=16, layers=2, k=4, seed=3, n_samples=4)
    md = write_model_dir(tmp_path / "m", fm, order=False, index=False)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "ghost.json").write_bytes(md.ghost.to_bytes())
    cal = margin_for_model_dir(tmp_path / "g")
    assert cal.queries == 0 and cal.margin == max(layer_floors(md.ghost)) > 0
    assert margin_for_model_dir(tmp_path / "m", queries=8).margin >= cal.margin


def test_calibration_inputs_start_with_the_samples() -> None:
    keys = np.arange(40, dtype=np.int8).reshape(5, 8) - 20
    samples = np.ones((2, 8), np.float32)
    xs = calibration_inputs(samples, keys, 6)
    assert xs.shape == (6, 8) and np.array_equal(xs[:2], samples)
    with pytest.raises(InputError):
        calibration_inputs(None, keys, 0)


@pytest.mark.parametrize(("kw", "value"), [("candidates_factor", 0), ("selection_margin", -1),
                                           ("selection_margin", 1 << 32)])
def test_invalid_prover_settings(setup, kw: str, value: int) -> None:
    with pytest.raises(InputError):
        _prover(setup[0], **{kw: value})
