"""The selection margin (DESIGN §6): the node's refusal rule and calibrating a model's margin.

A receipt is challengeable when some column j ∉ S_ℓ has exact score q_ℓ·K_j > τ_ℓ + margin,
``margin`` being the model's registered ``selectionMargin`` (integer score units). HNSW is
approximate, so an honest node misses some true top-k columns; the margin must cover what
it misses (docs/SAFETY.md measures how much that is), and the node refuses to sign a
selection it cannot stand behind.

- :func:`check_selection` — the refusal rule ``Prover.prove`` applies after each layer's
  exact re-rank: unless all N columns were scored, the re-ranked candidates must reach at
  least ``margin`` below τ (floor ≤ τ − margin); otherwise UnsafeSelectionError.
- :func:`calibrate` / :func:`calibrate_model_dir` — a margin for a committed model from its
  own measured excess (max over j ∉ S of q·K_j − τ) on sample queries, times a safety
  factor, and never below a floor relative to the layer's score scale F = 127 / s_K (the
  score of a query against a column it equals). ``model commit`` and the demo register it
  when no margin is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostproof.protocol.constants import INT8_MAX
from ghostproof.protocol.errors import InputError, UnsafeSelectionError

from .index import Selection

if TYPE_CHECKING:
    from ghostproof.protocol.ghost import GhostFile

    from .prove import Prover

UINT32_MAX = (1 << 32) - 1
#: The registered margin is at least this fraction of each layer's score scale F = 127/s_K.
MIN_REL_MARGIN = 0.05
#: ... and at least this multiple of the largest excess seen on the calibration queries.
SAFETY_FACTOR = 2.0
#: Calibration queries (model samples first, then noisy copies of stored patterns).
CALIBRATION_QUERIES = 256
#: Noise of the calibration queries' copies (as scripts/bench.py's queries).
CALIBRATION_NOISE = 0.3


def score_scale(s_k: float) -> float:
    """F = 127 / s_K: the integer score of a unit query against a stored column equal to it."""
    return INT8_MAX / s_k


def check_selection(selection: Selection, margin: int | None, layer: int = 0) -> None:
    """Raise UnsafeSelectionError unless ``selection`` may be signed under ``margin``.

    No check when ``margin`` is None (the node does not know its registered margin) or the
    re-rank scored all N columns (S is then the exact top-k). Otherwise the re-ranked
    candidates must reach ``margin`` below τ: floor ≤ τ − margin. A shallower candidate set
    is what a retriever that gave up early (or too few candidates) produces; a column it
    missed just below the candidates' floor could then beat τ + margin.
    """
    if margin is None or selection.exhaustive or selection.depth >= margin:
        return
    raise UnsafeSelectionError(
        f"layer {layer}: the {selection.n_candidates} re-ranked candidates reach only "
        f"{selection.depth} below the threshold, the selection margin is {margin}: refusing to "
        "sign a selection a challenge could beat (raise ef or candidates_factor)"
    )


@dataclass(frozen=True)
class Calibration:
    """A margin measured for one model: ``margin`` (to register, fits uint32), the largest
    ``max_excess`` seen per layer (≤ 0: every selection was the exact top-k), each layer's
    ``floor`` (MIN_REL_MARGIN · F) and the number of ``queries``."""

    margin: int
    max_excess: tuple[int, ...]
    floors: tuple[int, ...]
    queries: int


def excess(scores: np.ndarray, selected: Sequence[int], tau: int) -> int:
    """max over j ∉ S of ``scores[j]`` − τ: how far the best column left out beats τ (≤ 0 when
    S is an exact top-k). ``scores`` are every column's exact scores; −τ−1 for S = all."""
    out = np.ones(len(scores), dtype=bool)
    out[np.asarray(selected, dtype=np.int64)] = False
    if not out.any():
        return -int(tau) - 1
    return int(np.asarray(scores)[out].max()) - int(tau)


def calibration_inputs(samples: np.ndarray | None, keys_int8: np.ndarray, count: int,
                       seed: int = 0) -> np.ndarray:
    """``count`` layer-0 inputs (float32 rows): the model's ``samples`` first, then noisy
    copies (noise CALIBRATION_NOISE) of stored key columns drawn with ``seed``."""
    from .synthetic import noisy_queries

    if count < 1:
        raise InputError(f"calibration needs at least one query, got {count}")
    rows = [] if samples is None else [np.asarray(samples, dtype=np.float32)[:count]]
    have = sum(len(r) for r in rows)
    if have < count:
        copies, _ = noisy_queries(np.asarray(keys_int8, dtype=np.float32), count - have,
                                  CALIBRATION_NOISE, seed=seed)
        rows.append(copies)
    return np.concatenate(rows).astype(np.float32)


def calibrate(prover: Prover, inputs: np.ndarray, *, safety: float = SAFETY_FACTOR,
              min_rel: float = MIN_REL_MARGIN) -> Calibration:
    """The margin for ``prover``'s model: ceil(``safety`` · the largest excess its own
    selections show on ``inputs``), at least ``min_rel`` · F of every layer, at most
    uint32. The prover's selection margin is ignored while measuring (no refusal)."""
    from .index import ExactRetriever

    layers = prover.model.layers
    exact = [ExactRetriever(layer.keys) for layer in layers]
    worst = [-(1 << 62)] * len(layers)
    saved, prover.selection_margin = prover.selection_margin, None
    try:
        for x in inputs:
            for i, lp in enumerate(prover.prove(x, nonce=bytes(32)).layers):
                worst[i] = max(worst[i], excess(exact[i].all_scores(lp.q), lp.selected, lp.tau))
    finally:
        prover.selection_margin = saved
    floors = layer_floors(prover.model.ghost, min_rel)
    needed = max(max(floors), math.ceil(safety * max(worst)))
    return Calibration(min(needed, UINT32_MAX), tuple(worst), floors, len(inputs))


def layer_floors(ghost: GhostFile, min_rel: float = MIN_REL_MARGIN) -> tuple[int, ...]:
    """Each layer's smallest margin, ceil(``min_rel`` · F) with F = 127/s_K from the ghost
    header alone (no weights needed); a registered margin is at least their maximum."""
    return tuple(math.ceil(min_rel * score_scale(spec.s_k)) for spec in ghost.header.layers)


def margin_for_model_dir(directory: Path, queries: int = CALIBRATION_QUERIES) -> Calibration:
    """The margin to register for the model in ``directory`` when none is given:
    :func:`calibrate_model_dir` when the directory holds the weights, else (a ghost file
    alone) :func:`layer_floors` of its header (``queries`` = 0, no excess measured)."""
    from ghostproof.adapters.storage.layout import GHOST_FILE, matrix_path, read_ghost

    if matrix_path(directory, 0, "K").exists():
        return calibrate_model_dir(directory, queries)
    floors = layer_floors(read_ghost(directory / GHOST_FILE))
    return Calibration(min(max(floors), UINT32_MAX), (), floors, 0)


def calibrate_model_dir(directory: Path, queries: int = CALIBRATION_QUERIES) -> Calibration:
    """:func:`calibrate` for the model directory ``directory`` as ``serve`` would load it
    (its HNSW indexes, else exact search) on ``queries`` inputs (:func:`calibration_inputs`)."""
    from .modeldir import load_model_dir, make_prover

    md = load_model_dir(directory)
    prover = make_prover(md, private_key=bytes(31) + b"\x01")
    inputs = calibration_inputs(md.samples, md.model.layers[0].keys, queries)
    return calibrate(prover, inputs)
