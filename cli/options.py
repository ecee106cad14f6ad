"""The options several CLI commands share, each defined once: ``--json``, the block-store
options (``--store``, ``--store-path``, ``--ipfs-api``, ``--peer``, ``--timeout``) and the
``--rpc`` / ``--deployment`` pair that resolves an on-chain model id for the IPFS commands.

A command takes the store options as one :class:`StoreChoice` parameter and is decorated
with :func:`store_options`, which puts the options in that parameter's place.
Used by cli/main.py, cli/chain.py and cli/ipfs.py.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ghostproof.adapters.storage.store import DEFAULT_IPFS_API, DEFAULT_TIMEOUT_S, IPFS_API_ENV, BlockStore

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

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
ModelRpcOpt = Annotated[
    str | None,
    typer.Option("--rpc", help="Chain JSON-RPC URL, for a MODEL_ID argument.", show_default=False),
]
ModelDeploymentOpt = Annotated[
    Path | None, typer.Option("--deployment", help="Deployment file, for a MODEL_ID argument.")
]


@dataclass(frozen=True)
class StoreChoice:
    """The block store a command was pointed at by the store options."""

    kind: str = "local"
    path: Path | None = None
    ipfs_api: str | None = None
    peers: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_S

    def open(self) -> BlockStore:
        """Open the store (``adapters.storage.store.open_store``); use it with ``with``."""
        from ghostproof.adapters.storage.store import open_store

        return open_store(
            self.kind, path=self.path, rpc_url=self.ipfs_api, peers=self.peers, timeout=self.timeout
        )


#: The store options in the order ``--help`` lists them: (parameter name, annotation, default).
_STORE_PARAMS: tuple[tuple[str, object, object], ...] = (
    ("store", StoreOpt, "local"),
    ("store_path", StorePathOpt, None),
    ("ipfs_api", IpfsApiOpt, None),
    ("peer", PeerOpt, None),
    ("timeout", TimeoutOpt, DEFAULT_TIMEOUT_S),
)
_NETWORK_PARAMS = ("peer", "timeout")

F = TypeVar("F", bound=Callable[..., Any])


def store_options(*, network: bool = True) -> Callable[[F], F]:
    """Decorate a command whose parameter ``store`` is a :class:`StoreChoice`: typer sees
    ``--store``, ``--store-path``, ``--ipfs-api`` and, with ``network``, ``--peer`` and
    ``--timeout`` in that parameter's place, and the command receives them as one StoreChoice
    (without ``network``: no peers and the default time-out)."""
    params = [p for p in _STORE_PARAMS if network or p[0] not in _NETWORK_PARAMS]
    names = [name for name, _, _ in params]

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = list(signature.parameters.values())
        at = [p.name for p in own].index("store")
        options = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=hint)
            for name, hint, default in params
        ]
        merged = [*own[:at], *options, *own[at + 1 :]]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            choice = StoreChoice(
                kind=given["store"],
                path=given["store_path"],
                ipfs_api=given["ipfs_api"],
                peers=tuple(given.get("peer") or ()),
                timeout=given.get("timeout", DEFAULT_TIMEOUT_S),
            )
            return command(**kwargs, store=choice)

        run.__signature__ = signature.replace(parameters=merged)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in merged}
        return run  # type: ignore[return-value]

    return decorate
