"""Shared fixtures: a small committed two-layer model and a prover with a fixed key.

Used by tests/protocol, tests/verifier and tests/test_vectors.py; building takes ~1 s,
so the model is session-scoped and must never be mutated by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ghostproof.protocol.response import Response
from ghostproof.prover.commit import CommittedModel, commit_model, quantise_layer
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.prove import Prover

#: Fixtures shared across test folders (chains: embedded and Anvil; IPFS model directories, stores).
pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.storage"]

#: A fixed dev key (0x00…01), so signatures and vectors are deterministic.
PROVER_KEY = bytes(31) + b"\x01"
PROVER_KEY_ADDRESS = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
MODEL_ID = 7
CHAIN_ID = 31337
CONTRACT = "0x" + "11" * 20
NONCE = bytes(range(32))


def build_small_model(n: int = 300, d: int = 16, layers: int = 2, k: int = 8, seed: int = 0):
    """(committed model, float samples) of a small synthetic model, deterministic for a seed."""
    float_model = synthetic_model(n=n, d=d, layers=layers, k=k, seed=seed, kind="uniform")
    committed = [quantise_layer(fl.keys, fl.values, fl.beta, fl.k) for fl in float_model.layers]
    return commit_model(float_model.name, committed), float_model.samples


def make_prover(model: CommittedModel) -> Prover:
    """A prover with exact retrieval and the fixed key and domain."""
    return Prover(
        model, PROVER_KEY, model_id=MODEL_ID, chain_id=CHAIN_ID, verifying_contract=CONTRACT
    )


@dataclass(frozen=True, eq=False)
class Setup:
    """A committed model, its prover, a sample input and a valid response to it."""

    model: CommittedModel
    prover: Prover
    x: np.ndarray
    response: Response


@pytest.fixture(scope="session")
def small() -> Setup:
    """The shared two-layer model (n=300, d=16, k=8) with a valid response to sample 0."""
    model, samples = build_small_model()
    prover = make_prover(model)
    x = np.asarray(samples[0], dtype=np.float32)
    return Setup(model, prover, x, prover.prove(x, nonce=NONCE))


@pytest.fixture(scope="session")
def other() -> Setup:
    """A second model of the same shape (another seed), for cross-model rejection."""
    model, samples = build_small_model(seed=1)
    prover = make_prover(model)
    x = np.asarray(samples[0], dtype=np.float32)
    return Setup(model, prover, x, prover.prove(x, nonce=NONCE))
