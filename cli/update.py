"""CLI for sparse updates (DESIGN §10, docs/PROTOCOL.md §14): ``ghostproof model trainable``
declares the rule, ``ghostproof model embed`` adds an embedding input layer (§14.6),
``ghostproof model update`` trains a model directory in place and writes the update proof.
Each parses, calls ghostproof.prover.update / ghostproof.prover.embedding, and renders.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ghostproof.protocol.hashing import to_hex

from .console import out, print_json
from .extras import needs_extra
from .options import JsonOpt


def model_trainable(
    directory: Annotated[Path, typer.Argument(help="A one-layer model directory.")],
    lr_k: Annotated[int, typer.Option("--lr-k", min=0, help="Key learning rate, Q16.")] = 1 << 16,
    lr_v: Annotated[int, typer.Option("--lr-v", min=0, help="Value learning rate, Q16.")] = 4 << 16,
    lr_e: Annotated[int | None, typer.Option("--lr-e", min=0, help=(
        "Embedding learning rate, Q16 (models with an embedding; absent: the embedding is frozen)."))] = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare the update rule sgd-v1 in the ghost header (the ghostRoot changes: register it).

    Weights, trees and indexes are untouched; only ghost.json is rewritten."""
    from ghostproof.prover.embedding import set_embedding_rate
    from ghostproof.prover.update import declare_update_rule

    ghost = declare_update_rule(directory, lr_k, lr_v)
    if lr_e is not None:
        ghost = set_embedding_rate(directory, lr_e)
    info = {"ghostRoot": to_hex(ghost.ghost_root), "rule": ghost.header.layers[0].update.to_json()}
    if lr_e is not None:
        info["lrE"] = lr_e
    if as_json:
        print_json(info)
    else:
        out.print(f"layer 0 trainable (sgd-v1, lrK {lr_k}, lrV {lr_v}); new ghostRoot {info['ghostRoot']}")


def model_embed(
    directory: Annotated[Path, typer.Argument(help="A one-layer model directory (before registration).")],
    vocab: Annotated[int, typer.Option("--vocab", min=1, help="Number of token ids (rows of E).")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random table.")] = 0,
    table: Annotated[Path | None, typer.Option("--table", help=(
        "An int8 .npy (vocab × d_in) to use instead of a random table (needs --scale)."))] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="s_E of --table (float reading).")] = None,
    lr_e: Annotated[int | None, typer.Option("--lr-e", min=0, help=(
        "Embedding learning rate, Q16 (absent: E is frozen; `model trainable --lr-e` sets it)."))] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing embedding.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add an embedding input layer (token id → row of E, vocab × d_in int8) to a model.

    Writes embedding.npy and declares E in ghost.json's header (its row-tree root, its chunk
    CIDs): the ghostRoot changes, so register afterwards. Inputs may then be token ids
    (``{"tokens": [ids], …}`` in ``model update`` examples); x = Σ of their rows."""
    import numpy as np

    from ghostproof.protocol.errors import InputError
    from ghostproof.prover.embedding import add_embedding

    given = None
    if table is not None:
        try:
            given = np.load(table, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read --table {table}: {exc}") from exc
    ghost = add_embedding(directory, vocab, table=given, scale=scale, seed=seed, lr_e=lr_e,
                          overwrite=overwrite)
    emb = ghost.header.embedding
    info = {"ghostRoot": to_hex(ghost.ghost_root), "vocab": emb.vocab, "dim": emb.dim, "scale": emb.scale,
            "embeddingRoot": to_hex(emb.root), "chunks": len(emb.chunks), "lrE": emb.lr_e}
    if as_json:
        print_json(info)
    else:
        out.print(f"embedding {emb.vocab} × {emb.dim} added; root {info['embeddingRoot']}; "
                  f"new ghostRoot {info['ghostRoot']}")


@needs_extra("model update")
def model_update(
    directory: Annotated[Path, typer.Argument(help="The model directory (updated in place).")],
    examples_path: Annotated[Path, typer.Option("--examples", help=(
        'JSON {"examples": [{"input": [floats] | "sample": I | "tokens": [ids], '
        '"target": [int8, units of s_V] | "label": CLASS | "output": [floats]}, …]}, applied in order.'))],
    proof_out: Annotated[Path | None, typer.Option("-o", "--out", help="Where to write the update proof "
                                                    "(default: DIR/update-<new root prefix>.json).")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Exact search instead of HNSW.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train layer 0 on a batch of examples, in place, and write the update proof.

    Only the k selected key columns and value rows of each example change; the Merkle trees
    are re-hashed along the touched paths, the HNSW index updated for the touched keys, and
    only the chunks holding touched columns get new CIDs (``model publish`` then stores just
    those). A crash leaves the old or the new model, never a mix. The proof is checked by
    ghostproof.protocol.update.verify_update against the old and the new ghost file."""
    from ghostproof.prover.modeldir import load_model_dir
    from ghostproof.prover.update import apply_update, read_examples, save_update_proof

    md = load_model_dir(directory)
    examples = read_examples(examples_path, md)
    started = time.perf_counter()
    outcome = apply_update(md, examples, exact=exact)
    seconds = time.perf_counter() - started
    step = outcome.step
    path = proof_out or directory / f"update-{step.new_ghost.ghost_root.hex()[:12]}.json"
    size = save_update_proof(path, step.proof)
    info = {
        "proof": str(path),
        "bytes": size,
        "examples": len(examples),
        "positions": len(step.positions),
        "oldGhostRoot": to_hex(step.old_ghost.ghost_root),
        "newGhostRoot": to_hex(step.new_ghost.ghost_root),
        "chunksChanged": len(step.changed_chunk_refs),
        "embeddingRows": 0 if step.embedding_rows is None else len(step.embedding_rows),
        "seconds": round(seconds, 3),
    }
    if as_json:
        print_json(info)
        return
    out.print(f"updated {directory}: {info['examples']} examples touched {info['positions']} columns "
              f"in {seconds:.2f} s; {info['chunksChanged']} chunks changed")
    out.print(f"ghostRoot {info['oldGhostRoot']} → {info['newGhostRoot']}")
    out.print(f"update proof → {path} ({size} bytes)")


def register(model_app: typer.Typer) -> None:
    """Add ``model trainable``, ``model embed`` and ``model update`` to the ``model`` sub-app."""
    model_app.command("trainable")(model_trainable)
    model_app.command("embed")(model_embed)
    model_app.command("update")(model_update)
