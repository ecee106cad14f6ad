"""Choosing the committed column order (write_model_dir ``order``, ``model build --order``) and
the clustered synthetic kind (docs/ORDER.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.layer import quantise_keys
from ghostproof.prover.modeldir import column_order_name, write_model_dir
from ghostproof.prover.order import cluster_order, cluster_order_spec, locality_order_spec
from ghostproof.prover.presets import synthetic_model
from ghostproof.prover.prove import Prover
from ghostproof.verifier.verify import verify


def test_cluster_order_is_committed_recorded_and_proves(tmp_path: Path) -> None:
    fm = synthetic_model(1024, 16, layers=1, k=4, seed=3, kind="clustered")
    md = write_model_dir(tmp_path / "m", fm, order="cluster", index=False)
    assert md.ghost.header.order == cluster_order_spec()
    perm = cluster_order(np.asarray(fm.layers[0].keys, dtype=np.float32))
    expected, _ = quantise_keys(fm.layers[0].keys[perm])
    np.testing.assert_array_equal(np.asarray(md.model.layers[0].keys), expected)
    response = Prover(md.model, bytes(range(1, 33))).prove(fm.samples[0])
    verify(response, md.ghost, md.ghost.ghost_root)
    assert json.loads((tmp_path / "m" / "model.json").read_text())["ordered"] is True


@pytest.mark.parametrize(("order", "name"), [(True, "locality"), (False, "none"), ("locality", "locality"),
                                             ("cluster", "cluster"), ("none", "none")])
def test_column_order_names(order: bool | str, name: str) -> None:
    assert column_order_name(order) == name


def test_invalid_column_order_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    fm = synthetic_model(64, 8, layers=1, k=4, seed=1)
    with pytest.raises(InputError, match="unknown column order 'kmeans'"):
        write_model_dir(tmp_path / "m", fm, order="kmeans", index=False)
    assert not (tmp_path / "m").exists()


def test_structured_kind_unchanged_and_locality_default(tmp_path: Path) -> None:
    fm = synthetic_model(256, 8, layers=1, k=4, seed=5)
    assert fm.params["kind"] == "structured"
    assert write_model_dir(tmp_path / "a", fm, index=False).ghost.header.order == locality_order_spec()


def test_clustered_kind_patterns_are_unit_rows() -> None:
    fm = synthetic_model(512, 16, layers=2, k=4, seed=2, kind="clustered")
    keys = np.asarray(fm.layers[0].keys, dtype=np.float64)
    np.testing.assert_allclose(np.linalg.norm(keys, axis=1), 1.0, atol=1e-5)
    assert fm.name.startswith("synthetic-clustered-")


def test_invalid_synthetic_kind() -> None:
    with pytest.raises(ModelError, match=re.escape("(structured | clustered | uniform)")):
        synthetic_model(64, 8, kind="gaussian")
