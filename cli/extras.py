"""Which commands need which extra, and the one line a light install prints instead of an ImportError.

The light install (``pip install ghostproof``) is the verifier role: verify, audit, chain
reads, IPFS stores. The prover role's commands (``model build``, ``model index``, ``prove``,
``demo``) need ``pip install 'ghostproof[prover]'``. Used by cli/main.py: :func:`needs_extra`
decorates such a command; it refuses up front with MissingExtraError (exit 2, one line) when a
package of the extra is not installed, and turns a ModuleNotFoundError for a package that only
an extra brings, raised while the command runs, into the same error.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ghostproof.protocol.errors import MissingExtraError

P = ParamSpec("P")
R = TypeVar("R")

#: The import names each extra brings that its commands cannot run without (``eth`` is py-evm).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "prover": ("hnswlib", "sklearn", "eth_tester", "eth"),
    "torch": ("torch",),
}

#: Every import name that only an extra brings, and that extra (the prover extra also brings
#: the node's web server and metrics, and scikit-learn's scipy).
EXTRA_OF: dict[str, str] = {
    "fastapi": "prover",
    "uvicorn": "prover",
    "prometheus_client": "prover",
    "scipy": "prover",
    **{name: extra for extra, names in EXTRA_MODULES.items() for name in names},
}


def missing_extra(command: str, extra: str) -> MissingExtraError:
    """The error for ``ghostproof COMMAND`` run without ``extra``: its message says what to install."""
    return MissingExtraError(
        f"ghostproof {command} needs the {extra} extra: pip install 'ghostproof[{extra}]'"
    )


def require_extra(command: str, extra: str = "prover") -> None:
    """Raise MissingExtraError unless every package of ``extra`` is importable (nothing is imported)."""
    if any(importlib.util.find_spec(name) is None for name in EXTRA_MODULES[extra]):
        raise missing_extra(command, extra)


def extra_for(exc: ModuleNotFoundError) -> str | None:
    """The extra that brings the module ``exc`` failed to find, or None if no extra does."""
    top = (exc.name or "").partition(".")[0]
    return EXTRA_OF.get(top)


def needs_extra(command: str, extra: str = "prover") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate the CLI command ``ghostproof COMMAND`` as needing ``extra``.

    The command raises MissingExtraError before doing anything when ``extra`` is not
    installed, and in place of any ModuleNotFoundError for a package only an extra brings.
    Other import errors pass through unchanged. The signature is kept (typer reads it).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            require_extra(command, extra)
            try:
                return fn(*args, **kwargs)
            except ModuleNotFoundError as exc:
                needed = extra_for(exc)
                if needed is None:
                    raise
                raise missing_extra(command, needed) from exc

        return run

    return decorate
