"""Training steps on a committed model, with their update proof (DESIGN §10, PROTOCOL §14).

- :func:`compute_update` — pure, in memory: runs the batch with the node's retrievers (exact
  re-rank on the current weights), applies the layer's declared rule, recomputes only the
  touched Merkle paths (O(|P|·log N) hashes) and the CIDs of the touched chunks, and returns an
  :class:`UpdateStep` (the proof, the new ghost file, the patches);
- :func:`write_update` — applies an UpdateStep to a model directory in place, crash-safe: a
  journal first, then the patches, then ghost.json (the commit point); :func:`recover_update`
  (called by ``load_model_dir``) rolls an interrupted update back or forward;
- :func:`apply_update` — both, plus the HNSW index, for ``ghostproof model update`` and the
  node; :func:`refresh_retrievers` keeps in-memory retrievers current.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostproof.adapters.fileio import atomic_write, read_capped
from ghostproof.adapters.storage.layout import GHOST_FILE, index_path, matrix_path, tree_path
from ghostproof.protocol.chunks import ChunkRef, cid_for_bytes
from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.embedding import (
    EmbeddingSpec,
    check_tokens,
    embedding_leaf_hashes,
    token_counts,
    token_query,
    touched_embedding_chunks,
)
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.ghost import UPDATE_RULE_SGD_V1, GhostFile, GhostHeader, UpdateRule
from ghostproof.protocol.hashing import leaf_hashes, node_hashes
from ghostproof.protocol.jsonlimits import load_json
from ghostproof.protocol.layer import check_vector, int_scores, quantise_query, top_k
from ghostproof.protocol.merkle import MerkleTree, multiproof
from ghostproof.protocol.update import (
    Example,
    UpdateProof,
    dumps_update,
    embedding_step,
    one_hot_target,
    quantise_target,
    sgd_step,
    touched_chunks,
)

from .commit import CommittedModel
from .embedding import EMBEDDING_FILE, CommittedEmbedding, load_embedding
from .index import ExactRetriever, Retriever

if TYPE_CHECKING:
    from .modeldir import ModelDir

#: The journal of an update in progress (its presence means: recover before use).
JOURNAL_FILE = "update.journal"
#: Learning rates of ``model trainable`` when none are given (docs/PROTOCOL.md §14).
DEFAULT_LR_K = 1 << 16
DEFAULT_LR_V = 4 << 16
#: Candidates asked of the retriever per example, in multiples of k (as prove()).
DEFAULT_CANDIDATES_FACTOR = 4
MAX_EXAMPLES_BYTES = 64 << 20

#: (level, node indices, new 32-byte hashes) of one tree, leaves first.
NodePatch = tuple[int, np.ndarray, list[bytes]]


@dataclass(frozen=True, eq=False)
class UpdateStep:
    """A computed batch: the proof, the new ghost file, and what changes on disk — the rows at
    ``positions`` (new K columns and V rows), the changed tree nodes of each matrix, and the
    indices (into the chunk table) of the chunks whose CID was recomputed."""

    proof: UpdateProof
    old_ghost: GhostFile
    new_ghost: GhostFile
    layer: int
    positions: np.ndarray  # int64, sorted
    new_keys: np.ndarray  # int8 (|P|, d_in)
    new_values: np.ndarray  # int8 (|P|, d_out)
    key_nodes: tuple[NodePatch, ...]
    value_nodes: tuple[NodePatch, ...]
    chunks_changed: tuple[int, ...]
    embedding_rows: np.ndarray | None = None  # int64, sorted: the distinct tokens (§14.6)
    new_embedding: np.ndarray | None = None  # int8 (|T|, dim)
    embedding_chunks_changed: tuple[int, ...] = ()

    @property
    def changed_chunk_refs(self) -> list[ChunkRef]:
        """The new chunk-table entries whose CID differs from the old one (what a publish
        stores anew)."""
        old, new = self.old_ghost.header.chunks, self.new_ghost.header.chunks
        return [new[i] for i in self.chunks_changed if new[i].cid != old[i].cid]


# ---------------------------------------------------------------- selection on current weights


def _check_input(x: np.ndarray, d_in: int) -> np.ndarray:
    """The example input as float32, as prove() takes a request's (InputError otherwise)."""
    x64 = check_vector(x, d_in)
    with np.errstate(over="ignore", under="ignore"):
        x32 = x64.astype(np.float32)
    if not np.all(np.isfinite(x32)):
        raise InputError("example input has values outside the float32 range")
    return x32


