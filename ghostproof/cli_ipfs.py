"""CLI commands for IPFS: model publish, model fetch, audit (owned by the IPFS adapter work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add the IPFS commands to the top-level ``app`` and the ``model`` sub-app."""
