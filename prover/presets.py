"""Float models to commit: the bundled digits classifier and synthetic models of any size.

Each preset returns float patterns/values per layer (before quantisation), plus sample
inputs. The digits model is built offline from scikit-learn's bundled 8×8 digits:
patterns are training images, values one-hot labels, so a query is a verified
nearest-pattern classification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ghostproof.protocol.errors import ModelError


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One layer before quantisation: keys (N, d_in), values (N, d_out), beta, k."""

    keys: np.ndarray
    values: np.ndarray
    beta: float
    k: int


@dataclass(frozen=True, eq=False)
class FloatModel:
    """A model before quantisation, with held-out samples (and labels when it classifies)."""

    name: str
    layers: list[FloatLayer]
    samples: np.ndarray  # float32 (m, d_in of layer 0)
    sample_labels: np.ndarray | None = None
    params: dict[str, object] = field(default_factory=dict)


DIGITS_BETA = 60.0
DIGITS_K = 16


def digits_model(k: int = DIGITS_K, beta: float = DIGITS_BETA, seed: int = 0) -> FloatModel:
    """The digits classifier: 75 % of sklearn's digits stored, 25 % held out as samples."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float32),
        data.target,
        test_size=0.25,
        random_state=seed,
        stratify=data.target,
    )
    values = np.eye(10, dtype=np.float32)[y_train]
    return FloatModel(
        name="digits",
        layers=[FloatLayer(x_train, values, beta, k)],
        samples=x_test,
        sample_labels=y_test.astype(np.int64),
        params={"preset": "digits", "k": k, "beta": beta, "seed": seed},
    )


def _pattern_maker(kind: str) -> Callable[[int, int, int], np.ndarray]:
    """(n, d, seed) → patterns of the synthetic ``kind``; ModelError for an unknown kind."""
    from ghostproof.prover import synthetic

    makers: dict[str, Callable[[int, int, int], np.ndarray]] = {
        "structured": lambda n, d, s: synthetic.structured_patterns(n, d, intrinsic_dim=min(32, d), seed=s),
        "clustered": lambda n, d, s: synthetic.clustered_patterns(n, d, intrinsic_dim=min(32, d), seed=s),
        "uniform": lambda n, d, s: synthetic.uniform_patterns(n, d, seed=s),
    }
    if kind not in makers:
        raise ModelError(f"unknown synthetic kind {kind!r} (structured | clustered | uniform)")
    return makers[kind]


def synthetic_model(
    n: int,
    d: int,
    layers: int = 1,
    k: int = 32,
    seed: int = 0,
    beta: float = 30.0,
    kind: str = "structured",
    n_samples: int = 64,
    noise: float = 0.1,
) -> FloatModel:
    """A synthetic chain of ``layers`` d×d layers over ``n`` patterns each.

    Layer ℓ's value row j is a stored pattern of layer ℓ+1, so each layer's output is a
    noisy query of the next (associative recall all the way down); the last layer's
    values are random. ``kind`` is "structured" (intrinsic dimension min(32, d), the realistic
    case), "clustered" (clusters of ~256 in such a subspace, like embeddings: docs/ORDER.md)
    or "uniform" (random unit vectors, the worst case for approximate search).
    """
    from ghostproof.prover.synthetic import noisy_queries, random_values

    if n < k or layers < 1 or d < 2:
        raise ModelError("synthetic models need n ≥ k, d ≥ 2 and at least one layer")
    make = _pattern_maker(kind)
    rng = np.random.default_rng(seed)
    patterns = [make(n, d, seed + 1000 * i) for i in range(layers)]
    float_layers = []
    for i in range(layers):
        if i + 1 < layers:
            values = patterns[i + 1][rng.permutation(n)]
        else:
            values = random_values(n, d, seed=seed + 7)
        float_layers.append(FloatLayer(patterns[i], values, beta, k))
    samples, _ = noisy_queries(patterns[0], n_samples, noise, seed=seed + 13)
    return FloatModel(
        name=f"synthetic-{kind}-n{n}-d{d}-l{layers}-k{k}",
        layers=float_layers,
        samples=np.asarray(samples, dtype=np.float32),
        params={
            "preset": "synthetic", "n": n, "d": d, "layers": layers, "k": k,
            "seed": seed, "beta": beta, "kind": kind,
        },
    )