class _Overlay:
    """The layer's matrices with the rows the batch has changed so far laid over them."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, embedding: np.ndarray | None = None):
        self.keys, self.values, self.embedding = keys, values, embedding
        self.k_rows: dict[int, np.ndarray] = {}
        self.v_rows: dict[int, np.ndarray] = {}
        self.e_rows: dict[int, np.ndarray] = {}  # every embedding row read so far (changed or not)

    def embedding_rows(self, ids: Sequence[int]) -> np.ndarray:
        """The current rows of tokens ``ids`` (recorded as touched)."""
        assert self.embedding is not None
        for t in ids:
            if t not in self.e_rows:
                self.e_rows[t] = np.array(self.embedding[t], dtype=np.int8)
        return np.stack([self.e_rows[t] for t in ids])

    def key_rows(self, ids: np.ndarray) -> np.ndarray:
        out = np.array(self.keys[ids], dtype=np.int8)
        for r, j in enumerate(ids):
            row = self.k_rows.get(int(j))
            if row is not None:
                out[r] = row
        return out

    def value_rows(self, ids: np.ndarray) -> np.ndarray:
        out = np.array(self.values[ids], dtype=np.int8)
        for r, j in enumerate(ids):
            row = self.v_rows.get(int(j))
            if row is not None:
                out[r] = row
        return out

    def select(self, retriever: Retriever, q: np.ndarray, k: int, n_candidates: int) -> np.ndarray:
        """The exact top-k of the retriever's candidates ∪ every row changed so far, scored on
        the current rows (ties → lower index), sorted by index. With an exact retriever over
        the old keys this is the exact top-k of the current keys: the untouched columns'
        scores are unchanged, and n_candidates ≥ k + |changed| leaves k of them."""
        n = min(self.keys.shape[0], n_candidates + len(self.k_rows))
        ids, _ = retriever.search(q, n)
        cand = np.union1d(np.asarray(ids, dtype=np.int64), np.fromiter(self.k_rows, dtype=np.int64))
        scores = int_scores(q, self.key_rows(cand)).astype(np.int64)
        return top_k(scores, k, cand)


# ---------------------------------------------------------------- Merkle paths and chunks


def patch_tree(tree: MerkleTree, layer: int, tag: int, positions: np.ndarray,
               new_rows: np.ndarray) -> tuple[bytes, tuple[NodePatch, ...]]:
    """The root of ``tree`` with the leaves at ``positions`` replaced by those of
    ``new_rows``, and every changed node, hashing only the touched paths (|P|·depth at most)."""
    idx = np.asarray(positions, dtype=np.int64)
    return patch_paths(tree, idx, leaf_hashes(layer, tag, new_rows, indices=idx))


def patch_paths(tree: MerkleTree, positions: np.ndarray,
                leaves: list[bytes]) -> tuple[bytes, tuple[NodePatch, ...]]:
    """The root of ``tree`` with the leaf hashes at sorted ``positions`` replaced by
    ``leaves``, and every changed node (only the touched paths are hashed)."""
    idx, hashes = np.asarray(positions, dtype=np.int64), leaves
    patches: list[NodePatch] = [(0, idx, hashes)]
    for level in range(tree.depth):
        parents = np.unique(idx >> 1)
        children = np.array(tree.levels[level][np.stack([2 * parents, 2 * parents + 1], axis=1).ravel()])
        slots = np.searchsorted(2 * parents, idx & ~1) * 2 + (idx & 1)  # where each known child sits
        children[slots] = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32)
        flat = children.tobytes()
        hashes = node_hashes([flat[i : i + 32] for i in range(0, len(flat), 32)])
        idx = parents
        patches.append((level + 1, parents, hashes))
    return hashes[0], tuple(patches)


def _new_chunks(header: GhostHeader, layer: int, matrices: dict[str, np.ndarray], positions: np.ndarray,
                rows: dict[str, np.ndarray]) -> tuple[tuple[ChunkRef, ...], tuple[int, ...]]:
    """The chunk table with the CIDs recomputed of the chunks holding a column whose bytes
    changed (``rows[M]`` are the new rows at ``positions``); returns it and their indices."""
    chunks = list(header.chunks)
    changed = {name: np.any(rows[name] != np.asarray(matrices[name][positions]), axis=1) for name in rows}
    recomputed = []
    for i in touched_chunks(chunks, layer, positions):
        c = chunks[i]
        inside = (positions >= c.first) & (positions < c.first + c.count) & changed[c.matrix]
        if not inside.any():
            continue  # selected, but no byte of this chunk changed: same CID
        data = np.array(matrices[c.matrix][c.first : c.first + c.count], dtype=np.int8)
        data[positions[inside] - c.first] = rows[c.matrix][inside]
        chunks[i] = replace(c, cid=cid_for_bytes(data.tobytes()))
        recomputed.append(i)
    return tuple(chunks), tuple(recomputed)


# ---------------------------------------------------------------- the batch


def _check_trainable(model: CommittedModel, layer: int) -> UpdateRule:
    n_layers = len(model.layers)
    if n_layers != 1 or layer != 0:
        raise InputError(f"sgd-v1 trains one-layer models only (layer 0); this model has {n_layers} layers")
    rule = model.layers[layer].spec.update
    if rule is None or rule.rule != UPDATE_RULE_SGD_V1:
        raise InputError("layer 0 declares no update rule: run `ghostproof model trainable DIR` first")
    return rule


def _check_target(target: np.ndarray, d_out: int) -> np.ndarray:
    arr = np.asarray(target)
    if arr.shape != (d_out,) or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"a target must be {d_out} integers")
    return arr.astype(np.int8)


def _example_query(example: Example, d_in: int, overlay: _Overlay, embedding: CommittedEmbedding | None,
                   ) -> tuple[np.ndarray, Example | None, tuple[tuple[int, ...], tuple[int, ...]] | None]:
    """Example's query on the current weights: quantise(x) for a float input (with the
    float32 input), or quantise(Σ current embedding rows) for a token input (with its
    distinct tokens and their counts). InputError for an unusable input."""
    if example.tokens is None:
        x32 = _check_input(example.x, d_in)
        return quantise_query(x32, d_in), Example(x32, example.target), None
    if embedding is None:
        raise InputError("a token example needs an embedding: run `ghostproof model embed` first")
    ids, counts = token_counts(check_tokens(example.tokens, embedding.spec.vocab))
    return token_query(ids, counts, overlay.embedding_rows(ids)), None, (ids, counts)


def compute_update(
    model: CommittedModel,
    examples: Sequence[Example],
    retrievers: Sequence[Retriever] | None = None,
    *,
    layer: int = 0,
    candidates_factor: int = DEFAULT_CANDIDATES_FACTOR,
    embedding: CommittedEmbedding | None = None,
) -> UpdateStep:
    """Apply ``examples`` in order to ``layer`` of ``model`` (nothing is written) and prove it.

    Example i is selected with ``retrievers[layer]`` (default: exact search) over the weights
    examples < i left, re-ranked exactly; the rule is the header's (protocol.update.sgd_step).
    A token example (``Example.tokens``) reads its rows of ``embedding`` (the model's, as
    committed in its header) as the rule left them, and with lrE declared trains them
    (protocol.update.embedding_step, docs/PROTOCOL.md §14.6).
    Raises InputError when the model is not trainable (more than one layer, no declared rule)
    or an example is unusable (wrong length, not finite, zero input, a target of the wrong
    length, a token input without an embedding or with an id outside the vocabulary)."""
    rule = _check_trainable(model, layer)
    if not examples:
        raise InputError("an update needs at least one example")
    lay = model.layers[layer]
    spec = lay.spec
    retriever = retrievers[layer] if retrievers is not None else ExactRetriever(lay.keys)
    n_candidates = min(spec.n, max(candidates_factor * spec.k, spec.k, int(getattr(retriever, "ef", 0))))
    overlay = _Overlay(lay.keys, lay.values, None if embedding is None else embedding.table)
    lr_e = None if embedding is None else embedding.spec.lr_e
    clean: list[Example] = []
    selections: list[tuple[int, ...]] = []
    taus: list[int] = []
    for example in examples:
        target = _check_target(example.target, spec.d_out)
        q, float_example, used = _example_query(example, spec.d_in, overlay, embedding)
        sel = overlay.select(retriever, q, spec.k, n_candidates)
        train_e = used is not None and lr_e is not None
        step = sgd_step(rule, spec.logit_scale, q, overlay.key_rows(sel), overlay.value_rows(sel), target,
                        with_gradient=train_e)
        for r, j in enumerate(sel.tolist()):
            overlay.k_rows[j] = step.new_keys[r]
            overlay.v_rows[j] = step.new_values[r]
        if used is not None and lr_e is not None:
            ids, counts = used
            new_rows = embedding_step(lr_e, step.gradient, step.total, counts, overlay.embedding_rows(ids))
            overlay.e_rows.update(zip(ids, new_rows, strict=True))
        clean.append(Example(float_example.x, target) if float_example is not None
                     else Example.from_tokens(example.tokens or (), target))
        selections.append(tuple(sel.tolist()))
        taus.append(step.tau)
    return _finish(model, layer, overlay, clean, selections, taus, embedding)


@dataclass(frozen=True, eq=False)
class _EmbeddingPart:
    """The embedding side of a computed batch: the new header object, the touched rows before
    and after, their multiproof, and the embedding chunks re-addressed."""

    spec: EmbeddingSpec
    ids: np.ndarray
    old: np.ndarray
    new: np.ndarray
    proof: tuple[bytes, ...]
    chunks_changed: tuple[int, ...]


def _embedding_part(embedding: CommittedEmbedding, overlay: _Overlay) -> _EmbeddingPart:
    """Root, chunk CIDs and proof of the embedding rows the batch read (and maybe changed)."""
    ids = np.array(sorted(overlay.e_rows), dtype=np.int64)
    old = np.array(embedding.table[ids], dtype=np.int8)
    new = np.stack([overlay.e_rows[int(t)] for t in ids]).astype(np.int8)
    root, _ = patch_paths(embedding.tree, ids, embedding_leaf_hashes(new, ids))
    chunks = list(embedding.spec.chunks)
    changed_rows = np.any(old != new, axis=1)
    recomputed = []
    for i in touched_embedding_chunks(chunks, ids):
        c = chunks[i]
        inside = (ids >= c.first) & (ids < c.first + c.count) & changed_rows
        if inside.any():
            data = np.array(embedding.table[c.first : c.first + c.count], dtype=np.int8)
            data[ids[inside] - c.first] = new[inside]
            chunks[i] = replace(c, cid=cid_for_bytes(data.tobytes()))
            recomputed.append(i)
    spec = replace(embedding.spec, root=root, chunks=tuple(chunks))
    proof = tuple(multiproof(embedding.tree, ids.tolist()))
    return _EmbeddingPart(spec, ids, old, new, proof, tuple(recomputed))


def _finish(model: CommittedModel, layer: int, overlay: _Overlay, examples: list[Example],
            selections: list[tuple[int, ...]], taus: list[int],
            embedding: CommittedEmbedding | None = None) -> UpdateStep:
    """Trees, chunks, the new ghost file and the proof of a computed batch."""
    positions = np.array(sorted(overlay.k_rows), dtype=np.int64)
    lay = model.layers[layer]
    old_keys = np.array(lay.keys[positions], dtype=np.int8)
    old_values = np.array(lay.values[positions], dtype=np.int8)
    new_keys = np.stack([overlay.k_rows[int(j)] for j in positions]).astype(np.int8)
    new_values = np.stack([overlay.v_rows[int(j)] for j in positions]).astype(np.int8)
    tree_k, tree_v = model.trees[layer]
    root_k, key_nodes = patch_tree(tree_k, layer, MATRIX_K, positions, new_keys)
    root_v, value_nodes = patch_tree(tree_v, layer, MATRIX_V, positions, new_values)
    old_ghost = model.ghost
    chunks, touched = _new_chunks(old_ghost.header, layer, {"K": lay.keys, "V": lay.values}, positions,
                                  {"K": new_keys, "V": new_values})
    header = replace(old_ghost.header, chunks=chunks)
    part = _embedding_part(embedding, overlay) if embedding is not None and overlay.e_rows else None
    if part is not None:
        header = replace(header, embedding=part.spec)
    roots = list(old_ghost.roots)
    roots[layer] = (root_k, root_v)
    new_ghost = GhostFile(header, tuple(roots))
    pos = tuple(positions.tolist())
    proof = UpdateProof(
        layer=layer, old_ghost_root=old_ghost.ghost_root, new_ghost_root=new_ghost.ghost_root,
        examples=tuple(examples), selections=tuple(selections), taus=tuple(taus), positions=pos,
        old_keys=old_keys, old_values=old_values, new_keys=new_keys, new_values=new_values,
        key_proof=tuple(multiproof(tree_k, pos)), value_proof=tuple(multiproof(tree_v, pos)),
        **({} if part is None else {"embedding_rows": tuple(part.ids.tolist()), "old_embedding": part.old,
                                    "new_embedding": part.new, "embedding_proof": part.proof}),
    )
    return UpdateStep(proof, old_ghost, new_ghost, layer, positions, new_keys, new_values,
                      key_nodes, value_nodes, touched,
                      None if part is None else part.ids, None if part is None else part.new,
                      () if part is None else part.chunks_changed)


# ---------------------------------------------------------------- in-memory retrievers


def refresh_retrievers(retrievers: Sequence[Retriever], step: UpdateStep) -> None:
    """Give the trained layer's retriever the new key columns (an HNSW index updates the
    touched labels in place — hnswlib's add_items on an existing id; an exact one its rows),
    so a node keeps serving from current weights without rebuilding anything."""
    retriever = retrievers[step.layer]
    rows = step.new_keys.astype(np.float32)
    index = getattr(retriever, "_index", None)
    if index is not None:  # HnswRetriever
        index.add_items(rows, step.positions.astype(np.int64), num_threads=1)
        return
    if isinstance(retriever, ExactRetriever):
        if retriever._torch is not None:
            torch = retriever._torch
            retriever._keys[torch.from_numpy(step.positions)] = torch.from_numpy(rows).to(
                retriever._keys.device, retriever._keys.dtype)
        else:
            retriever._keys_np[step.positions] = rows.astype(retriever._keys_np.dtype)


# ---------------------------------------------------------------- the model directory, in place


def _stage(name: str) -> None:
    """A point of :func:`write_update` where a crash is survivable (tests kill the process here)."""


def _data_offset(path: Path) -> int:
    """Byte offset of the array data in a .npy file."""
    return int(np.load(path, mmap_mode="r", allow_pickle=False).offset)


def _row_patches(path: Path, old: np.ndarray, new: np.ndarray, positions: np.ndarray) -> list[dict]:
    base = _data_offset(path)
    width = old.shape[1]
    return [
        {"file": path.name, "offset": base + int(j) * width, "old": old[r].tobytes().hex(),
         "new": new[r].tobytes().hex()}
        for r, j in enumerate(positions.tolist())
        if not np.array_equal(old[r], new[r])
    ]


def _tree_patches(path: Path, tree: MerkleTree, nodes: Sequence[NodePatch]) -> list[dict]:
    if not path.exists():
        return []  # no cache: load rebuilds the tree from the matrix
    base = _data_offset(path)
    starts = np.cumsum([0] + [lvl.shape[0] for lvl in tree.levels])
    out = []
    for level, idx, hashes in nodes:
        for i, h in zip(idx.tolist(), hashes, strict=True):
            old = tree.node(level, i)
            if old != h:
                out.append({"file": path.name, "offset": base + 32 * (int(starts[level]) + i),
                            "old": old.hex(), "new": h.hex()})
    return out


def _apply_patches(directory: Path, patches: Sequence[dict], side: str) -> None:
    """Write each patch's ``side`` ("old" or "new") bytes at its offset, then fsync the files."""
    by_file: dict[str, list[dict]] = {}
    for p in patches:
        by_file.setdefault(p["file"], []).append(p)
    for name, items in by_file.items():
        fd = os.open(directory / name, os.O_WRONLY)
        try:
            for p in items:
                os.pwrite(fd, bytes.fromhex(p[side]), int(p["offset"]))
            os.fsync(fd)
        finally:
            os.close(fd)


