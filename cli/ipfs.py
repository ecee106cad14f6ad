"""CLI commands for IPFS: ``model publish``, ``model fetch``, ``model export-car``,
``model import-car``, ``audit`` (its ``--watch``: cli/challenge.py) and ``ipfs serve``.
Each parses its options, calls one function
of ghostproof.adapters.storage (transfer, car, store) or ghostproof.verifier.audit, and renders
the report; each failure is one of their errors, printed as one line by the top-level main
(exit 1 audit mismatch, 2 bad input or corrupt bytes, 3 store unreachable or block not found).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ghostproof.protocol.hashing import from_hex

from .chain import DevAccountOpt, KeystoreOpt
from .challenge import ModelDirOpt, watch_answers
from .console import byte_progress, err, out, print_json
from .options import (
    JsonOpt,
    ModelDeploymentOpt,
    ModelRpcOpt,
    PeerOpt,
    StoreChoice,
    StorePathOpt,
    store_options,
)

if TYPE_CHECKING:
    from ghostproof.verifier.audit import AuditReport


@store_options()
def model_publish(
    model_dir: Annotated[Path, typer.Argument(help="Model directory (ghost.json + layer*.npy).")],
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Store every chunk and the ghost file as raw blocks; a re-run stores only what is missing."""
    from ghostproof.adapters.storage.transfer import publish, read_chunked_ghost

    _, ghost = read_chunked_ghost(model_dir)
    with store.open() as blocks, byte_progress("publish", as_json) as bar:
        bar.size_for(ghost)
        report = publish(model_dir, blocks, on_progress=bar.advance)
    if as_json:
        print_json(report.to_json())
        return
    _say(f"ghost CID   {report.ghost_cid}")
    _say(f"store       {report.store}")
    _say(
        f"chunks      {report.chunks} ({report.chunks_stored} stored now, "
        f"{report.chunks - report.chunks_stored} already there)"
    )
    _say(f"bytes       {_throughput(report.bytes_total, report.seconds)}")


