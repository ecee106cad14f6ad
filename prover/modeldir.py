"""A model directory on disk: what ``ghostproof model build`` writes and the prover loads.

Layout (docs/PROTOCOL.md §model directory):
  ghost.json             the canonical ghost file (the only committed metadata)
  model.json             build and index parameters (not committed)
  layer{ℓ}.K.npy         int8 (N, d_in), row j = committed column j of K
  layer{ℓ}.V.npy         int8 (N, d_out), row j = committed row j of V
  layer{ℓ}.K.tree.npy    every level of K's Merkle tree, packed (prover cache)
  layer{ℓ}.V.tree.npy    the same for V
  layer{ℓ}.hnsw          the hnswlib index over K's columns
  samples.npy            held-out float32 inputs (and sample_labels.npy for classifiers)
  prover.key             the dev prover's secp256k1 key, hex (mode 0600)
Files are written under temporary names and renamed, ghost.json last, so a directory with
a ghost.json is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ghostproof.protocol.constants import MAX_CHUNK_BYTES
from ghostproof.protocol.errors import FormatError, ModelError
from ghostproof.protocol.ghost import GhostFile, parse_ghost
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.protocol.merkle import MerkleTree

from .commit import CommittedLayer, CommittedModel, ProgressFn, commit_model, quantise_layer
from .presets import FloatModel

GHOST_FILE = "ghost.json"
META_FILE = "model.json"
KEY_FILE = "prover.key"
MAX_META_BYTES = 1 << 20  # model.json holds a few parameters


def matrix_path(directory: Path, layer: int, name: str) -> Path:
    """Path of layer ``layer``'s matrix ``name`` ("K" or "V")."""
    return directory / f"layer{layer}.{name}.npy"


def tree_path(directory: Path, layer: int, name: str) -> Path:
    """Path of the packed Merkle tree of layer ``layer``'s matrix ``name``."""
    return directory / f"layer{layer}.{name}.tree.npy"


def index_path(directory: Path, layer: int) -> Path:
    """Path of layer ``layer``'s HNSW index."""
    return directory / f"layer{layer}.hnsw"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as fh:
        np.save(fh, array)