def _next_index(directory: Path, layer: int) -> Path:
    path = index_path(directory, layer)
    return path.with_name(path.name + ".next")


def _save_index(retriever: Retriever | None, directory: Path, step: UpdateStep) -> bool:
    """Write the trained layer's HNSW index with the new key columns as ``layerℓ.hnsw.next``
    (renamed over the index after the commit). False when the directory has no index."""
    path = index_path(directory, step.layer)
    if not path.exists():
        return False
    from .index import HnswRetriever

    spec = step.new_ghost.header.layers[step.layer]
    if not isinstance(retriever, HnswRetriever):
        retriever = HnswRetriever.load(path, spec.n, spec.d_in)
        refresh_retrievers([retriever] * (step.layer + 1), step)
    nxt = _next_index(directory, step.layer)
    retriever.save(nxt)
    fd = os.open(nxt, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def write_update(directory: Path, step: UpdateStep, model: CommittedModel,
                 retrievers: Sequence[Retriever] | None = None) -> None:
    """Apply ``step`` (computed on ``model``, loaded from ``directory``) to the directory in
    place: matrices and tree caches patched at the touched rows and nodes, the HNSW index
    updated for the touched keys, ghost.json rewritten. Crash-safe: a journal with the old and
    new bytes is written first and ghost.json is the commit point, so :func:`recover_update`
    (run by every load) restores the old model or completes the new one, never a mix.

    ``retrievers`` should already hold the new keys (:func:`refresh_retrievers`); an HNSW
    index on disk is otherwise loaded and updated here. ModelError if ghost.json is not the
    model the step was computed on or an earlier update is unfinished."""
    from ghostproof.adapters.storage.layout import read_ghost_bytes

    if (directory / JOURNAL_FILE).exists():
        raise ModelError(f"{directory} has an unfinished update; load it first to recover")
    current, _ = read_ghost_bytes(directory)
    if current != step.old_ghost.to_bytes():
        raise ModelError(f"{directory / GHOST_FILE} is not the model this update was computed on")
    layer = step.layer
    tree_k, tree_v = model.trees[layer]
    proof, pos = step.proof, step.positions
    patches = (
        _row_patches(matrix_path(directory, layer, "K"), proof.old_keys, step.new_keys, pos)
        + _row_patches(matrix_path(directory, layer, "V"), proof.old_values, step.new_values, pos)
        + _tree_patches(tree_path(directory, layer, "K"), tree_k, step.key_nodes)
        + _tree_patches(tree_path(directory, layer, "V"), tree_v, step.value_nodes)
    )
    if step.embedding_rows is not None and step.new_embedding is not None:
        patches += _row_patches(directory / EMBEDDING_FILE, np.asarray(proof.old_embedding),
                                step.new_embedding, step.embedding_rows)
    journal = {"layer": layer, "old": step.old_ghost.to_bytes().decode(),
               "new": step.new_ghost.to_bytes().decode(), "patches": patches}
    atomic_write(directory / JOURNAL_FILE, json.dumps(journal).encode())
    _stage("journal")
    retriever = retrievers[layer] if retrievers is not None else None
    _save_index(retriever, directory, step)
    _stage("index")
    _apply_patches(directory, patches, "new")
    _stage("patched")
    atomic_write(directory / GHOST_FILE, step.new_ghost.to_bytes())
    _stage("committed")
    _finish_recovery(directory, layer, forward=True)


def _finish_recovery(directory: Path, layer: int, *, forward: bool) -> None:
    nxt = _next_index(directory, layer)
    if nxt.exists():
        if forward:
            os.replace(nxt, index_path(directory, layer))
        else:
            nxt.unlink()
    _stage("renamed")
    (directory / JOURNAL_FILE).unlink(missing_ok=True)


def recover_update(directory: Path) -> str | None:
    """Finish or undo an update a crash interrupted: with a journal present, ghost.json equal
    to the new ghost file means the update committed (re-apply its new bytes, install the new
    index), anything else that it did not (restore the old bytes and the old ghost.json).
    Returns "forward", "back" or None (nothing to do); ModelError for a journal that cannot
    be read or a ghost.json that is neither version."""
    journal_path = directory / JOURNAL_FILE
    if not journal_path.exists():
        return None
    try:
        journal = load_json(read_capped(journal_path, 1 << 30), what=JOURNAL_FILE, max_bytes=1 << 30)
        old, new = journal["old"].encode(), journal["new"].encode()
        patches, layer = journal["patches"], int(journal["layer"])
    except (OSError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelError(f"{journal_path} is unreadable: {exc}") from exc
    try:
        current = (directory / GHOST_FILE).read_bytes()
    except FileNotFoundError:
        current = b""
    forward = current == new
    if not forward and current not in (old, b""):
        raise ModelError(f"{directory / GHOST_FILE} is neither the old nor the new model of {journal_path}")
    _apply_patches(directory, patches, "new" if forward else "old")
    if not forward and current != old:
        atomic_write(directory / GHOST_FILE, old)
    _finish_recovery(directory, int(layer), forward=forward)
    return "forward" if forward else "back"


# ---------------------------------------------------------------- declaring a rule, examples, the whole step


def declare_update_rule(directory: Path, lr_k: int = DEFAULT_LR_K, lr_v: int = DEFAULT_LR_V) -> GhostFile:
    """Declare the rule "sgd-v1" with these learning rates on layer 0 of the model directory
    (rewrites ghost.json: the header, hence the ghostRoot, changes — register the result).
    InputError for a model of more than one layer or rates outside 0..2^32-1."""
    from ghostproof.adapters.storage.layout import read_ghost

    ghost = read_ghost(directory)
    if len(ghost.header.layers) != 1:
        raise InputError(f"sgd-v1 trains one-layer models only; this one has {len(ghost.header.layers)}")
    for name, value in (("lrK", lr_k), ("lrV", lr_v)):
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise InputError(f"{name} must be an integer in 0..2^32-1, got {value!r}")
    rule = UpdateRule(UPDATE_RULE_SGD_V1, lr_k, lr_v)
    layers = tuple(replace(spec, update=rule) for spec in ghost.header.layers)
    new = GhostFile(replace(ghost.header, layers=layers), ghost.roots)
    atomic_write(directory / GHOST_FILE, new.to_bytes())
    return new


def _example_target(obj: dict, i: int, d_out: int, s_v: float) -> np.ndarray:
    given = [key for key in ("target", "label", "output") if key in obj]
    if len(given) != 1:
        raise InputError(f"examples[{i}] needs exactly one of target (int8), label (class) "
                         "or output (floats)")
    value = obj[given[0]]
    if given[0] == "label":
        return one_hot_target(value, d_out)
    arr = np.asarray(value)
    if arr.shape != (d_out,) or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_):
        raise InputError(f"examples[{i}].{given[0]} must list {d_out} numbers")
    if given[0] == "output":
        return quantise_target(arr, s_v)
    if not np.issubdtype(arr.dtype, np.integer) or arr.min() < -127 or arr.max() > 127:
        raise InputError(f"examples[{i}].target must be integers in ±127 (units of s_V)")
    return arr.astype(np.int8)


def _token_example(item: dict, i: int, d_out: int, s_v: float, vocab: int | None) -> Example:
    if vocab is None:
        raise InputError(f"examples[{i}] has tokens, but the model has no embedding (model embed)")
    try:
        tokens = check_tokens(item["tokens"], vocab)
    except InputError as exc:
        raise InputError(f"examples[{i}].tokens: {exc}") from exc
    return Example.from_tokens(tokens, _example_target(item, i, d_out, s_v))


def parse_examples(obj: object, spec_d_in: int, spec_d_out: int, s_v: float,
                   samples: np.ndarray | None = None, vocab: int | None = None) -> list[Example]:
    """Examples from the JSON of an examples file: ``{"examples": [{"input": [floats] or
    "sample": i or "tokens": [ids] (with an embedding of ``vocab`` rows), and one of
    "target": [int8], "label": class, "output": [floats]}, …]}``.
    InputError naming the first bad example."""
    items = obj.get("examples") if isinstance(obj, dict) else None
    if not isinstance(items, list) or not items:
        raise InputError('an examples file is {"examples": [ … ]} with at least one example')
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or sum(key in item for key in ("input", "sample", "tokens")) != 1:
            raise InputError(f"examples[{i}] needs exactly one of input (floats), sample (index) "
                             "or tokens (ids)")
        if "tokens" in item:
            out.append(_token_example(item, i, spec_d_out, s_v, vocab))
            continue
        if "sample" in item:
            j = item["sample"]
            if samples is None or not isinstance(j, int) or isinstance(j, bool) or not 0 <= j < len(samples):
                raise InputError(f"examples[{i}].sample {j!r} is not a held-out sample of this model")
            x = np.asarray(samples[j], dtype=np.float32)
        else:
            try:
                x = np.asarray(item["input"], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(f"examples[{i}].input must be numbers") from exc
        out.append(Example(_check_input(x, spec_d_in), _example_target(item, i, spec_d_out, s_v)))
    return out


def read_examples(path: Path, md: ModelDir) -> list[Example]:
    """Read an examples file (:func:`parse_examples`) for the model directory ``md``."""
    spec = md.model.layers[0].spec
    try:
        data = read_capped(path, MAX_EXAMPLES_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read examples file {path}: {exc.strerror}") from exc
    obj = load_json(data, what="examples file", max_bytes=MAX_EXAMPLES_BYTES)
    emb = md.ghost.header.embedding
    vocab = None if emb is None else emb.vocab
    return parse_examples(obj, spec.d_in, spec.d_out, spec.s_v, md.samples, vocab)


def directory_retrievers(md: ModelDir, *, exact: bool = False) -> list[Retriever]:
    """The node's retrievers for a loaded model directory: its HNSW index per layer (search
    breadth from model.json, at least 4k), or exact search without one or with ``exact``."""
    from ghostproof.adapters.storage.layout import index_path as _index_path

    from .index import HnswRetriever

    out: list[Retriever] = []
    index_meta = md.meta.get("index")
    ef = index_meta.get("ef", 128) if isinstance(index_meta, dict) else 128
    for i, layer in enumerate(md.model.layers):
        path = _index_path(md.path, i)
        if exact or not path.exists():
            out.append(ExactRetriever(layer.keys))
        else:
            r = HnswRetriever.load(path, layer.spec.n, layer.spec.d_in)
            r.ef = max(int(ef), 4 * layer.spec.k)
            out.append(r)
    return out


@dataclass(frozen=True, eq=False)
class UpdateOutcome:
    """What :func:`apply_update` did: the computed step (its proof, old and new ghost file)
    and the model directory loaded again at the new version."""

    step: UpdateStep
    model_dir: ModelDir


def apply_update(
    target: ModelDir | str | os.PathLike[str],
    examples: Sequence[Example],
    retrievers: Sequence[Retriever] | None = None,
    *,
    exact: bool = False,
    proof_path: Path | None = None,
) -> UpdateOutcome:
    """Train a model directory in place on ``examples`` and prove it.

    ``target`` is a directory path or a loaded ``ModelDir``; ``retrievers`` default to the
    directory's (:func:`directory_retrievers`) and are refreshed with the new keys. Writes the
    update crash-safely (:func:`write_update`) and, with ``proof_path``, the update proof as
    JSON. Raises InputError when the model is not trainable or an example is unusable."""
    from .modeldir import load_model_dir

    md = load_model_dir(Path(target)) if isinstance(target, str | os.PathLike) else target
    rets = list(retrievers) if retrievers is not None else directory_retrievers(md, exact=exact)
    step = compute_update(md.model, examples, rets, embedding=load_embedding(md.path, md.ghost))
    refresh_retrievers(rets, step)
    archive_version(md.path, step)
    write_update(md.path, step, md.model, rets)
    if proof_path is not None:
        save_update_proof(proof_path, step.proof)
    return UpdateOutcome(step, load_model_dir(md.path))


def archive_version(directory: Path, step: UpdateStep) -> None:
    """Keep the old and the new ghost file and the update proof under ``directory/versions/``
    (named by ghostRoot), before the directory moves to the new version: ``model rotate``
    checks the transition against them and the node serves them to wallets."""
    from ghostproof.adapters.storage.layout import archived_ghost_path, archived_update_path

    for ghost in (step.old_ghost, step.new_ghost):
        path = archived_ghost_path(directory, ghost.ghost_root)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, ghost.to_bytes())
    save_update_proof(archived_update_path(directory, step.new_ghost.ghost_root), step.proof)


def save_update_proof(path: Path, proof: UpdateProof) -> int:
    """Write an update proof as JSON (atomically); returns its size in bytes."""
    data = dumps_update(proof).encode()
    atomic_write(path, data)
    return len(data)