@store_options()
def model_fetch(
    target: Annotated[str, typer.Argument(help="Ghost file CID, or an on-chain model id.")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Directory to write the model to.")],
    store: StoreChoice,
    rpc: ModelRpcOpt = None,
    deployment: ModelDeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download the ghost file and every chunk, checking every CID, into a model directory."""
    from ghostproof.adapters.storage.transfer import fetch
    from ghostproof.verifier.audit import resolve_model

    model = resolve_model(target, rpc, deployment)
    with store.open() as blocks, byte_progress("fetch", as_json) as bar:
        report = fetch(
            model.ghost_cid,
            blocks,
            out_dir,
            timeout=store.timeout,
            on_progress=bar.advance,
            on_ghost=bar.size_for,
            expected_ghost_root=model.anchored_root,
        )
    if as_json:
        print_json(report.to_json())
        return
    _say(f"wrote       {report.out_dir}")
    _say(f"ghost CID   {report.ghost_cid}")
    _say(f"ghostRoot   {report.ghost_root}")
    _say(f"chunks      {report.chunks}, every CID checked; {_throughput(report.bytes_total, report.seconds)}")


@store_options()
def audit(
    target: Annotated[
        str | None, typer.Argument(help="A model directory, a ghost file CID, or an on-chain model id.")
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", help="Expected ghostRoot (0x…), when not read from the chain.")
    ] = None,
    rpc: ModelRpcOpt = None,
    deployment: ModelDeploymentOpt = None,
    watch: Annotated[
        Path | None,
        typer.Option("--watch", help="Watch a folder of kept answers (e.g. the wallet's "
                     "~/.ghostproof/answers) and challenge wrong selections.", show_default=False),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="--watch: check what is there, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="--watch: seconds between looks.")
    ] = 10.0,
    model_dirs: ModelDirOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    *,
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild every layer root and the ghostRoot from the chunks, and compare with the chain;
    or, with --watch DIR, re-check every kept answer's selection and challenge wrong ones.

    Prints OK per layer and matrix, or the first chunk that does not match. Exit 1 on any
    mismatch. --watch prints one line per answer and a summary; it challenges from
    --keystore/--dev-account (without one it only reports).
    """
    if watch is not None:
        if target is not None or root is not None:
            raise typer.BadParameter("--watch takes a folder of answers, not a model to audit")
        watch_answers(watch, model_dirs=model_dirs, rpc=rpc, deployment=deployment, keystore=keystore,
                      dev_account=dev_account, once=once, interval=interval, state=None, store=store,
                      as_json=as_json)
        return
    if target is None:
        raise typer.BadParameter("give a model to audit (directory, ghost CID or model id), or --watch DIR")
    from ghostproof.verifier.audit import audit_model

    expected = from_hex(root, "--root", 32) if root is not None else None
    if Path(target).is_dir() and (rpc is not None or deployment is not None):
        raise typer.BadParameter("a directory is audited against --root, or use a MODEL_ID")
    with byte_progress("audit", as_json) as bar:
        report = audit_model(
            target,
            store.open,
            root=expected,
            rpc=rpc,
            deployment=deployment,
            timeout=store.timeout,
            on_progress=bar.advance,
            on_ghost=bar.size_for,
        )
    if as_json:
        print_json(report.to_json())
    else:
        _print_audit(report)
    report.check()


def _print_audit(report: AuditReport) -> None:
    """The human form of an audit: a line per matrix, the three ghostRoots, the time taken."""
    for matrix in report.matrices:
        _say(matrix.line())
    _say(f"ghostRoot (rebuilt)     {report.rebuilt_ghost_root or '-'}")
    _say(f"ghostRoot (ghost file)  {report.file_ghost_root}")
    expected = report.expected_ghost_root or "- (not anchored)"
    _say(f"ghostRoot (expected)    {expected} [{report.expected_source}]")
    _say(f"audit took {report.seconds:.2f} s")
    if report.expected_ghost_root is None:
        err.print("warning: no expected ghostRoot (pass --root, or a MODEL_ID with --rpc)")


def model_export_car(
    model_dir: Annotated[Path, typer.Argument(help="Model directory to export.")],
    car_path: Annotated[Path, typer.Option("-o", "--out", help="CAR file to write.")],
    as_json: JsonOpt = False,
) -> None:
    """Write the ghost file and every chunk as a CAR v1 file (for `ipfs dag import`)."""
    from ghostproof.adapters.storage.car import export_car

    report = export_car(model_dir, car_path)
    if as_json:
        print_json(report.to_json())
    else:
        _say(f"wrote {report.car}: {report.blocks} blocks, root {report.ghost_cid}")


@store_options(network=False)
def model_import_car(
    car_path: Annotated[Path, typer.Argument(help="CAR v1 file to import.")],
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Store every block of a CAR v1 file (each checked against its CID) in a store."""
    from ghostproof.adapters.storage.car import import_car

    report = import_car(car_path, store.open)
    if as_json:
        print_json(report.to_json())
    else:
        _say(f"imported {report.blocks} blocks; ghost CID {report.roots[0] if report.roots else '-'}")


def ipfs_serve(
    store_path: StorePathOpt = None,
    listen: Annotated[
        list[str] | None, typer.Option("--listen", help="Swarm multiaddr (default 127.0.0.1, any port).")
    ] = None,
    peer: PeerOpt = None,
    seconds: Annotated[
        float, typer.Option("--seconds", help="Stop after this long (0: until Ctrl-C).")
    ] = 0,
) -> None:
    """Keep the in-process Kubo node online so peers can fetch what `--store kubo` published."""
    from ghostproof.adapters.storage.store import LOOPBACK_LISTEN, KuboStore, default_store_path

    node = KuboStore(
        store_path or default_store_path("kubo"), listen=listen or LOOPBACK_LISTEN, peers=peer or ()
    )
    try:
        for addr in node.addresses:
            _say(addr)
        node.stay_online(seconds)
    finally:
        node.close()


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add the IPFS commands to the top-level ``app`` (``audit``, and the ``ipfs`` sub-app:
    ``serve``) and the ``model`` sub-app (``publish``, ``fetch``, ``export-car``, ``import-car``)."""
    model_app.command("publish")(model_publish)
    model_app.command("fetch")(model_fetch)
    app.command("audit")(audit)
    model_app.command("export-car")(model_export_car)
    model_app.command("import-car")(model_import_car)
    ipfs_app = typer.Typer(help="Run an IPFS node for ghostproof's blocks.", no_args_is_help=True)
    ipfs_app.command("serve")(ipfs_serve)
    app.add_typer(ipfs_app, name="ipfs")


def _say(text: str) -> None:
    """One line on stdout, never wrapped (CIDs and roots stay copyable)."""
    out.print(text, soft_wrap=True, markup=False)


def _throughput(n_bytes: int, seconds: float) -> str:
    """``X.X MB in S.SS s (R.R MB/s)``, as publish and fetch report what they moved."""
    mb = n_bytes / 1e6
    return f"{mb:.1f} MB in {seconds:.2f} s ({mb / max(seconds, 1e-9):.1f} MB/s)"
