"""Build, load and serve a model directory: what ``ghostproof model build`` writes and the
prover loads (the layout and the file primitives are ghostproof.adapters.storage.layout).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostproof.adapters.fileio import atomic_write
from ghostproof.adapters.storage.layout import (
    GHOST_FILE,
    KEY_FILE,
    META_FILE,
    SAMPLE_LABELS_FILE,
    SAMPLES_FILE,
    index_path,
    load_matrix,
    matrix_path,
    read_ghost,
    read_meta,
    save_npy,
    tree_path,
)
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.merkle import MerkleTree

from .commit import CommittedLayer, CommittedModel, ProgressFn, commit_model, quantise_layer
from .presets import FloatModel

DEFAULT_INDEX_PARAMS = {"M": 16, "ef_construction": 200, "ef": 128}
#: model.json ``index.dims``: absent or None = plain HNSW over the int8 columns; "auto" or a
#: positive integer r = HNSW over a projection of the columns (prover/projection.py).
INDEX_DIMS_KEY = "dims"


def build_indexes(
    directory: Path,
    model: CommittedModel,
    params: dict[str, int | str | None],
    on_progress: ProgressFn | None = None,
) -> None:
    """Build and save one HNSW index per layer over its committed key columns: plain, or over
    their projection when ``params["dims"]`` is "auto" or r (prover/projection.py); a plain
    build removes a projection file an earlier build left beside the index."""
    from .index import HnswRetriever
    from .projection import ProjectedHnswRetriever, parse_dims, projection_path

    dims = parse_dims(params.get(INDEX_DIMS_KEY))
    hnsw = {"M": params["M"], "ef_construction": params["ef_construction"], "ef": params["ef"]}
    for i, layer in enumerate(model.layers):
        label = f"indexing layer {i}"
        cb = (lambda done, total, label=label: on_progress(label, done, total)) if on_progress else None
        path = index_path(directory, i)
        if dims is None:
            HnswRetriever.build(np.asarray(layer.keys), on_progress=cb, **hnsw).save(path)
            projection_path(path).unlink(missing_ok=True)
        else:
            ProjectedHnswRetriever.build(
                np.asarray(layer.keys), dims=dims if isinstance(dims, int) else None,
                on_progress=cb, **hnsw,
            ).save(path)


@dataclass(frozen=True, eq=False)
class ModelDir:
    """A loaded model directory: the committed model, its samples and the prover key."""

    path: Path
    model: CommittedModel
    meta: dict[str, object]
    samples: np.ndarray | None
    sample_labels: np.ndarray | None

    @property
    def ghost(self) -> GhostFile:
        """The ghost file."""
        return self.model.ghost

    def prover_key(self) -> bytes:
        """The dev prover key stored beside the model; ModelError if there is none."""
        path = self.path / KEY_FILE
        try:
            return bytes.fromhex(path.read_text().strip().removeprefix("0x"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"no usable prover key at {path}: {exc}") from exc

    def sample(self, i: int) -> np.ndarray:
        """Held-out sample ``i`` (ModelError if out of range or absent)."""
        if self.samples is None or not 0 <= i < len(self.samples):
            count = 0 if self.samples is None else len(self.samples)
            raise ModelError(f"sample {i} does not exist (the model has {count})")
        return self.samples[i]


COLUMN_ORDERS = ("locality", "cluster", "none")


def column_order_name(order: bool | str) -> str:
    """``write_model_dir``'s ``order`` as one of COLUMN_ORDERS (True = "locality", False =
    "none"); InputError for anything else."""
    if order is True or order is False:
        return "locality" if order else "none"
    if order not in COLUMN_ORDERS:
        raise InputError(f"unknown column order {order!r} ({' | '.join(COLUMN_ORDERS)})")
    return str(order)


def write_model_dir(
    directory: Path,
    float_model: FloatModel,
    *,
    order: bool | str = True,
    index: bool = True,
    on_progress: ProgressFn | None = None,
    index_params: dict[str, int | str | None] | None = None,
) -> ModelDir:
    """Quantise, order, commit and index ``float_model`` into ``directory``; return it loaded.

    ``order``: the column order, "locality" (True: prover/order.py's locality_order),
    "cluster" (cluster_order, for clustered data: docs/ORDER.md) or "none" (False); recorded
    in the ghost header. ``index_params`` overrides DEFAULT_INDEX_PARAMS (M,
    ef_construction, ef) and may name ``dims`` ("auto" or r: index a projection of the key
    columns, see build_indexes)."""
    order_name = column_order_name(order)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / GHOST_FILE).unlink(missing_ok=True)  # incomplete until rewritten last
    from . import order as orders

    permute, spec = {
        "locality": (orders.locality_order, orders.locality_order_spec()),
        "cluster": (orders.cluster_order, orders.cluster_order_spec()),
        "none": (None, None),
    }[order_name]
    layers: list[CommittedLayer] = []
    for fl in float_model.layers:
        keys, values = fl.keys, fl.values
        if permute is not None:
            perm = permute(np.asarray(keys, dtype=np.float32))
            keys, values = keys[perm], values[perm]
        layers.append(quantise_layer(keys, values, fl.beta, fl.k))
    model = commit_model(float_model.name, layers, on_progress=on_progress, order=spec)
    for i, layer in enumerate(model.layers):
        for name, tree in zip(("K", "V"), model.trees[i], strict=True):
            save_npy(matrix_path(directory, i, name), layer.matrix(name))
            save_npy(tree_path(directory, i, name), tree.packed())
    params = {**DEFAULT_INDEX_PARAMS, **(index_params or {})}
    if params.get(INDEX_DIMS_KEY) is None:
        params.pop(INDEX_DIMS_KEY, None)  # plain HNSW: model.json as before
    if index:
        build_indexes(directory, model, params, on_progress)
    save_npy(directory / SAMPLES_FILE, np.asarray(float_model.samples, dtype=np.float32))
    if float_model.sample_labels is not None:
        save_npy(directory / SAMPLE_LABELS_FILE, float_model.sample_labels)
    if not (directory / KEY_FILE).exists():
        atomic_write(directory / KEY_FILE, ("0x" + secrets.token_hex(32)).encode(), 0o600)
    meta = {"name": float_model.name, "params": float_model.params, "index": params,
            "ordered": order_name != "none", "indexed": index}
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    atomic_write(directory / GHOST_FILE, model.ghost.to_bytes())
    return load_model_dir(directory)


_KEEP = object()


def index_model_dir(
    directory: Path, on_progress: ProgressFn | None = None, dims: object = _KEEP
) -> ModelDir:
    """Make a fetched (weights-only) model directory servable: save its Merkle trees and
    HNSW indexes and a model.json. The weights are checked against ghost.json's roots.

    ``dims`` ("auto", r, or None for plain HNSW; see build_indexes) replaces model.json's
    ``index.dims``; left out, the directory keeps what it records."""
    from .projection import parse_dims

    md = load_model_dir(directory, on_progress=on_progress)
    for i, (tree_k, tree_v) in enumerate(md.model.trees):
        save_npy(tree_path(directory, i, "K"), tree_k.packed())
        save_npy(tree_path(directory, i, "V"), tree_v.packed())
    index_meta = md.meta.get("index")
    params = {**DEFAULT_INDEX_PARAMS, **(index_meta if isinstance(index_meta, dict) else {})}
    if dims is not _KEEP:
        params[INDEX_DIMS_KEY] = parse_dims(dims)  # type: ignore[arg-type]
    if params.get(INDEX_DIMS_KEY) is None:
        params.pop(INDEX_DIMS_KEY, None)
    build_indexes(directory, md.model, params, on_progress)
    meta = {**md.meta, "name": md.ghost.header.name, "index": params, "indexed": True}
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    return load_model_dir(directory)


def load_model_dir(
    directory: Path, on_progress: Callable[[str, int, int], None] | None = None
) -> ModelDir:
    """Load a model directory, checking that its matrices and trees match ghost.json's roots.

    Matrices are memory-mapped. A missing tree cache is rebuilt (not saved); a tree whose
    root differs from the ghost file raises ModelError. An in-place update a crash
    interrupted (prover/update.py's journal) is first rolled back or forward.
    """
    from .update import recover_update

    recover_update(directory)  # an update a crash interrupted: finish or undo it first
    ghost_file = directory / GHOST_FILE
    if not ghost_file.exists():
        raise ModelError(f"{directory} is not a model directory (no {GHOST_FILE})")
    ghost = read_ghost(ghost_file)
    meta = read_meta(directory)
    layers = []
    trees = []
    for i, spec in enumerate(ghost.header.layers):
        mats = {name: load_matrix(directory, ghost, i, name) for name in ("K", "V")}
        pair = tuple(_layer_tree(directory, ghost, i, tag, mats[name], on_progress)
                     for tag, name in enumerate(("K", "V")))
        layers.append(CommittedLayer(mats["K"], mats["V"], spec))
        trees.append(pair)
    model = CommittedModel(tuple(layers), tuple(trees), ghost)
    samples = _maybe_load(directory / SAMPLES_FILE)
    labels = _maybe_load(directory / SAMPLE_LABELS_FILE)
    return ModelDir(directory, model, meta, samples, labels)


def _layer_tree(
    directory: Path, ghost: GhostFile, layer: int, tag: int, matrix: np.ndarray,
    on_progress: Callable[[str, int, int], None] | None,
) -> MerkleTree:
    """The cached tree of a matrix (rebuilt in memory when absent), checked against the root."""
    from .commit import matrix_tree

    name = "KV"[tag]
    try:
        packed = np.load(tree_path(directory, layer, name), mmap_mode="r")
        tree = MerkleTree.from_packed(ghost.header.layers[layer].n, packed)
    except (OSError, ValueError):
        tree = matrix_tree(layer, tag, np.asarray(matrix), on_progress)
    if tree.root != ghost.layer_root(layer, name):
        raise ModelError(f"layer {layer} {name} tree root differs from ghost.json")
    return tree


def _maybe_load(path: Path) -> np.ndarray | None:
    try:
        return np.load(path)
    except (OSError, ValueError):
        return None


def make_prover(
    md: ModelDir,
    *,
    exact: bool = False,
    model_id: int = 0,
    chain_id: int = 0,
    verifying_contract: str | None = None,
    private_key: bytes | None = None,
):
    """A Prover for a loaded model directory: its HNSW indexes (or exact search) and key."""
    from ghostproof.protocol.receipt import ZERO_ADDRESS

    from .index import ExactRetriever
    from .prove import Prover, check_domain

    check_domain(model_id, chain_id, verifying_contract or ZERO_ADDRESS)  # before any index work
    retrievers = []
    index_meta = md.meta.get("index")
    ef = index_meta.get("ef", 128) if isinstance(index_meta, dict) else 128
    if not isinstance(ef, int) or isinstance(ef, bool) or ef < 1:
        raise ModelError(f"{md.path / META_FILE}: index.ef must be a positive integer, got {ef!r}")
    projected = isinstance(index_meta, dict) and index_meta.get(INDEX_DIMS_KEY) is not None
    for i, layer in enumerate(md.model.layers):
        path = index_path(md.path, i)
        if exact or not path.exists():
            retrievers.append(ExactRetriever(layer.keys))
        else:
            retriever = _load_index(path, layer.spec.n, layer.spec.d_in, projected)
            retriever.ef = max(ef, 4 * layer.spec.k)
            retrievers.append(retriever)
    return Prover(
        md.model,
        private_key if private_key is not None else md.prover_key(),
        retrievers,
        model_id=model_id,
        chain_id=chain_id,
        verifying_contract=verifying_contract or ZERO_ADDRESS,
    )


def _load_index(path: Path, n: int, dim: int, projected: bool):
    """Layer index at ``path``: a ProjectedHnswRetriever when model.json records ``index.dims``
    (ModelError if its projection file is missing or does not fit), else an HnswRetriever."""
    from .index import HnswRetriever
    from .projection import ProjectedHnswRetriever

    if projected:
        return ProjectedHnswRetriever.load(path, n, dim)
    return HnswRetriever.load(path, n, dim)