@contextmanager
def atomic_file(path: Path, mode: int = 0o644, *, replace: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write that appears at ``path`` only once the ``with`` block succeeds.

    The temporary file is created beside ``path`` by ``tempfile.mkstemp`` (a random name,
    ``O_CREAT | O_EXCL | O_NOFOLLOW``), so nothing planted in the directory can redirect the
    write; it gets exactly ``mode`` before any byte is written (the umask does not apply),
    is fsynced, then renamed over ``path`` (``replace``) or linked to it (not ``replace``:
    FileExistsError if ``path`` exists, even as a symlink), and the directory is fsynced.
    Readers see the old file or the whole new one. On any failure the temporary file is
    removed and ``path`` is left as it was.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` atomically, the file getting exactly ``mode`` (0o600 for
    keys, also where an older file at ``path`` was more open); see :func:`atomic_file`."""
    with atomic_file(path, mode, replace=replace) as fh:
        fh.write(data)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, but at most ``limit`` + 1 of them (so an oversized file is
    seen to be oversized without reading it all). OSError as ``open`` raises."""
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


DEFAULT_INDEX_PARAMS = {"M": 16, "ef_construction": 200, "ef": 128}


def build_indexes(
    directory: Path,
    model: CommittedModel,
    params: dict[str, int],
    on_progress: ProgressFn | None = None,
) -> None:
    """Build and save one HNSW index per layer over its committed key columns."""
    from .index import HnswRetriever

    for i, layer in enumerate(model.layers):
        label = f"indexing layer {i}"
        retriever = HnswRetriever.build(
            np.asarray(layer.keys),
            M=params["M"],
            ef_construction=params["ef_construction"],
            ef=params["ef"],
            on_progress=(lambda done, total, label=label: on_progress(label, done, total))
            if on_progress
            else None,
        )
        retriever.save(index_path(directory, i))


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


def read_ghost_bytes(path: Path) -> tuple[bytes, GhostFile]:
    """The bytes of a ghost file (or of a model directory's ghost.json) and their parse.

    Raises ModelError if it cannot be read, GhostFileError if it is invalid or not canonical.
    """
    if path.is_dir():
        path = path / GHOST_FILE
    try:
        data = read_capped(path, MAX_CHUNK_BYTES)
    except OSError as exc:
        raise ModelError(
            f"cannot read ghost file {path}: {exc.strerror} (run `ghostproof model build`?)"
        ) from exc
    return data, parse_ghost(data)


def read_ghost(path: Path) -> GhostFile:
    """Read and validate a ghost file (or a model directory's); see :func:`read_ghost_bytes`."""
    return read_ghost_bytes(path)[1]


def write_model_dir(
    directory: Path,
    float_model: FloatModel,
    *,
    order: bool = True,
    index: bool = True,
    on_progress: ProgressFn | None = None,
    index_params: dict[str, int] | None = None,
) -> ModelDir:
    """Quantise, order, commit and index ``float_model`` into ``directory``; return it loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / GHOST_FILE).unlink(missing_ok=True)  # incomplete until rewritten last
    layers: list[CommittedLayer] = []
    for fl in float_model.layers:
        keys, values = fl.keys, fl.values
        if order:
            from .order import locality_order

            perm = locality_order(np.asarray(keys, dtype=np.float32))
            keys, values = keys[perm], values[perm]
        layers.append(quantise_layer(keys, values, fl.beta, fl.k))
    model = commit_model(float_model.name, layers, on_progress=on_progress)
    for i, layer in enumerate(model.layers):
        for name, tree in zip(("K", "V"), model.trees[i], strict=True):
            _save_npy(matrix_path(directory, i, name), layer.matrix(name))
            _save_npy(tree_path(directory, i, name), tree.packed())
    params = {**DEFAULT_INDEX_PARAMS, **(index_params or {})}
    if index:
        build_indexes(directory, model, params, on_progress)
    _save_npy(directory / "samples.npy", np.asarray(float_model.samples, dtype=np.float32))
    if float_model.sample_labels is not None:
        _save_npy(directory / "sample_labels.npy", float_model.sample_labels)
    if not (directory / KEY_FILE).exists():
        atomic_write(directory / KEY_FILE, ("0x" + secrets.token_hex(32)).encode(), 0o600)
    meta = {"name": float_model.name, "params": float_model.params, "index": params,
            "ordered": order, "indexed": index}
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    atomic_write(directory / GHOST_FILE, model.ghost.to_bytes())
    return load_model_dir(directory)


def index_model_dir(directory: Path, on_progress: ProgressFn | None = None) -> ModelDir:
    """Make a fetched (weights-only) model directory servable: save its Merkle trees and
    HNSW indexes and a model.json. The weights are checked against ghost.json's roots."""
    md = load_model_dir(directory, on_progress=on_progress)
    for i, (tree_k, tree_v) in enumerate(md.model.trees):
        _save_npy(tree_path(directory, i, "K"), tree_k.packed())
        _save_npy(tree_path(directory, i, "V"), tree_v.packed())
    index_meta = md.meta.get("index")
    params = {**DEFAULT_INDEX_PARAMS, **(index_meta if isinstance(index_meta, dict) else {})}
    build_indexes(directory, md.model, params, on_progress)
    meta = {**md.meta, "name": md.ghost.header.name, "index": params, "indexed": True}
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    return load_model_dir(directory)


def load_model_dir(
    directory: Path, on_progress: Callable[[str, int, int], None] | None = None
) -> ModelDir:
    """Load a model directory, checking that its matrices and trees match ghost.json's roots.

    Matrices are memory-mapped. A missing tree cache is rebuilt (not saved); a tree whose
    root differs from the ghost file raises ModelError.
    """
    from .commit import matrix_tree

    ghost_file = directory / GHOST_FILE
    if not ghost_file.exists():
        raise ModelError(f"{directory} is not a model directory (no {GHOST_FILE})")
    ghost = read_ghost(ghost_file)
    try:
        meta = load_json(read_capped(directory / META_FILE, MAX_META_BYTES), what=META_FILE,
                         max_bytes=MAX_META_BYTES)
    except FileNotFoundError:
        meta = {}
    except (OSError, FormatError) as exc:
        raise ModelError(f"{directory / META_FILE} is unreadable: {exc}") from None
    if not isinstance(meta, dict):
        meta = {}
    layers = []
    trees = []
    for i, spec in enumerate(ghost.header.layers):
        mats = {}
        pair = []
        for tag, name in enumerate(("K", "V")):
            try:
                mat = np.load(matrix_path(directory, i, name), mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot read layer {i} {name}: {exc}") from exc
            width = spec.d_in if name == "K" else spec.d_out
            if mat.dtype != np.int8 or mat.shape != (spec.n, width):
                raise ModelError(f"layer {i} {name} has shape {mat.shape}, expected {(spec.n, width)}")
            mats[name] = mat
            try:
                packed = np.load(tree_path(directory, i, name), mmap_mode="r")
                tree = MerkleTree.from_packed(spec.n, packed)
            except (OSError, ValueError):
                tree = matrix_tree(i, tag, np.asarray(mat), on_progress)
            if tree.root != ghost.layer_root(i, name):
                raise ModelError(f"layer {i} {name} tree root differs from ghost.json")
            pair.append(tree)
        layers.append(CommittedLayer(mats["K"], mats["V"], spec))
        trees.append((pair[0], pair[1]))
    model = CommittedModel(tuple(layers), tuple(trees), ghost)
    samples = _maybe_load(directory / "samples.npy")
    labels = _maybe_load(directory / "sample_labels.npy")
    return ModelDir(directory, model, meta, samples, labels)


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

    from .index import ExactRetriever, HnswRetriever
    from .prove import Prover, check_domain

    check_domain(model_id, chain_id, verifying_contract or ZERO_ADDRESS)  # before any index work
    retrievers = []
    index_meta = md.meta.get("index")
    ef = index_meta.get("ef", 128) if isinstance(index_meta, dict) else 128
    if not isinstance(ef, int) or isinstance(ef, bool) or ef < 1:
        raise ModelError(f"{md.path / META_FILE}: index.ef must be a positive integer, got {ef!r}")
    for i, layer in enumerate(md.model.layers):
        path = index_path(md.path, i)
        if exact or not path.exists():
            retrievers.append(ExactRetriever(layer.keys))
        else:
            retriever = HnswRetriever.load(path, layer.spec.n, layer.spec.d_in)
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
